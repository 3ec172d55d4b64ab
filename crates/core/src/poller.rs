//! `Poller`: an epoll instance with Python's `select.epoll` semantics on top of a backend
//! `Selector`: timeouts rounded up to the next millisecond, EINTR retried with the time left,
//! and a reusable event buffer so a poll allocates nothing in the steady state.

use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

use crate::sys::{self, CtlOp, RawEvent, Selector};

/// The most events one `poll` returns, whatever `maxevents` asks: the rest stay on the kernel's
/// ready list for the next call, so a huge `maxevents` never means a huge allocation.
pub const MAX_EVENTS_PER_POLL: usize = 65_536;

/// An epoll instance that owns its fd (never the fds registered in it).
#[derive(Debug)]
pub struct Poller {
    selector: Selector,
    events: Vec<RawEvent>,
}

impl Poller {
    /// Creates a new close-on-exec epoll instance.
    pub fn new() -> io::Result<Poller> {
        Ok(Poller::with_selector(Selector::new()?))
    }

    /// Takes ownership of an existing epoll fd (Python's `epoll.fromfd`): closing this
    /// `Poller`, or dropping it, closes `fd`.
    pub fn adopt(fd: RawFd) -> Poller {
        Poller::with_selector(Selector::adopt(fd))
    }

    fn with_selector(selector: Selector) -> Poller {
        Poller { selector, events: Vec::new() }
    }

    /// The epoll fd, or -1 once closed.
    pub fn fd(&self) -> RawFd {
        self.selector.fd()
    }

    /// Adds `fd` to the interest list with the event mask `events`.
    pub fn register(&self, fd: RawFd, events: u32) -> io::Result<()> {
        self.selector.ctl(CtlOp::Add, fd, events)
    }

    /// Replaces the event mask of a registered `fd` (and re-arms an `EPOLLONESHOT` one).
    pub fn modify(&self, fd: RawFd, events: u32) -> io::Result<()> {
        self.selector.ctl(CtlOp::Modify, fd, events)
    }

    /// Removes `fd` from the interest list.
    pub fn unregister(&self, fd: RawFd) -> io::Result<()> {
        self.selector.ctl(CtlOp::Delete, fd, 0)
    }

    /// Waits for events: `None` blocks, a duration is rounded up to the next millisecond (a
    /// non-zero wait never collapses to 0), EINTR is retried with the time left. Returns at most
    /// `maxevents` (at least 1) `(fd, events)` pairs.
    pub fn poll(
        &mut self,
        timeout: Option<Duration>,
        maxevents: usize,
    ) -> io::Result<impl ExactSizeIterator<Item = (RawFd, u32)> + '_> {
        let max = maxevents.clamp(1, MAX_EVENTS_PER_POLL);
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut wait_ms = timeout.map_or(-1, ceil_ms);
        loop {
            match self.selector.wait(&mut self.events, max, wait_ms) {
                Ok(_) => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {
                    if let Some(at) = deadline {
                        wait_ms = ceil_ms(at.saturating_duration_since(Instant::now()));
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(self.events.iter().map(|e| (sys::event_fd(e), sys::event_bits(e))))
    }

    /// Closes the epoll fd; idempotent.
    pub fn close(&mut self) -> io::Result<()> {
        self.selector.close()
    }
}

/// Milliseconds for epoll_wait: rounded up, saturated at `i32::MAX`.
fn ceil_ms(timeout: Duration) -> i32 {
    let ms = timeout.as_nanos().div_ceil(1_000_000);
    ms.min(i32::MAX as u128) as i32
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testing::{close, dup_to, interrupt_me_after, pipe, read, write};
    use std::os::fd::AsRawFd;

    const IN: u32 = libc::EPOLLIN as u32;
    const OUT: u32 = libc::EPOLLOUT as u32;
    const ET: u32 = libc::EPOLLET as u32;
    const ONESHOT: u32 = libc::EPOLLONESHOT as u32;
    const EXCLUSIVE: u32 = libc::EPOLLEXCLUSIVE as u32;

    fn ready(p: &mut Poller) -> Vec<(RawFd, u32)> {
        let mut v: Vec<_> = p.poll(Some(Duration::ZERO), 64).unwrap().collect();
        v.sort();
        v
    }

    fn errno(r: io::Result<()>) -> i32 {
        r.unwrap_err().raw_os_error().unwrap()
    }

    #[test]
    fn register_modify_unregister() {
        let mut p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN).unwrap();
        p.register(w, OUT).unwrap();
        assert_eq!(ready(&mut p), vec![(w, OUT)]);
        write(w, b"x");
        assert_eq!(ready(&mut p), vec![(r, IN), (w, OUT)]);
        p.modify(w, IN).unwrap();
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        p.unregister(r).unwrap();
        assert_eq!(ready(&mut p), vec![]);
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
        let mut p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN).unwrap();
        write(w, b"abc");
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        read(r, &mut [0; 8]);
        assert_eq!(ready(&mut p), vec![]);
        close(r);
        close(w);
    }

    #[test]
    fn edge_triggered_reports_each_change_once() {
        let mut p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN | ET).unwrap();
        write(w, b"abc");
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        assert_eq!(ready(&mut p), vec![], "ET tells once, even with data left unread");
        write(w, b"more");
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        close(r);
        close(w);
    }

