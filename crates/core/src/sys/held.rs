//! `HeldPoller`: a poller's open file, held by a private close-on-exec dup of its fd. A watch
//! waits on the dup, so the number it waits on stays valid and means the same poller whatever
//! the owner's fd undergoes; and it can ask whether the owner's fd number still refers to that
//! poller, or was closed (and perhaps reused by another file) behind its back.
//!
//! The question is answered without a side effect and without a syscall that sandboxes refuse
//! (`kcmp` needs ptrace rights under Docker's default seccomp profile):
//! - Linux (epoll, also under mio): `epoll_ctl(dup, EPOLL_CTL_DEL, fd)` fails with EINVAL
//!   exactly when `fd` is the dup's own file (an epoll instance cannot hold itself, and the
//!   kernel checks that before looking `fd` up). Any other file gives EBADF (closed), EPERM (not
//!   pollable) or ENOENT (not in the interest list: nothing was there to delete, since once the
//!   number stopped naming the poller only this private dup reaches it, and nothing registers
//!   through that).
//! - Elsewhere (kqueue): the number is open and `fstat` gives the device, inode and mode it gave
//!   when the dup was taken; a reuse by another kqueue is not told apart there.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A poller's open file, kept open by a private dup until dropped.
#[derive(Debug)]
pub struct HeldPoller {
    dup: OwnedFd,
    #[cfg(not(target_os = "linux"))]
    identity: (libc::dev_t, libc::ino_t, libc::mode_t),
}

impl HeldPoller {
    /// Holds the poller `fd` refers to (EBADF if `fd` is not open).
    pub fn of(fd: RawFd) -> io::Result<HeldPoller> {
        // SAFETY: fcntl(F_DUPFD_CLOEXEC) takes no pointers; it returns a new fd or -1.
        let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `dup` was just opened and is owned by nothing else.
        let dup = unsafe { OwnedFd::from_raw_fd(dup) };
        #[cfg(not(target_os = "linux"))]
        let identity = identity(dup.as_raw_fd())?;
        Ok(HeldPoller {
            dup,
            #[cfg(not(target_os = "linux"))]
            identity,
        })
    }

    /// The private fd of the held poller: open, and the same poller, as long as `self` lives.
    pub fn fd(&self) -> RawFd {
        self.dup.as_raw_fd()
    }

    /// Whether the number `fd` still refers to the held poller.
    #[cfg(target_os = "linux")]
    pub fn is_behind(&self, fd: RawFd) -> bool {
        // SAFETY: EPOLL_CTL_DEL ignores the event pointer (null is allowed since Linux 2.6.9).
        let ret = unsafe { libc::epoll_ctl(self.dup.as_raw_fd(), libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
        ret < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINVAL)
    }

    /// Whether the number `fd` still refers to the held poller, as far as `fstat` tells.
    #[cfg(not(target_os = "linux"))]
    pub fn is_behind(&self, fd: RawFd) -> bool {
        identity(fd).is_ok_and(|id| id == self.identity)
    }
}

/// The device, inode and mode `fstat` gives for `fd`.
#[cfg(not(target_os = "linux"))]
fn identity(fd: RawFd) -> io::Result<(libc::dev_t, libc::ino_t, libc::mode_t)> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` has room for the struct fstat writes; it is read only after success.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it initialised `stat`.
    let stat = unsafe { stat.assume_init() };
    Ok((stat.st_dev, stat.st_ino, stat.st_mode))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testing::{dup_to, pipe};
    use crate::Poller;

    #[test]
    fn an_fd_is_behind_its_poller_until_closed_or_reused() {
        let ep = Poller::new().unwrap();
        let fd = dup_to(ep.fd(), 9_101);
        ep.close().unwrap();
        let held = HeldPoller::of(fd).unwrap();
        assert_ne!(held.fd(), fd);
        assert!(held.is_behind(fd));
        assert!(held.is_behind(held.fd()));

        crate::close(fd).unwrap();
        assert!(!held.is_behind(fd), "a closed number");

        let other = Poller::new().unwrap();
        dup_to(other.fd(), fd);
        if cfg!(target_os = "linux") {
            assert!(!held.is_behind(fd), "the number reused by another poller");
        }
        crate::close(fd).unwrap();

        let (r, w) = pipe();
        dup_to(r, fd);
        assert!(!held.is_behind(fd), "the number reused by a pipe");
        for f in [fd, r, w] {
            crate::close(f).unwrap();
        }
        other.close().unwrap();
    }

    #[test]
    fn holding_a_closed_fd_is_ebadf() {
        let ep = Poller::new().unwrap();
        let fd = dup_to(ep.fd(), 9_102);
        crate::close(fd).unwrap();
        assert_eq!(HeldPoller::of(fd).unwrap_err().raw_os_error(), Some(libc::EBADF));
        ep.close().unwrap();
    }

    #[test]
    fn the_held_poller_outlives_the_fd_it_was_taken_from() {
        let (r, w) = pipe();
        let ep = Poller::new().unwrap();
        ep.register(r, crate::bits::EPOLLIN).unwrap();
        let held = HeldPoller::of(ep.fd()).unwrap();
        ep.close().unwrap();
        assert_eq!(crate::sys::testing::write(w, b"x"), 1);
        let waker = crate::Waker::new().unwrap();
        let woken = crate::wait_readable(held.fd(), &waker, Some(std::time::Duration::from_secs(5))).unwrap();
        assert_eq!(woken, Some(crate::Woken::Ready), "the dup still waits on the poller");
        crate::close(r).unwrap();
        crate::close(w).unwrap();
    }
}
