//! Python's `select.poll` and `select.select` over `poll(2)` and `select(2)`: the O(n)
//! multiplexers, kept for parity and for measuring what epoll saves.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::sys::multiplex::{self as sys, FdSets};
use crate::timeout::{ceil_ms, ceil_us, retry_interrupted};

pub use sys::{PollFd, FD_SETSIZE};

/// An fd and the events `poll` asks for; `poll` fills in `revents`.
pub fn pollfd(fd: RawFd, events: i16) -> PollFd {
    PollFd { fd, events, revents: 0 }
}

/// `poll(2)`: waits (timeout rounded up to ms, EINTR retried) and fills each `revents`;
/// returns how many fds have events.
pub fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    retry_interrupted(timeout, |left| sys::poll(fds, ceil_ms(left)))
}

/// The fds `select` found ready, in the order they were asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Readable.
    pub read: Vec<RawFd>,
    /// Writable.
    pub write: Vec<RawFd>,
    /// With an exceptional condition (out-of-band data).
    pub except: Vec<RawFd>,
}

/// `select(2)` on three fd lists (every fd below FD_SETSIZE, else EINVAL): waits (timeout
/// rounded up to µs, EINTR retried) and returns the ready ones.
pub fn select(read: &[RawFd], write: &[RawFd], except: &[RawFd], timeout: Option<Duration>) -> io::Result<Ready> {
    let lists = [read, write, except];
    if lists.iter().flat_map(|l| l.iter()).any(|&fd| fd < 0 || fd as usize >= FD_SETSIZE) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut sets = FdSets::new();
    retry_interrupted(timeout, |left| {
        sets = FdSets::new();
        for (which, list) in lists.iter().enumerate() {
            list.iter().for_each(|&fd| sets.insert(which, fd));
        }
        sets.select(ceil_us(left))
    })?;
    let ready = |which: usize| lists[which].iter().copied().filter(|&fd| sets.contains(which, fd)).collect();
    Ok(Ready { read: ready(0), write: ready(1), except: ready(2) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testing::{pipe, write};

    #[test]
    fn poll_and_select_see_a_readable_pipe() {
        let (r, w) = pipe();
        let mut fds = [pollfd(r, libc::POLLIN), pollfd(w, libc::POLLOUT)];
        assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 1);
        assert_eq!((fds[0].revents, fds[1].revents), (0, libc::POLLOUT));
        write(w, b"x");
        assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 2);
        assert_eq!(fds[0].revents, libc::POLLIN);
        let ready = select(&[r, w], &[w], &[r], Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, Ready { read: vec![r], write: vec![w], except: vec![] });
        crate::close(r).unwrap();
        crate::close(w).unwrap();
    }

    #[test]
    fn select_refuses_fds_past_fd_setsize_and_times_out() {
        let err = select(&[FD_SETSIZE as RawFd], &[], &[], Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        let start = std::time::Instant::now();
        assert_eq!(select(&[], &[], &[], Some(Duration::from_millis(20))).unwrap(), Ready::default());
        assert!(start.elapsed() >= Duration::from_millis(20));
    }
}
