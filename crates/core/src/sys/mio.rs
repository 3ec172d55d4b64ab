//! The mio backend: on every Unix but Linux (kqueue on macOS and the BSDs), and on Linux with the
//! cargo feature `mio` (mio over epoll), so that it is tested here. Raw fds reach mio through
//! `SourceFd`, each registered with its fd number as its token.
//!
//! # A poller is its fd number
//! fdpoll addresses a poller by its fd (JavaScript holds the number; `Poller` is a `Copy`
//! handle) while mio's `Poll` is an object, so a process-wide table maps the fd of each `Poll`
//! (its epoll or kqueue fd) to that poller's state. An fd that fdpoll's `create` did not return
//! is EBADF on every call: `Epoll.fromfd` works only for the fd of an fdpoll `Epoll`. `close`
//! removes the entry and closes the fd; a thread still waiting on the poller at that moment
//! keeps it open until its wait ends. Each poller also holds a clone of mio's `Registry` (one
//! more close-on-exec fd), so that registering never waits for a thread blocked in `wait`; two
//! threads waiting on one poller at once take turns, as mio's `Poll` has one waiter.
//!
//! # The modes mio lacks, emulated here
//! mio is edge-triggered only.
//! - Level-triggered (no EPOLLET): after a wait reports an fd, it re-arms it (`reregister`),
//!   which makes the OS look at the fd again and queue it while it is ready. So the next wait
//!   reports it again, and the poller's own fd stays readable meanwhile, as a level-triggered
//!   epoll's does (Node's loop watches that fd). The OS checks the fd again when the next wait
//!   collects it, as Linux does for a level-triggered fd: one drained in between is not
//!   reported, and an fd closed in between is never confused with a new one of the same number.
//! - EPOLLONESHOT: after one reported event the fd is disarmed, its events dropped, until
//!   `modify` re-arms it by re-registering, which reports its current readiness again.
//! - EPOLLEXCLUSIVE: a documented no-op, validated as Linux validates it (EINVAL with
//!   EPOLLONESHOT, EPOLLRDHUP or EPOLLPRI, on an fdpoll poller, or in `modify`). Linux promises
//!   that *one or more* of the pollers sharing an fd wake, not exactly one, so waking each of them
//!   keeps the meaning; only the saving on a thundering herd is lost.
//! - EPOLLPRI: mio's priority interest on Linux; kqueue has none, so there it is never reported.
//!   EPOLLRDNORM and EPOLLWRNORM are reported with EPOLLIN and EPOLLOUT; EPOLLRDBAND,
//!   EPOLLWRBAND and EPOLLMSG never are.
//! - Over epoll, mio's flags blur EPOLLIN with EPOLLPRI and EPOLLRDHUP with EPOLLHUP, so an
//!   event with either is sharpened with the fd's own poll(2) bits. On kqueue, EPOLLHUP is
//!   reported when both the read and the write filter saw the end; a pipe whose writer closed
//!   shows EPOLLIN and EPOLLRDHUP (a read returns end of stream) rather than EPOLLHUP.
//! - maxevents: mio's event buffer holds exactly `max`, so the OS keeps the rest for the next
//!   wait, edge-triggered events included.
//!
//! # Registrations that go without `unregister`
//! Closing an fd drops its registration in the OS (epoll: once no dup of it is left; kqueue: at
//! once), while the table of masks here still lists it. On epoll the kernel's own answer settles
//! each later call (EEXIST on register, ENOENT on modify and unregister); kqueue accepts a second
//! ADD silently, so there the kernel is asked first whether the fd is still registered.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::{Duration, Instant};

use mio::event::Event;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};

use super::{close_fd, Backend, Support};
use crate::bits::*;

/// Whether mio sits on kqueue here: one kevent per filter, so one fd may come as two events.
const KQUEUE: bool = cfg!(any(
    target_vendor = "apple",
    target_os = "freebsd",
    target_os = "netbsd",
    target_os = "openbsd",
    target_os = "dragonfly"
));

/// `EPOLLWAKEUP`, which Linux allows beside EPOLLEXCLUSIVE (fdpoll never sets it).
const EPOLLWAKEUP: u32 = 1 << 29;

/// The bits Linux accepts with EPOLLEXCLUSIVE.
const EXCLUSIVE_OK: u32 = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;

/// Marks a write-closed event while the events of one fd are merged; never reported.
const WRITE_CLOSED: u32 = 1 << 27;

/// The mio backend.
pub(crate) struct Mio;

