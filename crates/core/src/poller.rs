//! `Poller`: an epoll fd with Python's `select.epoll` semantics on top of the backend: timeouts
//! rounded up to the next millisecond, EINTR retried with the time left, events written into a
//! caller-owned `Events` buffer so a poll allocates nothing in the steady state.
//!
//! A `Poller` is a plain handle (`Copy`): it does not close its fd on drop. Its owner does that
//! with `close`, exactly once (in fdpoll the owner is the JavaScript object).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::sys::{self, CtlOp, RawEvent};
use crate::timeout::{ceil_ms, retry_interrupted};

/// The most events one `poll` returns, whatever `maxevents` asks: the rest stay on the kernel's
/// ready list for the next call, so a huge `maxevents` never means a huge allocation.
pub const MAX_EVENTS_PER_POLL: usize = 65_536;

/// A handle to an epoll fd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poller {
    fd: RawFd,
}

/// The reusable buffer a `poll` fills.
#[derive(Debug, Default)]
pub struct Events {
    ready: Vec<RawEvent>,
}

impl Events {
    /// An empty buffer; it grows to the largest `maxevents` it is polled with.
    pub fn new() -> Events {
        Events::default()
    }

    /// The `(fd, events)` pairs of the last poll.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (RawFd, u32)> + '_ {
        self.ready.iter().map(|e| (sys::event_fd(e), sys::event_bits(e)))
    }
}

impl Poller {
    /// Creates a close-on-exec epoll instance.
    pub fn new() -> io::Result<Poller> {
        Ok(Poller { fd: sys::create()? })
    }

    /// A handle to an existing epoll fd (Python's `epoll.fromfd`).
    pub fn from_fd(fd: RawFd) -> Poller {
        Poller { fd }
    }

    /// The epoll fd.
    pub fn fd(self) -> RawFd {
        self.fd
    }

    /// Adds `fd` to the interest list with the event mask `events`.
    pub fn register(self, fd: RawFd, events: u32) -> io::Result<()> {
        sys::ctl(self.fd, CtlOp::Add, fd, events)
    }

    /// Replaces the event mask of a registered `fd` (and re-arms an `EPOLLONESHOT` one).
    pub fn modify(self, fd: RawFd, events: u32) -> io::Result<()> {
        sys::ctl(self.fd, CtlOp::Modify, fd, events)
    }

    /// Removes `fd` from the interest list.
    pub fn unregister(self, fd: RawFd) -> io::Result<()> {
        sys::ctl(self.fd, CtlOp::Delete, fd, 0)
    }

    /// Waits for events into `events`: `None` blocks, a duration is rounded up to the next
    /// millisecond (a non-zero wait never collapses to 0), EINTR is retried with the time left.
    /// Returns how many events (at most `maxevents`, at least 1 asked for) arrived.
    pub fn poll(self, events: &mut Events, timeout: Option<Duration>, maxevents: usize) -> io::Result<usize> {
        let max = maxevents.clamp(1, MAX_EVENTS_PER_POLL);
        retry_interrupted(timeout, |left| sys::wait(self.fd, &mut events.ready, max, ceil_ms(left)))
    }

    /// Closes the epoll fd. Call it once: the number may be reused by the next open.
    pub fn close(self) -> io::Result<()> {
        sys::close(self.fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testing::{dup_to, interrupt_me_after, pipe, read, write};
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    fn close(fd: RawFd) {
        sys::close(fd).unwrap();
    }

    const IN: u32 = libc::EPOLLIN as u32;
    const OUT: u32 = libc::EPOLLOUT as u32;
    const ET: u32 = libc::EPOLLET as u32;
    const ONESHOT: u32 = libc::EPOLLONESHOT as u32;
    const EXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

    fn ready(p: Poller) -> Vec<(RawFd, u32)> {
        poll(p, Some(Duration::ZERO), 64)
    }

    fn poll(p: Poller, timeout: Option<Duration>, max: usize) -> Vec<(RawFd, u32)> {
        let mut events = Events::new();
        let n = p.poll(&mut events, timeout, max).unwrap();
        let mut v: Vec<_> = events.iter().collect();
        assert_eq!(n, v.len());
        v.sort();
        v
    }

    fn errno(r: io::Result<()>) -> i32 {
        r.unwrap_err().raw_os_error().unwrap()
    }

    #[test]
    fn register_modify_unregister() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN).unwrap();
        p.register(w, OUT).unwrap();
        assert_eq!(ready(p), vec![(w, OUT)]);
        write(w, b"x");
        assert_eq!(ready(p), vec![(r, IN), (w, OUT)]);
        p.modify(w, IN).unwrap();
        assert_eq!(ready(p), vec![(r, IN)]);
        p.unregister(r).unwrap();
        assert_eq!(ready(p), vec![]);
        close(r);
        close(w);
    }

