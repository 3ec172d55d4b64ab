//! `Waker`: an fd another thread can make readable, to wake whoever polls it. One fd names a
//! waker on every platform: an eventfd on Linux, elsewhere a pipe's read end (`sys::pipe` keeps
//! the write end).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::multiplex::{self, pollfd};
#[cfg(target_os = "linux")]
use crate::sys::eventfd as imp;
#[cfg(not(target_os = "linux"))]
use crate::sys::pipe as imp;

/// An owned waker. `wake` may be called from any thread.
#[derive(Debug)]
pub struct Waker {
    fd: RawFd,
}

impl Waker {
    /// A new, unsignalled waker (non-blocking, close-on-exec).
    pub fn new() -> io::Result<Waker> {
        Ok(Waker { fd: imp::create()? })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Makes the fd readable until `reset`.
    pub fn wake(&self) -> io::Result<()> {
        imp::wake(self.fd)
    }

    /// Makes the fd unreadable again.
    pub fn reset(&self) -> io::Result<()> {
        imp::reset(self.fd)
    }

    /// Gives up ownership: the waker lives on under its fd until `Waker::from_fd(fd)` takes it
    /// back (closing the fd alone would leave a pipe waker's write end open).
    pub fn into_fd(self) -> RawFd {
        let fd = self.fd;
        std::mem::forget(self);
        fd
    }

    /// Owns again the waker that `into_fd` returned `fd` for.
    pub fn from_fd(fd: RawFd) -> Waker {
        Waker { fd }
    }

    /// A waker whose fd `into_fd` returned and that is owned elsewhere: dropping it closes nothing.
    pub fn borrow(fd: RawFd) -> std::mem::ManuallyDrop<Waker> {
        std::mem::ManuallyDrop::new(Waker { fd })
    }

    /// Closes the waker, reporting a failure that dropping it would ignore.
    pub fn close(self) -> io::Result<()> {
        imp::close(self.into_fd())
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        let _ = imp::close(self.fd);
    }
}

/// What `wait_readable` saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Woken {
    /// The watched fd is readable (for an epoll fd: it has events to poll).
    Ready,
    /// The waker was woken.
    Waker,
}

/// Blocks until `fd` is readable or `waker` is woken (the waker wins a tie); `None` on
/// timeout. An `fd` that was closed meanwhile is EBADF, not readiness.
pub fn wait_readable(fd: RawFd, waker: &Waker, timeout: Option<Duration>) -> io::Result<Option<Woken>> {
    let mut fds = [pollfd(fd, libc::POLLIN), pollfd(waker.fd(), libc::POLLIN)];
    if multiplex::poll(&mut fds, timeout)? == 0 {
        return Ok(None);
    }
    if fds[1].revents != 0 {
        return Ok(Some(Woken::Waker));
    }
    if fds[0].revents & libc::POLLNVAL != 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    Ok(Some(Woken::Ready))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Poller;

    #[test]
    fn a_waker_wakes_a_waiting_thread_and_an_epoll_fd_reports_ready() {
        let waker = std::sync::Arc::new(Waker::new().unwrap());
        let ep = Poller::new().unwrap();
        assert_eq!(wait_readable(ep.fd(), &waker, Some(Duration::ZERO)).unwrap(), None);
        let remote = waker.clone();
        let t = std::thread::spawn(move || remote.wake().unwrap());
        assert_eq!(wait_readable(ep.fd(), &waker, Some(Duration::from_secs(5))).unwrap(), Some(Woken::Waker));
        t.join().unwrap();
        waker.reset().unwrap();
        waker.reset().unwrap();
        let other = Waker::new().unwrap();
        ep.register(other.fd(), crate::bits::EPOLLIN).unwrap();
        other.wake().unwrap();
        assert_eq!(wait_readable(ep.fd(), &waker, Some(Duration::ZERO)).unwrap(), Some(Woken::Ready));
        let closed = crate::sys::testing::dup_to(ep.fd(), 9_002);
        crate::close(closed).unwrap();
        let err = wait_readable(closed, &waker, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "a closed fd is an error, not readiness");
        ep.close().unwrap();
    }

    #[test]
    fn a_waker_lives_on_under_its_fd_until_taken_back() {
        let fd = Waker::new().unwrap().into_fd();
        Waker::borrow(fd).wake().unwrap();
        let other = Waker::new().unwrap();
        assert_eq!(wait_readable(fd, &other, Some(Duration::ZERO)).unwrap(), Some(Woken::Ready), "dropping the borrow closed nothing");
        Waker::borrow(fd).reset().unwrap();
        assert_eq!(wait_readable(fd, &other, Some(Duration::ZERO)).unwrap(), None);
        Waker::from_fd(fd).close().unwrap();
    }
}