/// One poller's state.
struct Selector {
    /// A clone of the `Poll`'s registry, usable while another thread waits.
    registry: Registry,
    /// The mask and arming of every registered fd.
    interests: Mutex<HashMap<RawFd, Registration>>,
    waiting: Mutex<Waiting>,
}

/// What a wait uses, one waiter at a time.
struct Waiting {
    poll: Poll,
    events: Events,
    /// Where each fd's entry of the batch is, while kqueue's events of one fd are merged.
    merged: HashMap<RawFd, usize>,
}

#[derive(Clone, Copy, Debug)]
struct Registration {
    /// The event mask as given to register or modify.
    mask: u32,
    /// False once an EPOLLONESHOT fd has reported, until `modify`.
    armed: bool,
}

/// Every open poller by the number of its fd.
static SELECTORS: RwLock<Vec<Option<Arc<Selector>>>> = RwLock::new(Vec::new());

impl Backend for Mio {
    const NAME: &'static str = "mio";
    type RawEvent = (RawFd, u32);

    fn create() -> io::Result<RawFd> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let fd = poll.as_raw_fd();
        let waiting = Waiting { poll, events: Events::with_capacity(1), merged: HashMap::new() };
        let selector = Arc::new(Selector { registry, interests: Mutex::default(), waiting: Mutex::new(waiting) });
        let mut table = SELECTORS.write().unwrap_or_else(PoisonError::into_inner);
        let slot = fd as usize;
        if table.len() <= slot {
            table.resize(slot + 1, None);
        }
        if let Some(stale) = table[slot].replace(selector) {
            // Its fd was closed behind fdpoll's back and the number is the new poll's now:
            // dropping it would close that. Its state leaks, which only such a close causes.
            std::mem::forget(stale);
        }
        Ok(fd)
    }

    fn register(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        let selector = selector(epfd)?;
        check_target(epfd, fd)?;
        if events & EPOLLEXCLUSIVE != 0 && (events & !EXCLUSIVE_OK != 0 || selector_of(fd).is_some()) {
            return Err(error(libc::EINVAL));
        }
        let mut interests = lock(&selector.interests);
        #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
        if interests.contains_key(&fd) && kqueue::registered(epfd, fd, interests[&fd].mask)? {
            return Err(error(libc::EEXIST));
        }
        selector.registry.register(&mut SourceFd(&fd), token(fd), interest(events))?;
        interests.insert(fd, Registration { mask: events, armed: true });
        Ok(())
    }

    fn modify(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        let selector = selector(epfd)?;
        check_target(epfd, fd)?;
        if events & EPOLLEXCLUSIVE != 0 {
            return Err(error(libc::EINVAL));
        }
        let mut interests = lock(&selector.interests);
        let Some(old) = interests.get(&fd).copied() else {
            return Err(error(libc::ENOENT));
        };
        #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
        if !kqueue::registered(epfd, fd, old.mask)? {
            interests.remove(&fd);
            return Err(error(libc::ENOENT));
        }
        if old.mask & EPOLLEXCLUSIVE != 0 {
            return Err(error(libc::EINVAL));
        }
        let result = selector.registry.reregister(&mut SourceFd(&fd), token(fd), interest(events));
        forget_if_gone(&mut interests, fd, &result);
        result?;
        interests.insert(fd, Registration { mask: events, armed: true });
        Ok(())
    }

    fn unregister(epfd: RawFd, fd: RawFd) -> io::Result<()> {
        let selector = selector(epfd)?;
        let mut interests = lock(&selector.interests);
        let checked = check_target(epfd, fd);
        forget_if_gone(&mut interests, fd, &checked);
        checked?;
        if !interests.contains_key(&fd) {
            return Err(error(libc::ENOENT));
        }
        #[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
        if !kqueue::registered(epfd, fd, interests[&fd].mask)? {
            interests.remove(&fd);
            return Err(error(libc::ENOENT));
        }
        let result = selector.registry.deregister(&mut SourceFd(&fd));
        forget_if_gone(&mut interests, fd, &result);
        result?;
        interests.remove(&fd);
        Ok(())
    }

    fn wait(epfd: RawFd, buf: &mut Vec<(RawFd, u32)>, max: usize, timeout_ms: i32) -> io::Result<usize> {
        buf.clear();
        let selector = selector(epfd)?;
        let mut waiting = lock(&selector.waiting);
        let Waiting { poll, events, merged } = &mut *waiting;
        if events.capacity() != max {
            *events = Events::with_capacity(max);
        }
        let start = Instant::now();
        let limit = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        loop {
            let left = limit.map(|t| t.saturating_sub(start.elapsed()));
            poll.poll(events, left)?;
            if events.is_empty() {
                return Ok(0);
            }
            selector.report(events, buf, merged);
            // Events only for disarmed or forgotten fds: wait on for the time left.
            if !buf.is_empty() || left == Some(Duration::ZERO) {
                return Ok(buf.len());
            }
        }
    }

    fn event(event: &(RawFd, u32)) -> (RawFd, u32) {
        *event
    }

    fn close(fd: RawFd) -> io::Result<()> {
        if selector_of(fd).is_none() {
            return close_fd(fd);
        }
        let mut table = SELECTORS.write().unwrap_or_else(PoisonError::into_inner);
        match table.get_mut(fd as usize).and_then(Option::take) {
            // The last reference to go drops the `Poll`, which closes the fd.
            Some(_selector) => Ok(()),
            None => close_fd(fd),
        }
    }

    fn support(mode: u32) -> Support {
        match mode {
            0 | EPOLLONESHOT => Support::Emulated,
            EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLWRNORM | EPOLLRDHUP | EPOLLET => Support::Native,
            EPOLLPRI if cfg!(any(target_os = "linux", target_os = "android")) => Support::Native,
            _ => Support::Ignored,
        }
    }
}