    #[test]
    fn errors_are_the_kernels() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN).unwrap();
        assert_eq!(errno(p.register(r, IN)), libc::EEXIST);
        assert_eq!(errno(p.modify(w, IN)), libc::ENOENT);
        assert_eq!(errno(p.unregister(w)), libc::ENOENT);
        let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        assert_eq!(errno(p.register(file.as_raw_fd(), IN)), libc::EPERM);
        let high = dup_to(r, 9_000);
        p.register(high, IN).unwrap();
        close(high);
        assert_eq!(errno(p.unregister(high)), libc::EBADF, "closed after registering");
        assert_eq!(errno(p.register(high, IN)), libc::EBADF, "never-open fd");
        close(r);
        close(w);
    }

    #[test]
    fn level_triggered_reports_until_drained() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN).unwrap();
        write(w, b"abc");
        assert_eq!(ready(p), vec![(r, IN)]);
        assert_eq!(ready(p), vec![(r, IN)]);
        read(r, &mut [0; 8]);
        assert_eq!(ready(p), vec![]);
        close(r);
        close(w);
    }

    #[test]
    fn edge_triggered_reports_each_change_once() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN | ET).unwrap();
        write(w, b"abc");
        assert_eq!(ready(p), vec![(r, IN)]);
        assert_eq!(ready(p), vec![], "ET tells once, even with data left unread");
        write(w, b"more");
        assert_eq!(ready(p), vec![(r, IN)]);
        close(r);
        close(w);
    }

    #[test]
    fn oneshot_disarms_until_modify() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN | ONESHOT).unwrap();
        write(w, b"a");
        assert_eq!(ready(p), vec![(r, IN)]);
        write(w, b"b");
        assert_eq!(ready(p), vec![], "disarmed after one event");
        p.modify(r, IN | ONESHOT).unwrap();
        assert_eq!(ready(p), vec![(r, IN)]);
        close(r);
        close(w);
    }

    #[test]
    fn exclusive_follows_the_kernels_rules() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN | EXCLUSIVE).unwrap();
        write(w, b"a");
        assert_eq!(ready(p), vec![(r, IN)]);
        assert_eq!(errno(p.modify(r, IN)), libc::EINVAL, "EXCLUSIVE fds cannot be modified");
        assert_eq!(errno(p.register(w, OUT | EXCLUSIVE | ONESHOT)), libc::EINVAL);
        close(r);
        close(w);
    }

    #[test]
    fn maxevents_caps_the_batch_and_the_rest_waits() {
        let p = Poller::new().unwrap();
        let pipes: Vec<_> = (0..3).map(|_| pipe()).collect();
        for &(r, w) in &pipes {
            p.register(r, IN | ET).unwrap();
            write(w, b"x");
        }
        assert_eq!(poll(p, Some(Duration::ZERO), 2).len(), 2);
        assert_eq!(poll(p, Some(Duration::ZERO), 2).len(), 1, "ET events are kept");
        assert_eq!(poll(p, Some(Duration::ZERO), 0).len(), 0);
        for (r, w) in pipes {
            close(r);
            close(w);
        }
    }

    #[test]
    fn sub_millisecond_timeouts_round_up() {
        let p = Poller::new().unwrap();
        let start = Instant::now();
        assert_eq!(poll(p, Some(Duration::from_micros(100)), 1).len(), 0);
        assert!(start.elapsed() >= Duration::from_millis(1), "{:?}", start.elapsed());
    }

    #[test]
    fn eintr_is_retried_with_the_time_left() {
        let p = Poller::new().unwrap();
        let kicker = interrupt_me_after(Duration::from_millis(200));
        let start = Instant::now();
        assert_eq!(poll(p, Some(Duration::from_millis(300)), 1).len(), 0);
        let took = start.elapsed();
        kicker.join().unwrap();
        assert!(took >= Duration::from_millis(300), "returned early: {took:?}");
        // Restarting the full 300 ms after the signal at 200 ms would take 500 ms.
        assert!(took < Duration::from_millis(450), "waited the full time again: {took:?}");
    }

    #[test]
    fn poll_after_close_is_ebadf() {
        let p = Poller::from_fd(dup_to(Poller::new().unwrap().fd(), 9_001));
        p.close().unwrap();
        let err = p.poll(&mut Events::new(), Some(Duration::ZERO), 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn from_fd_shares_the_interest_list() {
        let a = Poller::new().unwrap();
        let b = Poller::from_fd(a.fd());
        let (r, w) = pipe();
        b.register(r, IN).unwrap();
        write(w, b"x");
        assert_eq!(ready(a), vec![(r, IN)]);
        a.close().unwrap();
        close(r);
        close(w);
    }
}
