//! `Poller`: an epoll-style poller with Python's `select.epoll` semantics on top of the
//! platform backend: timeouts rounded up to the next millisecond, EINTR retried with the time
//! left, events written into a caller-owned `Events` buffer so a poll allocates nothing in the
//! steady state.
//!
//! A `Poller` is a plain handle (`Copy`) over the poller's fd: it does not close it on drop.
//! Its owner does that with `close`, exactly once (in fdpoll the owner is the JavaScript object).

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::sys::{self, Active, Backend};
use crate::timeout::{ceil_ms, retry_interrupted};

pub use crate::sys::{Support, BACKEND};

/// The most events one `poll` returns, whatever `maxevents` asks: the rest stay ready for the
/// next call, so a huge `maxevents` never means a huge allocation.
pub const MAX_EVENTS_PER_POLL: usize = 65_536;

/// A handle to a poller (an epoll fd with the epoll backend).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Poller {
    fd: RawFd,
}

/// The reusable buffer a `poll` fills.
#[derive(Debug, Default)]
pub struct Events {
    ready: Vec<<Active as Backend>::RawEvent>,
}

impl Events {
    /// An empty buffer; it grows to the largest `maxevents` it is polled with.
    pub fn new() -> Events {
        Events::default()
    }

    /// The `(fd, events)` pairs of the last poll.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (RawFd, u32)> + '_ {
        self.ready.iter().map(Active::event)
    }
}

/// How the backend in use honours `mode`: an event bit or mode flag of [`crate::bits`], or 0
/// for level-triggered mode (the default, without EPOLLET).
pub fn support(mode: u32) -> Support {
    Active::support(mode)
}

impl Poller {
    /// Creates a close-on-exec poller.
    pub fn new() -> io::Result<Poller> {
        Ok(Poller { fd: Active::create()? })
    }

    /// A handle to an existing poller's fd (Python's `epoll.fromfd`). With the mio backend only
    /// a poller this process created works; any other fd is EBADF on use.
    pub fn from_fd(fd: RawFd) -> Poller {
        Poller { fd }
    }

    /// The poller's fd.
    pub fn fd(self) -> RawFd {
        self.fd
    }

    /// Adds `fd` to the interest list with the event mask `events`.
    pub fn register(self, fd: RawFd, events: u32) -> io::Result<()> {
        Active::register(self.fd, fd, events)
    }

    /// Replaces the event mask of a registered `fd` (and re-arms an `EPOLLONESHOT` one).
    pub fn modify(self, fd: RawFd, events: u32) -> io::Result<()> {
        Active::modify(self.fd, fd, events)
    }

    /// Removes `fd` from the interest list.
    pub fn unregister(self, fd: RawFd) -> io::Result<()> {
        Active::unregister(self.fd, fd)
    }

    /// Waits for events into `events`: `None` blocks, a duration is rounded up to the next
    /// millisecond (a non-zero wait never collapses to 0), EINTR is retried with the time left.
    /// Returns how many events (at most `maxevents`, at least 1 asked for) arrived.
    pub fn poll(self, events: &mut Events, timeout: Option<Duration>, maxevents: usize) -> io::Result<usize> {
        let max = maxevents.clamp(1, MAX_EVENTS_PER_POLL);
        retry_interrupted(timeout, |left| Active::wait(self.fd, &mut events.ready, max, ceil_ms(left)))
    }