impl Selector {
    /// Turns one wait's mio events into `buf`'s `(fd, bits)` pairs, one per fd, as epoll
    /// reports them, and applies the emulated modes: disarms a one-shot fd, re-arms a
    /// level-triggered one.
    fn report(&self, events: &Events, buf: &mut Vec<(RawFd, u32)>, merged: &mut HashMap<RawFd, usize>) {
        for event in events {
            let fd = event.token().0 as RawFd;
            let bits = ready(event);
            #[cfg(any(target_os = "linux", target_os = "android"))]
            let bits = sharpen(fd, bits);
            if KQUEUE {
                match merged.get(&fd) {
                    Some(&i) => buf[i].1 |= bits,
                    None => {
                        merged.insert(fd, buf.len());
                        buf.push((fd, bits));
                    }
                }
            } else {
                buf.push((fd, bits));
            }
        }
        merged.clear();
        let mut interests = lock(&self.interests);
        buf.retain_mut(|(fd, bits)| {
            let Some(registration) = interests.get_mut(fd).filter(|r| r.armed) else {
                return false;
            };
            if *bits & WRITE_CLOSED != 0 && *bits & EPOLLRDHUP != 0 {
                *bits |= EPOLLHUP;
            }
            *bits &= registration.mask | EPOLLERR | EPOLLHUP;
            if *bits == 0 {
                return false;
            }
            if registration.mask & EPOLLONESHOT != 0 {
                registration.armed = false;
            } else if registration.mask & EPOLLET == 0 {
                // An error means the fd is gone (closed meanwhile): nothing left to re-arm.
                let _ = self.registry.reregister(&mut SourceFd(fd), token(*fd), interest(registration.mask));
            }
            true
        });
    }
}

/// The poller whose fd is `epfd`, or EBADF.
fn selector(epfd: RawFd) -> io::Result<Arc<Selector>> {
    selector_of(epfd).ok_or_else(|| error(libc::EBADF))
}

fn selector_of(fd: RawFd) -> Option<Arc<Selector>> {
    let table = SELECTORS.read().unwrap_or_else(PoisonError::into_inner);
    usize::try_from(fd).ok().and_then(|slot| table.get(slot)).and_then(Option::clone)
}

