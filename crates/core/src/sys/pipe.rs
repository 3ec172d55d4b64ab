//! The waker where there is no eventfd (macOS, the BSDs): a non-blocking, close-on-exec pipe.
//! Its read end is the fd to poll and names the waker, as an eventfd does; the write end is kept
//! in a process-wide table under the read end, so `wake`, `reset` and `close` take that one fd.
//! Closing the read end any other way than `close` leaves its write end in the table until
//! the fd number comes back from `create`. Built on Linux too, for its tests.

use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};

/// The write end of each waker, under its read end.
static WRITE_ENDS: Mutex<BTreeMap<RawFd, RawFd>> = Mutex::new(BTreeMap::new());

fn write_ends() -> MutexGuard<'static, BTreeMap<RawFd, RawFd>> {
    WRITE_ENDS.lock().unwrap_or_else(PoisonError::into_inner) // the map stays consistent
}

/// A new, unsignalled waker: the pipe's read end.
pub fn create() -> io::Result<RawFd> {
    let [read, write] = pipe()?;
    if let Some(stale) = write_ends().insert(read, write) {
        // `read` was closed without `close` and its number reused: its old write end goes now.
        let _ = super::close(stale);
    }
    Ok(read)
}

/// Makes the waker readable until `reset`: one byte into the pipe (a full pipe is readable
/// already). EBADF if `fd` is not a waker.
pub fn wake(fd: RawFd) -> io::Result<()> {
    let write_ends = write_ends(); // held, so `close` cannot close the write end meanwhile
    let write = *write_ends.get(&fd).ok_or_else(|| io::Error::from_raw_os_error(libc::EBADF))?;
    loop {
        // SAFETY: one readable byte for the whole call.
        if unsafe { libc::write(write, [1u8].as_ptr().cast(), 1) } >= 0 {
            return Ok(());
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(()),
            _ => return Err(err),
        }
    }
}

/// Makes the waker unreadable again: drains the pipe. EBADF if `fd` is not a waker.
pub fn reset(fd: RawFd) -> io::Result<()> {
    if !write_ends().contains_key(&fd) {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    let mut bytes = [0u8; 64];
    loop {
        // SAFETY: `bytes` is writable for its length for the whole call.
        if unsafe { libc::read(fd, bytes.as_mut_ptr().cast(), bytes.len()) } > 0 {
            continue;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            Some(libc::EAGAIN) => return Ok(()),
            _ => return Err(err),
        }
    }
}

/// Closes both ends of the waker `fd`.
pub fn close(fd: RawFd) -> io::Result<()> {
    let write = write_ends().remove(&fd);
    if let Some(write) = write {
        let _ = super::close(write);
    }
    super::close(fd)
}

/// `pipe2(2)` with O_NONBLOCK | O_CLOEXEC: `[read, write]`.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
fn pipe() -> io::Result<[RawFd; 2]> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds the kernel writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fds)
}

/// `pipe(2)`, then FD_CLOEXEC and O_NONBLOCK on both ends (no pipe2 here): `[read, write]`.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn pipe() -> io::Result<[RawFd; 2]> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds the kernel writes.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    for fd in fds {
        // SAFETY: F_SETFD and F_SETFL take an int, no pointer; FD_CLOEXEC is the only fd flag
        // and a new pipe end has no status flag but its access mode, which F_SETFL ignores.
        let set = unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) >= 0 && libc::fcntl(fd, libc::F_SETFL, libc::O_NONBLOCK) >= 0 };
        if !set {
            let err = io::Error::last_os_error();
            let _ = super::close(fds[0]);
            let _ = super::close(fds[1]);
            return Err(err);
        }
    }
    Ok(fds)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiplex::{self, pollfd};
    use std::time::Duration;

    fn readable(fd: RawFd) -> bool {
        let mut fds = [pollfd(fd, libc::POLLIN)];
        multiplex::poll(&mut fds, Some(Duration::ZERO)).unwrap() == 1
    }

    #[test]
    fn a_pipe_waker_wakes_resets_and_closes_by_its_read_end() {
        let fd = create().unwrap();
        // SAFETY: F_GETFD and F_GETFL take no pointer.
        let (fd_flags, status) = unsafe { (libc::fcntl(fd, libc::F_GETFD), libc::fcntl(fd, libc::F_GETFL)) };
        assert_ne!(fd_flags & libc::FD_CLOEXEC, 0, "close-on-exec");
        assert_ne!(status & libc::O_NONBLOCK, 0, "non-blocking");
        assert!(!readable(fd));
        wake(fd).unwrap();
        wake(fd).unwrap();
        assert!(readable(fd));
        reset(fd).unwrap();
        assert!(!readable(fd), "reset drains every wake");
        reset(fd).unwrap();
        std::thread::spawn(move || wake(fd)).join().unwrap().unwrap();
        assert!(readable(fd), "woken from another thread");
        for _ in 0..100_000 {
            wake(fd).unwrap(); // past a pipe's capacity (64 KiB on Linux, less elsewhere)
        }
        reset(fd).unwrap();
        assert!(!readable(fd));
        assert_eq!(wake(-1).unwrap_err().raw_os_error(), Some(libc::EBADF), "not a waker");
        assert_eq!(reset(0).unwrap_err().raw_os_error(), Some(libc::EBADF), "stdin is no waker: not drained");
        close(fd).unwrap();
        // (Only this test makes pipe wakers on Linux, so `fd` cannot be a waker again meanwhile.)
        assert_eq!(wake(fd).unwrap_err().raw_os_error(), Some(libc::EBADF), "a closed waker");
    }
}