    /// Closes the poller. Call it once: the number may be reused by the next open.
    pub fn close(self) -> io::Result<()> {
        sys::close(self.fd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bits::*;
    use crate::sys::testing::{dup_to, interrupt_me_after, pipe, read, write};
    use std::os::fd::AsRawFd;
    use std::time::Instant;

    fn close(fd: RawFd) {
        sys::close(fd).unwrap();
    }

    const IN: u32 = EPOLLIN;
    const OUT: u32 = EPOLLOUT;
    const ET: u32 = EPOLLET;
    const ONESHOT: u32 = EPOLLONESHOT;
    const EXCLUSIVE: u32 = EPOLLEXCLUSIVE;

    /// Whether the mio backend is in use (the other one is raw epoll).
    const MIO: bool = cfg!(any(feature = "mio", not(target_os = "linux")));

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

    /// Whether the poller's own fd is readable now, as Node's loop sees it when it watches.
    fn poller_fd_readable(p: Poller) -> bool {
        let mut fds = [crate::multiplex::pollfd(p.fd(), libc::POLLIN)];
        crate::multiplex::poll(&mut fds, Some(Duration::ZERO)).unwrap() == 1
    }

    #[test]
    fn the_backend_says_its_name_and_what_it_honours() {
        assert_eq!(BACKEND, if MIO { "mio" } else { "epoll" });
        let expected = if MIO {
            [Support::Emulated, Support::Native, Support::Emulated, Support::Ignored]
        } else {
            [Support::Native; 4]
        };
        assert_eq!([support(0), support(ET), support(ONESHOT), support(EXCLUSIVE)], expected);
        assert_eq!(support(EPOLLRDHUP), Support::Native);
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
        p.close().unwrap();
    }

    #[test]
    fn errors_are_the_kernels() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN).unwrap();
        assert_eq!(errno(p.register(r, IN)), libc::EEXIST);
        assert_eq!(errno(p.modify(w, IN)), libc::ENOENT);
        assert_eq!(errno(p.unregister(w)), libc::ENOENT);
        assert_eq!(errno(p.register(p.fd(), IN)), libc::EINVAL, "a poller cannot watch itself");
        let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        assert_eq!(errno(p.register(file.as_raw_fd(), IN)), libc::EPERM);
        let high = dup_to(r, 9_000);
        p.register(high, IN).unwrap();
        close(high);
        assert_eq!(errno(p.unregister(high)), libc::EBADF, "closed after registering");
        assert_eq!(errno(p.register(high, IN)), libc::EBADF, "never-open fd");
        close(r);
        close(w);
        p.close().unwrap();
    }