    #[test]
    fn oneshot_disarms_until_modify() {
        let mut p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN | ONESHOT).unwrap();
        write(w, b"a");
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        write(w, b"b");
        assert_eq!(ready(&mut p), vec![], "disarmed after one event");
        p.modify(r, IN | ONESHOT).unwrap();
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        close(r);
        close(w);
    }

    #[test]
    fn exclusive_follows_the_kernels_rules() {
        let mut p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN | EXCLUSIVE).unwrap();
        write(w, b"a");
        assert_eq!(ready(&mut p), vec![(r, IN)]);
        assert_eq!(errno(p.modify(r, IN)), libc::EINVAL, "EXCLUSIVE fds cannot be modified");
        assert_eq!(errno(p.register(w, OUT | EXCLUSIVE | ONESHOT)), libc::EINVAL);
        close(r);
        close(w);
    }

    #[test]
    fn maxevents_caps_the_batch_and_the_rest_waits() {
        let mut p = Poller::new().unwrap();
        let pipes: Vec<_> = (0..3).map(|_| pipe()).collect();
        for &(r, w) in &pipes {
            p.register(r, IN | ET).unwrap();
            write(w, b"x");
        }
        assert_eq!(p.poll(Some(Duration::ZERO), 2).unwrap().len(), 2);
        assert_eq!(p.poll(Some(Duration::ZERO), 2).unwrap().len(), 1, "ET events are kept");
        assert_eq!(p.poll(Some(Duration::ZERO), 0).unwrap().len(), 0);
        for (r, w) in pipes {
            close(r);
            close(w);
        }
    }

    #[test]
    fn sub_millisecond_timeouts_round_up() {
        let mut p = Poller::new().unwrap();
        let start = Instant::now();
        assert_eq!(p.poll(Some(Duration::from_micros(100)), 1).unwrap().len(), 0);
        assert!(start.elapsed() >= Duration::from_millis(1), "{:?}", start.elapsed());
        assert_eq!(ceil_ms(Duration::from_nanos(1)), 1);
        assert_eq!(ceil_ms(Duration::from_millis(1500)), 1500);
        assert_eq!(ceil_ms(Duration::from_secs(u64::MAX)), i32::MAX);
    }

    #[test]
    fn eintr_is_retried_with_the_time_left() {
        let mut p = Poller::new().unwrap();
        let kicker = interrupt_me_after(Duration::from_millis(50));
        let start = Instant::now();
        assert_eq!(p.poll(Some(Duration::from_millis(300)), 1).unwrap().len(), 0);
        let took = start.elapsed();
        kicker.join().unwrap();
        assert!(took >= Duration::from_millis(300), "returned early: {took:?}");
        assert!(took < Duration::from_millis(1000), "waited the full time again: {took:?}");
    }

    #[test]
    fn close_is_idempotent_and_poll_after_close_is_ebadf() {
        let mut p = Poller::new().unwrap();
        assert!(p.fd() >= 0);
        p.close().unwrap();
        p.close().unwrap();
        assert_eq!(p.fd(), -1);
        let err = p.poll(Some(Duration::ZERO), 1).err().unwrap();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    fn adopt_shares_the_interest_list() {
        let mut a = Poller::new().unwrap();
        let b = Poller::adopt(a.fd());
        let (r, w) = pipe();
        b.register(r, IN).unwrap();
        write(w, b"x");
        assert_eq!(ready(&mut a), vec![(r, IN)]);
        std::mem::forget(b); // `a` owns the fd in this test
        close(r);
        close(w);
    }
}