/// The kernel's checks on the target of a ctl call, in its order: EBADF for an fd that is not
/// open, EPERM for one that cannot be polled (a regular file or a directory, which kqueue would
/// accept), EINVAL for the poller itself.
fn check_target(epfd: RawFd, fd: RawFd) -> io::Result<()> {
    let mut stat = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `stat` is writable memory for one `struct stat`, which fstat fills on success.
    if unsafe { libc::fstat(fd, stat.as_mut_ptr()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstat succeeded, so it initialised `stat`.
    let kind = unsafe { stat.assume_init() }.st_mode & libc::S_IFMT;
    if kind == libc::S_IFREG || kind == libc::S_IFDIR {
        return Err(error(libc::EPERM));
    }
    if fd == epfd {
        return Err(error(libc::EINVAL));
    }
    Ok(())
}

/// Drops `fd`'s entry when `result` says the OS no longer has it: the fd was closed (EBADF)
/// or its registration went with an earlier close (ENOENT).
fn forget_if_gone(interests: &mut HashMap<RawFd, Registration>, fd: RawFd, result: &io::Result<()>) {
    if let Err(e) = result {
        if matches!(e.raw_os_error(), Some(libc::EBADF | libc::ENOENT)) {
            interests.remove(&fd);
        }
    }
}

/// mio's interest for an event mask: readable for EPOLLIN (and EPOLLRDHUP, which mio reports
/// with it), writable for EPOLLOUT, priority for EPOLLPRI where mio has it; readable for a mask
/// with none of those, which still hears EPOLLERR and EPOLLHUP.
fn interest(mask: u32) -> Interest {
    let mut interest: Option<Interest> = None;
    let mut add = |wanted: bool, more: Interest| {
        if wanted {
            interest = Some(interest.map_or(more, |i| i | more));
        }
    };
    add(mask & (EPOLLIN | EPOLLRDNORM | EPOLLRDHUP) != 0, Interest::READABLE);
    add(mask & (EPOLLOUT | EPOLLWRNORM) != 0, Interest::WRITABLE);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    add(mask & EPOLLPRI != 0, Interest::PRIORITY);
    interest.unwrap_or(Interest::READABLE)
}

fn token(fd: RawFd) -> Token {
    Token(fd as usize)
}

/// The epoll bits of one mio event (with WRITE_CLOSED, which `report` turns into EPOLLHUP once
/// the events of the fd are merged).
fn ready(event: &Event) -> u32 {
    let mut bits = 0;
    if event.is_readable() {
        bits |= EPOLLIN | EPOLLRDNORM;
    }
    if event.is_priority() {
        bits |= EPOLLPRI;
    }
    if event.is_writable() {
        bits |= EPOLLOUT | EPOLLWRNORM;
    }
    if event.is_error() {
        bits |= EPOLLERR;
    }
    if event.is_read_closed() {
        bits |= EPOLLRDHUP;
    }
    if event.is_write_closed() {
        bits |= WRITE_CLOSED;
    }
    bits
}

/// Over epoll, mio says readable for urgent data alone and read-closed for a hangup alone: for
/// such an event, `fd`'s poll(2) bits now (POLLRDHUP included) tell them apart, as epoll itself
/// would. `bits` as they are when the poll fails.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn sharpen(fd: RawFd, bits: u32) -> u32 {
    if bits & (EPOLLPRI | EPOLLRDHUP) == 0 {
        return bits;
    }
    let mut pollfd = [libc::pollfd { fd, events: libc::POLLIN | libc::POLLPRI | libc::POLLRDHUP, revents: 0 }];
    if super::multiplex::poll(&mut pollfd, 0).is_err() {
        return bits;
    }
    let pairs = [
        (libc::POLLIN, EPOLLIN | EPOLLRDNORM),
        (libc::POLLPRI, EPOLLPRI),
        (libc::POLLRDHUP, EPOLLRDHUP),
        (libc::POLLHUP, EPOLLHUP),
    ];
    let now = pairs.iter().filter(|(poll, _)| pollfd[0].revents & poll != 0).fold(0, |now, (_, epoll)| now | epoll);
    bits & !(EPOLLIN | EPOLLRDNORM | EPOLLPRI | EPOLLRDHUP | WRITE_CLOSED) | now
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

/// Asking kqueue about a registration, which mio cannot.
#[cfg(any(target_vendor = "apple", target_os = "freebsd", target_os = "netbsd", target_os = "openbsd", target_os = "dragonfly"))]
mod kqueue {
    use std::io;
    use std::os::fd::RawFd;

    /// Whether kqueue `kq` still has the filter that mask `mask` registered for `fd` (closing
    /// an fd deletes its filters). Enabling an enabled filter changes nothing, and EV_RECEIPT
    /// returns the outcome of that change instead of any pending event.
    pub fn registered(kq: RawFd, fd: RawFd, mask: u32) -> io::Result<bool> {
        let filter = if super::interest(mask).is_readable() { libc::EVFILT_READ } else { libc::EVFILT_WRITE };
        // SAFETY: kevent is a plain C struct, for which all zeroes is a valid value.
        let mut change: libc::kevent = unsafe { std::mem::zeroed() };
        change.ident = fd as _;
        change.filter = filter as _;
        change.flags = (libc::EV_ENABLE | libc::EV_RECEIPT) as _;
        let mut receipt = change;
        // SAFETY: one change and room for one receipt, both valid for the call; a null timeout
        // is allowed (EV_RECEIPT answers at once).
        if unsafe { libc::kevent(kq, &change, 1, &mut receipt, 1, std::ptr::null()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        match receipt.data as i32 {
            0 => Ok(true),
            libc::ENOENT => Ok(false),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}