    #[test]
    fn a_close_drops_the_registration_and_the_number_can_be_registered_again() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        let (r2, w2) = pipe();
        let reused = dup_to(r, 9_003);
        p.register(reused, IN).unwrap();
        close(reused);
        dup_to(r2, reused); // the number now names another pipe, registered nowhere
        assert_eq!(errno(p.modify(reused, IN)), libc::ENOENT);
        assert_eq!(errno(p.unregister(reused)), libc::ENOENT);
        p.register(reused, IN).unwrap();
        write(w2, b"x");
        assert_eq!(ready(p), vec![(reused, IN)]);
        for fd in [r, w, r2, w2, reused] {
            close(fd);
        }
        p.close().unwrap();
    }

    #[test]
    fn level_triggered_reports_until_drained() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN).unwrap();
        write(w, b"abc");
        assert_eq!(ready(p), vec![(r, IN)]);
        assert!(poller_fd_readable(p), "still ready, so the poller's fd stays readable");
        assert_eq!(ready(p), vec![(r, IN)]);
        read(r, &mut [0; 8]);
        assert!(!poller_fd_readable(p), "drained: nothing to report");
        assert_eq!(ready(p), vec![]);
        write(w, b"d");
        assert_eq!(poll(p, Some(Duration::from_secs(5)), 64), vec![(r, IN)]);
        close(r);
        close(w);
        p.close().unwrap();
    }

    #[test]
    fn edge_triggered_reports_each_change_once() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        p.register(r, IN | ET).unwrap();
        write(w, b"abc");
        assert_eq!(ready(p), vec![(r, IN)]);
        assert_eq!(ready(p), vec![], "ET tells once, even with data left unread");
        assert!(!poller_fd_readable(p));
        write(w, b"more");
        assert_eq!(ready(p), vec![(r, IN)]);
        close(r);
        close(w);
        p.close().unwrap();
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
        assert_eq!(poll(p, Some(Duration::from_millis(20)), 64), vec![], "a wait with time left goes on waiting");
        p.modify(r, IN | ONESHOT).unwrap();
        assert_eq!(ready(p), vec![(r, IN)], "re-armed: the data still there is reported");
        p.modify(r, IN | ONESHOT | ET).unwrap();
        assert_eq!(ready(p), vec![(r, IN)]);
        assert_eq!(ready(p), vec![]);
        close(r);
        close(w);
        p.close().unwrap();
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
        assert_eq!(errno(p.register(w, OUT | EXCLUSIVE | EPOLLRDHUP)), libc::EINVAL);
        let inner = Poller::new().unwrap();
        assert_eq!(errno(p.register(inner.fd(), IN | EXCLUSIVE)), libc::EINVAL, "not on a poller");
        p.register(w, OUT | EXCLUSIVE | ET).unwrap();
        assert_eq!(errno(p.modify(w, OUT | EXCLUSIVE)), libc::EINVAL, "never in modify");
        inner.close().unwrap();
        close(r);
        close(w);
        p.close().unwrap();
    }

    #[test]
    fn errors_and_hangups_are_reported_unasked() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        let (r2, w2) = pipe();
        p.register(r, OUT | EPOLLRDHUP).unwrap(); // never writable; a pipe has no EPOLLRDHUP
        p.register(w2, 0).unwrap();
        assert_eq!(ready(p), vec![]);
        close(w);
        close(r2);
        assert_eq!(ready(p), vec![(r, EPOLLHUP), (w2, EPOLLERR)]);
        close(r);
        close(w2);
        p.close().unwrap();
    }

    #[test]
    fn a_peer_shutdown_is_epollrdhup_and_its_close_epollhup() {
        use std::os::unix::net::UnixStream;
        let p = Poller::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let fd = b.as_raw_fd();
        p.register(fd, IN | EPOLLRDHUP | ET).unwrap();
        a.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(ready(p), vec![(fd, IN | EPOLLRDHUP)]);
        p.modify(fd, IN | OUT | ET).unwrap();
        drop(a);
        assert_eq!(ready(p), vec![(fd, IN | OUT | EPOLLHUP)]);
        p.close().unwrap();
    }

    #[cfg(target_os = "linux")] // kqueue has no urgent-data filter: EPOLLPRI is ignored there
    #[test]
    fn urgent_data_is_epollpri_and_normal_data_epollin() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let p = Poller::new().unwrap();
        p.register(server.as_raw_fd(), IN | EPOLLPRI).unwrap();
        crate::sys::testing::send_urgent(client.as_raw_fd(), b'!');
        let fd = server.as_raw_fd();
        assert_eq!(poll(p, Some(Duration::from_secs(5)), 8), vec![(fd, EPOLLPRI)]);
        std::io::Write::write_all(&mut &client, b"x").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while ready(p) != vec![(fd, IN | EPOLLPRI)] {
            assert!(Instant::now() < deadline, "no EPOLLIN | EPOLLPRI");
        }
        p.close().unwrap();
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
        for &(r, _) in &pipes {
            p.modify(r, IN).unwrap();
        }
        let mut seen: Vec<RawFd> = [poll(p, Some(Duration::ZERO), 2), poll(p, Some(Duration::ZERO), 2)].concat().iter().map(|e| e.0).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 3, "level-triggered fds left out of a batch come in the next");
        for (r, w) in pipes {
            close(r);
            close(w);
        }
        p.close().unwrap();
    }

    #[test]
    fn register_while_another_thread_waits() {
        let p = Poller::new().unwrap();
        let (r, w) = pipe();
        let waiter = std::thread::spawn(move || poll(p, Some(Duration::from_secs(10)), 8));
        p.register(r, IN).unwrap();
        write(w, b"x");
        assert_eq!(waiter.join().unwrap(), vec![(r, IN)]);
        close(r);
        close(w);
        p.close().unwrap();
    }

    #[test]
    fn sub_millisecond_timeouts_round_up() {
        let p = Poller::new().unwrap();
        let start = Instant::now();
        assert_eq!(poll(p, Some(Duration::from_micros(100)), 1).len(), 0);
        assert!(start.elapsed() >= Duration::from_millis(1), "{:?}", start.elapsed());
        p.close().unwrap();
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
        p.close().unwrap();
    }

    #[test]
    #[cfg(not(any(feature = "mio", not(target_os = "linux"))))]
    fn poll_after_close_is_ebadf() {
        let p = Poller::from_fd(dup_to(Poller::new().unwrap().fd(), 9_001));
        p.close().unwrap();
        let err = p.poll(&mut Events::new(), Some(Duration::ZERO), 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF));
    }

    #[test]
    #[cfg(any(feature = "mio", not(target_os = "linux")))]
    fn poll_after_close_is_ebadf() {
        // The mio backend knows pollers by fd number, so this cannot move the poller to a number
        // no other test opens: a parallel test's new poller may take the number between the
        // close and the poll. That happening three times in a row would be a broken close.
        let reused = (0..3).all(|_| {
            let p = Poller::new().unwrap();
            p.close().unwrap();
            p.poll(&mut Events::new(), Some(Duration::ZERO), 1).is_ok()
        });
        assert!(!reused, "polling a closed poller succeeded");
        let (r, w) = pipe();
        let err = Poller::from_fd(r).poll(&mut Events::new(), Some(Duration::ZERO), 1).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EBADF), "an fd that is not an fdpoll poller");
        close(r);
        close(w);
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
