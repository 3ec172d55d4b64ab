//! Linux backend: raw `epoll_create1` / `epoll_ctl` / `epoll_wait` through libc.
//! Every mode (level, `EPOLLET`, `EPOLLONESHOT`, `EPOLLEXCLUSIVE`) is the kernel's own, and a
//! poller is the kernel's epoll fd: no state of our own, no lookup on any call.

use std::io;
use std::os::fd::RawFd;

use super::{close_fd, Backend, Support};

/// The raw epoll backend.
pub(crate) struct Epoll;

impl Backend for Epoll {
    const NAME: &'static str = "epoll";
    type RawEvent = libc::epoll_event;

    fn create() -> io::Result<RawFd> {
        // SAFETY: epoll_create1 takes no pointers; a negative result is turned into an error.
        check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
    }

    fn register(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        ctl(epfd, libc::EPOLL_CTL_ADD, fd, events)
    }

    fn modify(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        ctl(epfd, libc::EPOLL_CTL_MOD, fd, events)
    }

    fn unregister(epfd: RawFd, fd: RawFd) -> io::Result<()> {
        ctl(epfd, libc::EPOLL_CTL_DEL, fd, 0)
    }

    fn wait(epfd: RawFd, buf: &mut Vec<libc::epoll_event>, max: usize, timeout_ms: i32) -> io::Result<usize> {
        buf.clear();
        buf.reserve(max);
        let max = max.min(i32::MAX as usize) as i32;
        // SAFETY: `buf` has room for at least `max` events, the most the kernel writes;
        // nothing reads them before set_len below.
        let n = check(unsafe { libc::epoll_wait(epfd, buf.as_mut_ptr(), max, timeout_ms) })?;
        // SAFETY: epoll_wait initialised exactly the first `n` (<= max <= capacity) entries.
        unsafe { buf.set_len(n as usize) };
        Ok(n as usize)
    }

    fn event(event: &libc::epoll_event) -> (RawFd, u32) {
        (event.u64 as u32 as RawFd, event.events)
    }

    fn close(fd: RawFd) -> io::Result<()> {
        close_fd(fd)
    }

    fn support(_mode: u32) -> Support {
        Support::Native
    }
}

/// `epoll_ctl`; the event data is the fd.
fn ctl(epfd: RawFd, op: libc::c_int, fd: RawFd, events: u32) -> io::Result<()> {
    // Kernels before 2.6.9 want a non-null event even for DEL, so one is always passed.
    let mut event = libc::epoll_event { events, u64: fd as u32 as u64 };
    // SAFETY: `event` is a valid epoll_event that outlives the call; the kernel only reads it.
    check(unsafe { libc::epoll_ctl(epfd, op, fd, &mut event) }).map(drop)
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}
