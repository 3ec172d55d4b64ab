//! `Waker`: an fd another thread can make readable, to wake whoever polls it.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::multiplex::{self, pollfd};
use crate::sys::eventfd;

/// An owned eventfd. `wake` may be called from any thread.
#[derive(Debug)]
pub struct Waker {
    fd: RawFd,
}

impl Waker {
    /// A new, unsignalled waker.
    pub fn new() -> io::Result<Waker> {
        Ok(Waker { fd: eventfd::eventfd()? })
    }

    /// The fd to poll for readability.
    pub fn fd(&self) -> RawFd {
        self.fd
    }

    /// Makes the fd readable until `reset`.
    pub fn wake(&self) -> io::Result<()> {
        eventfd::signal(self.fd)
    }

    /// Makes the fd unreadable again.
    pub fn reset(&self) -> io::Result<()> {
        eventfd::reset(self.fd)
    }

    /// Gives up ownership: the caller closes the returned fd.
    pub fn into_fd(self) -> RawFd {
        let fd = self.fd;
        std::mem::forget(self);
        fd
    }

    /// A waker for an eventfd owned elsewhere: dropping it does not close `fd`.
    pub fn borrow(fd: RawFd) -> std::mem::ManuallyDrop<Waker> {
        std::mem::ManuallyDrop::new(Waker { fd })
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        let _ = crate::close(self.fd);
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
        ep.register(other.fd(), libc::EPOLLIN as u32).unwrap();
        other.wake().unwrap();
        assert_eq!(wait_readable(ep.fd(), &waker, Some(Duration::ZERO)).unwrap(), Some(Woken::Ready));
        let closed = crate::sys::testing::dup_to(ep.fd(), 9_002);
        crate::close(closed).unwrap();
        let err = wait_readable(closed, &waker, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "a closed fd is an error, not readiness");
        ep.close().unwrap();
    }
}
