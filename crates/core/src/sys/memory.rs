//! The in-memory backend: Linux epoll with no OS below it, for the WebAssembly build, where the
//! host (JavaScript) owns the real sockets. Plain Rust with no `unsafe` and no system call, so it
//! is compiled into the tests on every platform and tested against the kernel's own epoll
//! (`memory_vs_epoll.rs`).
//!
//! # Virtual fds
//! [`Memory`] numbers its fds itself, lowest free number first as POSIX does, from 3 (0, 1 and 2
//! are the standard streams, not open here): plain fds (what
//! the host's sockets and wakers are here), files (never pollable: EPERM) and epoll instances.
//! A plain fd's readiness is a set of epoll bits that only the host changes:
//! [`Memory::set_readiness`] replaces it (a rising bit is a readiness edge), and
//! [`Memory::notify`] also says that an event happened even if no bit rose, as a socket's wait
//! queue is woken for each segment that arrives while data is already waiting. An
//! epoll instance is readable while it has events to report, and may itself be registered in
//! another epoll instance.
//!
//! # Linux's rules, as `fs/eventpoll.c` has them
//! Each registration (an epoll's *item*) keeps its mask with EPOLLERR and EPOLLHUP added, and
//! sits at most once on its epoll's ready list.
//! - A wakeup of an fd with *key* `k` (the bits that rose, and `notify`'s key) queues each item
//!   of the fd at the end of its ready list if `k` shares a bit with its mask, unless the item is
//!   disarmed; then the item's epoll wakes one parked waiter and, as an fd itself, wakes its own
//!   watchers with EPOLLIN. [`WAKE_ALL`] as the key is the kernel's key-less `wake_up_all`.
//! - `wait` walks the ready list from the front and reports each item's current readiness & mask
//!   (one entry per fd, at most `max`), and drops the items with nothing to report. A reported
//!   level-triggered item goes back to the end of the list, so fds that stay ready take turns
//!   when `max` is short; an edge-triggered one leaves the list until its next wakeup; an
//!   EPOLLONESHOT one is disarmed (mask emptied) until `modify`. Items not reached keep their
//!   place at the front.
//! - `register` and `modify` poll the fd and queue the item if it is ready now (so `modify`
//!   re-arms an edge-triggered fd that is still ready). EPOLLERR and EPOLLHUP are reported
//!   whatever the mask.
//! - An epoll fd is readable when an item on its ready list has something to report; checking
//!   drops the items before it that have nothing to report, as the kernel does.
//! - EPOLLEXCLUSIVE: the watchers of an fd wake in the kernel's wait-queue order, plain items
//!   from newest to oldest and then exclusive ones oldest first, and the exclusive ones stop at
//!   the first whose epoll had a parked waiter to wake (for a key that is exactly EPOLLIN or
//!   EPOLLOUT, one the item asked for). So with no waiter parked every instance gets the event,
//!   as on Linux: *one or more* wake. EINVAL on `modify` of an exclusive item or with
//!   EPOLLEXCLUSIVE in `modify`, with bits other than IN, OUT, ERR, HUP, ET (and WAKEUP), and
//!   for an epoll target.
//! - `epoll_ctl` errors, in the kernel's order: EBADF (either fd not open), EPERM (a file),
//!   EINVAL (`fd` is `epfd`, `epfd` is no epoll, the exclusive rules), ELOOP (adding an epoll
//!   would close a cycle, or make a chain of more than 4 epolls in epolls, counted through
//!   `epfd` up and `fd` down as Linux 6.18 does), EEXIST, ENOENT. `wait`: EINVAL for `max` 0,
//!   then EBADF, EINVAL.
//! - Closing an fd removes it from every interest list; closing an epoll frees its items.
//!
//! # Waiting, which the host does
//! Nothing blocks here: WebAssembly on Node's loop cannot block inside the core. [`Memory::wait`]
//! returns what is ready now. A caller that wants to wait calls [`Memory::park`] (which refuses
//! when events are ready, closing the race), blocks on its own side, and is resumed when
//! [`Memory::take_woken`] names its epoll after the host's next readiness change or ctl call, or
//! at its deadline, when it calls [`Memory::unpark`]. A parked waiter counts as "waiting in
//! epoll_wait" for EPOLLEXCLUSIVE. Through the [`Backend`] contract (the core's `Poller`), a wait
//! with a non-zero timeout and nothing ready fails with EAGAIN: the host must do the waiting.
//!
//! Not modelled: `dup` (a virtual fd has one number), the kernel's limit on wakeup paths per fd
//! (`reverse_path_check`), EPOLLWAKEUP's effect (accepted, ignored).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io;
use std::os::fd::RawFd;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::{Backend, Support};
use crate::bits::*;

/// `EPOLLWAKEUP`, which Linux accepts (and ignores without CAP_BLOCK_SUSPEND).
const EPOLLWAKEUP: u32 = 1 << 29;
/// The mode bits of a mask; a mask with nothing else is disarmed.
const PRIVATE: u32 = EPOLLWAKEUP | EPOLLONESHOT | EPOLLET | EPOLLEXCLUSIVE;
/// The bits Linux accepts with EPOLLEXCLUSIVE.
const EXCLUSIVE_OK: u32 = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// Linux's `EP_MAX_NESTS`: the longest chain of epolls in epolls.
const MAX_NESTS: usize = 4;
/// The key of a wakeup for every watcher whatever its mask, exclusive ones included: the
/// kernel's key-less `wake_up_all`, which a socket's shutdown or its peer's close sends.
pub const WAKE_ALL: u32 = !0;
/// The lowest number given: 0, 1 and 2 stay the host's standard streams, never open here.
const FIRST_FD: usize = 3;
/// What a file always polls as.
const FILE_READINESS: u32 = EPOLLIN | EPOLLOUT | EPOLLRDNORM | EPOLLWRNORM;

/// A table of virtual fds and the epoll instances among them (see the module documentation).
#[derive(Debug, Default)]
pub struct Memory {
    /// Each fd's state by number; `None` is a free number.
    fds: Vec<Option<Entry>>,
    /// The free numbers below `fds.len()`.
    free: BTreeSet<usize>,
    /// The epolls whose parked waiters were woken since `take_woken`, one entry per waiter.
    woken: Vec<RawFd>,
}

#[derive(Debug)]
struct Entry {
    kind: Kind,
    /// The epolls that have this fd in their interest list, oldest registration first.
    watchers: Vec<RawFd>,
}

#[derive(Debug)]
enum Kind {
    /// A socket, waker or file: readiness the host sets.
    Plain { readiness: u32, pollable: bool },
    Epoll(Instance),
}

#[derive(Debug, Default)]
struct Instance {
    interest: BTreeMap<RawFd, Item>,
    /// The fds of the items on the ready list, in order.
    ready: VecDeque<RawFd>,
    /// Parked waiters not yet woken.
    waiters: usize,
}

#[derive(Debug)]
struct Item {
    /// The mask as registered, with EPOLLERR and EPOLLHUP; only the mode bits once disarmed.
    mask: u32,
    /// On the ready list.
    linked: bool,
}

fn error(errno: i32) -> io::Error {
    io::Error::from_raw_os_error(errno)
}

impl Memory {
    /// An empty table.
    pub const fn new() -> Memory {
        Memory { fds: Vec::new(), free: BTreeSet::new(), woken: Vec::new() }
    }

    /// Opens a plain fd (a socket or a waker) with the given readiness.
    pub fn open(&mut self, readiness: u32) -> RawFd {
        self.insert(Kind::Plain { readiness: readiness & !PRIVATE, pollable: true })
    }

    /// Opens a regular file's fd: always ready, and EPERM for every epoll (as files are).
    pub fn open_file(&mut self) -> RawFd {
        self.insert(Kind::Plain { readiness: FILE_READINESS, pollable: false })
    }

    /// Creates an epoll instance.
    pub fn create_epoll(&mut self) -> RawFd {
        self.insert(Kind::Epoll(Instance::default()))
    }

    fn insert(&mut self, kind: Kind) -> RawFd {
        if self.fds.is_empty() {
            self.fds.resize_with(FIRST_FD, || None);
        }
        let entry = Some(Entry { kind, watchers: Vec::new() });
        let slot = match self.free.pop_first() {
            Some(slot) => {
                self.fds[slot] = entry;
                slot
            }
            None => {
                self.fds.push(entry);
                self.fds.len() - 1
            }
        };
        slot as RawFd
    }

    /// Closes `fd` (EBADF if not open): it leaves every interest list, and an epoll's items and
    /// parked waiters go with it (the waiters are woken, to find EBADF).
    pub fn close(&mut self, fd: RawFd) -> io::Result<()> {
        let entry = self.slot(fd)?.take().ok_or_else(|| error(libc::EBADF))?;
        self.free.insert(fd as usize);
        if let Kind::Epoll(instance) = entry.kind {
            for target in instance.interest.keys() {
                if let Some(Some(target)) = self.fds.get_mut(*target as usize) {
                    target.watchers.retain(|&w| w != fd);
                }
            }
            self.woken.extend(std::iter::repeat_n(fd, instance.waiters));
        }
        for epfd in entry.watchers {
            if let Ok(instance) = self.instance(epfd) {
                instance.remove(fd);
            }
        }
        Ok(())
    }

    fn slot(&mut self, fd: RawFd) -> io::Result<&mut Option<Entry>> {
        usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)).ok_or_else(|| error(libc::EBADF))
    }

    fn entry(&mut self, fd: RawFd) -> io::Result<&mut Entry> {
        self.slot(fd)?.as_mut().ok_or_else(|| error(libc::EBADF))
    }

    /// The epoll instance `epfd`: EBADF if not open, EINVAL if not an epoll.
    fn instance(&mut self, epfd: RawFd) -> io::Result<&mut Instance> {
        match &mut self.entry(epfd)?.kind {
            Kind::Epoll(instance) => Ok(instance),
            Kind::Plain { .. } => Err(error(libc::EINVAL)),
        }
    }

    /// Replaces the readiness of the plain fd `fd`; the bits that rise, if any, wake its watchers
    /// (one wakeup, with them as the key). EBADF if not open, EINVAL for an epoll (its readiness
    /// is its own).
    pub fn set_readiness(&mut self, fd: RawFd, readiness: u32) -> io::Result<()> {
        self.notify(fd, readiness, 0)
    }

    /// An event happened on the plain fd `fd`: its readiness becomes `readiness`, and one wakeup
    /// goes to its watchers with `key` and the bits that rose as its key, even if none rose (more
    /// data arrived, room to write came back). A key of 0 with no rising bit wakes no one.
    pub fn notify(&mut self, fd: RawFd, readiness: u32, key: u32) -> io::Result<()> {
        let Kind::Plain { readiness: current, .. } = &mut self.entry(fd)?.kind else {
            return Err(error(libc::EINVAL));
        };
        let key = key | (readiness & !PRIVATE & !*current);
        *current = readiness & !PRIVATE;
        if key != 0 {
            self.wake(fd, key);
        }
        Ok(())
    }

    /// Makes the waker `fd` (a plain fd) readable, as an eventfd write does: EPOLLIN and
    /// EPOLLRDNORM rise, and its watchers wake even if they were set.
    pub fn wake_waker(&mut self, fd: RawFd) -> io::Result<()> {
        let readiness = self.readiness(fd)?;
        self.notify(fd, readiness | EPOLLIN | EPOLLRDNORM, EPOLLIN | EPOLLRDNORM)
    }

    /// Makes the waker `fd` unreadable again.
    pub fn reset_waker(&mut self, fd: RawFd) -> io::Result<()> {
        let readiness = self.readiness(fd)?;
        self.set_readiness(fd, readiness & !(EPOLLIN | EPOLLRDNORM))
    }

    /// The readiness of `fd` now: what the host set, or for an epoll EPOLLIN | EPOLLRDNORM while
    /// it has events to report.
    pub fn readiness(&mut self, fd: RawFd) -> io::Result<u32> {
        match &self.entry(fd)?.kind {
            Kind::Plain { readiness, .. } => Ok(*readiness),
            Kind::Epoll(_) => Ok(self.poll_epoll(fd)),
        }
    }

    /// An epoll's readiness: walks its ready list, dropping the items with nothing to report
    /// until one has something.
    fn poll_epoll(&mut self, epfd: RawFd) -> u32 {
        loop {
            let Ok(instance) = self.instance(epfd) else { return 0 };
            let Some(&fd) = instance.ready.front() else { return 0 };
            if self.item_poll(epfd, fd) != 0 {
                return EPOLLIN | EPOLLRDNORM;
            }
            let instance = self.instance(epfd).expect("checked above");
            instance.ready.pop_front();
            instance.item(fd).linked = false;
        }
    }

    /// What the item of `fd` in `epfd` would report now.
    fn item_poll(&mut self, epfd: RawFd, fd: RawFd) -> u32 {
        let Ok(instance) = self.instance(epfd) else { return 0 };
        let mask = instance.item(fd).mask;
        self.readiness(fd).unwrap_or(0) & mask
    }

    /// Wakes the watchers of `fd` with `key`, in the order of Linux's wait queue; [`WAKE_ALL`]
    /// does not stop at an exclusive one.
    fn wake(&mut self, fd: RawFd, key: u32) {
        // No callback changes an interest list, so the watchers stay as they are meanwhile.
        let count = self.entry(fd).map_or(0, |entry| entry.watchers.len());
        for i in (0..count).rev() {
            let epfd = self.watcher(fd, i);
            if !self.exclusive(epfd, fd) {
                self.callback(epfd, fd, key);
            }
        }
        for i in 0..count {
            let epfd = self.watcher(fd, i);
            if self.exclusive(epfd, fd) && self.callback(epfd, fd, key) && key != WAKE_ALL {
                break;
            }
        }
    }

    /// The `i`th epoll watching `fd`, oldest first.
    fn watcher(&mut self, fd: RawFd, i: usize) -> RawFd {
        self.entry(fd).expect("a watched fd is open").watchers[i]
    }

    /// Whether the item of `fd` in `epfd` is exclusive.
    fn exclusive(&mut self, epfd: RawFd, fd: RawFd) -> bool {
        self.instance(epfd).is_ok_and(|instance| instance.item(fd).mask & EPOLLEXCLUSIVE != 0)
    }

    /// Linux's `ep_poll_callback` for the item of `fd` in `epfd`; true when it woke a waiter of
    /// an exclusive item for a key the item asked for, which ends an exclusive wakeup.
    fn callback(&mut self, epfd: RawFd, fd: RawFd, key: u32) -> bool {
        let Ok(instance) = self.instance(epfd) else { return false };
        let item = instance.item(fd);
        let mask = item.mask;
        if mask & !PRIVATE == 0 || key & mask == 0 {
            return false;
        }
        if !item.linked {
            item.linked = true;
            instance.ready.push_back(fd);
        }
        let woke = self.wake_waiter(epfd);
        self.wake(epfd, EPOLLIN);
        let direction = key & (EPOLLIN | EPOLLOUT);
        woke && mask & EPOLLEXCLUSIVE != 0 && (direction == 0 || (direction != EPOLLIN | EPOLLOUT && mask & direction != 0))
    }

    /// Wakes one parked waiter of `epfd`, if any.
    fn wake_waiter(&mut self, epfd: RawFd) -> bool {
        let Ok(instance) = self.instance(epfd) else { return false };
        if instance.waiters == 0 {
            return false;
        }
        instance.waiters -= 1;
        self.woken.push(epfd);
        true
    }

    /// The checks `epoll_ctl` makes on its two fds before it looks at the interest list.
    fn check_ctl(&mut self, epfd: RawFd, fd: RawFd, events: Option<u32>) -> io::Result<()> {
        self.entry(epfd)?;
        let target_is_epoll = match self.entry(fd)?.kind {
            Kind::Plain { pollable: false, .. } => return Err(error(libc::EPERM)),
            Kind::Plain { .. } => false,
            Kind::Epoll(_) => true,
        };
        if fd == epfd {
            return Err(error(libc::EINVAL));
        }
        self.instance(epfd)?;
        if let Some(events) = events {
            if events & EPOLLEXCLUSIVE != 0 && (target_is_epoll || events & !EXCLUSIVE_OK != 0) {
                return Err(error(libc::EINVAL));
            }
        }
        Ok(())
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)`: adds `fd` to the interest list of `epfd` with mask `events`.
    pub fn register(&mut self, epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        self.check_ctl(epfd, fd, Some(events))?;
        if matches!(self.entry(fd)?.kind, Kind::Epoll(_)) && !self.nesting_allowed(epfd, fd) {
            return Err(error(libc::ELOOP));
        }
        let instance = self.instance(epfd)?;
        if instance.interest.contains_key(&fd) {
            return Err(error(libc::EEXIST));
        }
        instance.interest.insert(fd, Item { mask: events | EPOLLERR | EPOLLHUP, linked: false });
        self.entry(fd)?.watchers.push(epfd);
        self.queue_if_ready(epfd, fd);
        Ok(())
    }

    /// `epoll_ctl(EPOLL_CTL_MOD)`: replaces the mask of a registered `fd`, re-arming it.
    pub fn modify(&mut self, epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        self.check_ctl(epfd, fd, Some(events))?;
        if events & EPOLLEXCLUSIVE != 0 {
            return Err(error(libc::EINVAL));
        }
        let item = self.instance(epfd)?.interest.get_mut(&fd).ok_or_else(|| error(libc::ENOENT))?;
        if item.mask & EPOLLEXCLUSIVE != 0 {
            return Err(error(libc::EINVAL));
        }
        item.mask = events | EPOLLERR | EPOLLHUP;
        self.queue_if_ready(epfd, fd);
        Ok(())
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`: removes `fd` from the interest list of `epfd`.
    pub fn unregister(&mut self, epfd: RawFd, fd: RawFd) -> io::Result<()> {
        self.check_ctl(epfd, fd, None)?;
        if !self.instance(epfd)?.remove(fd) {
            return Err(error(libc::ENOENT));
        }
        self.entry(fd)?.watchers.retain(|&w| w != epfd);
        Ok(())
    }

    /// After `register` or `modify`: queues the item if its fd is ready now and it is not
    /// queued, waking a parked waiter and the epoll's own watchers.
    fn queue_if_ready(&mut self, epfd: RawFd, fd: RawFd) {
        if self.item_poll(epfd, fd) == 0 {
            return;
        }
        let Ok(instance) = self.instance(epfd) else { return };
        let item = instance.item(fd);
        if item.linked {
            return;
        }
        item.linked = true;
        instance.ready.push_back(fd);
        self.wake_waiter(epfd);
        self.wake(epfd, EPOLLIN);
    }

    /// Whether adding the epoll `inner` to `outer` keeps the epolls free of cycles and at most
    /// `MAX_NESTS` deep, as Linux's `ep_loop_check` decides.
    fn nesting_allowed(&mut self, outer: RawFd, inner: RawFd) -> bool {
        match self.depth_below(inner, outer, 0) {
            Some(below) => below + 1 + self.depth_above(outer, 0) <= MAX_NESTS,
            None => false,
        }
    }

    /// The longest chain of epolls inside `epfd`; `None` if one of them is `forbidden` (a
    /// cycle) or the chain runs past the limit.
    fn depth_below(&mut self, epfd: RawFd, forbidden: RawFd, depth: usize) -> Option<usize> {
        let Ok(instance) = self.instance(epfd) else { return Some(0) };
        let targets: Vec<RawFd> = instance.interest.keys().copied().collect();
        let mut below = 0;
        for fd in targets {
            if self.instance(fd).is_err() {
                continue;
            }
            if fd == forbidden || depth > MAX_NESTS {
                return None;
            }
            below = below.max(self.depth_below(fd, forbidden, depth + 1)? + 1);
        }
        Some(below)
    }

    /// The longest chain of epolls that `fd` is inside.
    fn depth_above(&mut self, fd: RawFd, depth: usize) -> usize {
        let Ok(entry) = self.entry(fd) else { return 0 };
        let watchers = entry.watchers.clone();
        if depth > MAX_NESTS {
            return depth;
        }
        watchers.into_iter().map(|epfd| self.depth_above(epfd, depth + 1) + 1).max().unwrap_or(0)
    }

    /// `epoll_wait` without waiting: replaces `buf` with at most `max` ready `(fd, events)`
    /// pairs, in ready-list order, and returns how many.
    pub fn wait(&mut self, epfd: RawFd, buf: &mut Vec<(RawFd, u32)>, max: usize) -> io::Result<usize> {
        if max == 0 {
            return Err(error(libc::EINVAL));
        }
        // The list is scanned out of place; reported level-triggered items go back meanwhile.
        let mut scanning = std::mem::take(&mut self.instance(epfd)?.ready);
        buf.clear();
        while buf.len() < max {
            let Some(fd) = scanning.pop_front() else { break };
            let revents = self.item_poll(epfd, fd);
            let instance = self.instance(epfd).expect("checked above");
            let item = instance.item(fd);
            item.linked = false;
            if revents == 0 {
                continue;
            }
            buf.push((fd, revents));
            if item.mask & EPOLLONESHOT != 0 {
                item.mask &= PRIVATE;
            } else if item.mask & EPOLLET == 0 {
                item.linked = true;
                instance.ready.push_back(fd);
            }
        }
        let instance = self.instance(epfd).expect("checked above");
        scanning.append(&mut instance.ready);
        instance.ready = scanning;
        Ok(buf.len())
    }

    /// Parks a waiter on `epfd`: true if parked, false if events are ready (call `wait`).
    /// A parked waiter is woken once (see [`Memory::take_woken`]) or leaves with `unpark`.
    pub fn park(&mut self, epfd: RawFd) -> io::Result<bool> {
        self.instance(epfd)?;
        if self.poll_epoll(epfd) != 0 {
            return Ok(false);
        }
        self.instance(epfd)?.waiters += 1;
        Ok(true)
    }

    /// A parked waiter of `epfd` gives up (its deadline passed): true if one was still parked,
    /// false if all were woken meanwhile (the wakeup is in `take_woken`).
    pub fn unpark(&mut self, epfd: RawFd) -> io::Result<bool> {
        let instance = self.instance(epfd)?;
        let parked = instance.waiters > 0;
        instance.waiters -= usize::from(parked);
        Ok(parked)
    }

    /// Moves into `into` the epolls whose parked waiters were woken since the last call, one
    /// entry per waiter: each should call `wait` (and may park again if it finds nothing).
    pub fn take_woken(&mut self, into: &mut Vec<RawFd>) {
        into.append(&mut self.woken);
    }
}

impl Instance {
    /// The item of `fd`, which the caller knows is registered.
    fn item(&mut self, fd: RawFd) -> &mut Item {
        self.interest.get_mut(&fd).expect("a watcher's item is in its interest list")
    }

    /// Removes the item of `fd` from the interest and ready lists; false if there was none.
    fn remove(&mut self, fd: RawFd) -> bool {
        let Some(item) = self.interest.remove(&fd) else { return false };
        if item.linked {
            self.ready.retain(|&r| r != fd);
        }
        true
    }
}

/// The in-memory backend over one process-wide table: the WebAssembly build's backend.
pub(crate) struct InMemory;

/// The table behind [`InMemory`], which the host drives too.
static TABLE: Mutex<Memory> = Mutex::new(Memory::new());

/// The process-wide table of virtual fds, locked: the host's handle to create fds, set their
/// readiness, park and resume waiters. Do not hold it across a call into the core's `Poller`.
pub fn table() -> MutexGuard<'static, Memory> {
    TABLE.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Backend for InMemory {
    const NAME: &'static str = "wasm";
    type RawEvent = (RawFd, u32);

    fn create() -> io::Result<RawFd> {
        Ok(table().create_epoll())
    }

    fn register(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        table().register(epfd, fd, events)
    }

    fn modify(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()> {
        table().modify(epfd, fd, events)
    }

    fn unregister(epfd: RawFd, fd: RawFd) -> io::Result<()> {
        table().unregister(epfd, fd)
    }

    /// Returns at once; with nothing ready and a non-zero timeout, EAGAIN: the host waits (see
    /// the module documentation) and calls again.
    fn wait(epfd: RawFd, buf: &mut Vec<(RawFd, u32)>, max: usize, timeout_ms: i32) -> io::Result<usize> {
        let n = table().wait(epfd, buf, max)?;
        if n == 0 && timeout_ms != 0 {
            return Err(error(libc::EAGAIN));
        }
        Ok(n)
    }

    fn event(event: &(RawFd, u32)) -> (RawFd, u32) {
        *event
    }

    fn close(fd: RawFd) -> io::Result<()> {
        table().close(fd)
    }

    /// Every mode and bit with Linux's meaning; a bit is reported when the host sets it.
    fn support(_mode: u32) -> Support {
        Support::Emulated
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IN: u32 = EPOLLIN;
    const OUT: u32 = EPOLLOUT;
    const ET: u32 = EPOLLET;
    const ONESHOT: u32 = EPOLLONESHOT;
    const EXCLUSIVE: u32 = EPOLLEXCLUSIVE;

    fn wait(m: &mut Memory, epfd: RawFd, max: usize) -> Vec<(RawFd, u32)> {
        let mut buf = vec![(-1, 0)];
        let n = m.wait(epfd, &mut buf, max).unwrap();
        assert_eq!(n, buf.len());
        buf
    }

    fn errno<T: Debug>(r: io::Result<T>) -> i32 {
        r.unwrap_err().raw_os_error().unwrap()
    }

    use std::fmt::Debug;

    /// An event of `key` on `fd` with no change of readiness.
    fn again(m: &mut Memory, fd: RawFd, key: u32) {
        let readiness = m.readiness(fd).unwrap();
        m.notify(fd, readiness, key).unwrap();
    }

    #[test]
    fn fds_take_the_lowest_free_number() {
        let mut m = Memory::new();
        let (a, b, c) = (m.open(0), m.create_epoll(), m.open_file());
        assert_eq!((a, b, c), (3, 4, 5), "0, 1 and 2 are the standard streams");
        m.close(b).unwrap();
        m.close(a).unwrap();
        assert_eq!(m.open(0), 3);
        assert_eq!(m.open(0), 4);
        assert_eq!(m.open(0), 6);
        assert_eq!(errno(m.close(0)), libc::EBADF);
        assert_eq!(errno(m.close(a + 10)), libc::EBADF);
        assert_eq!(errno(m.close(-1)), libc::EBADF);
        m.close(c).unwrap();
        assert_eq!(errno(m.close(c)), libc::EBADF, "closed twice");
    }

    #[test]
    fn level_triggered_reports_while_the_condition_holds() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let fd = m.open(0);
        m.register(ep, fd, IN).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![]);
        m.set_readiness(fd, IN | OUT).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)], "only what the mask asks");
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)], "again while it holds");
        m.set_readiness(fd, OUT).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![]);
        m.set_readiness(fd, IN).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)]);
    }

    #[test]
    fn edge_triggered_reports_once_per_wakeup() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let fd = m.open(OUT);
        m.register(ep, fd, IN | OUT | ET).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, OUT)], "ready when registered");
        assert_eq!(wait(&mut m, ep, 8), vec![]);
        m.set_readiness(fd, IN | OUT).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN | OUT)], "the current state, not only the edge");
        assert_eq!(wait(&mut m, ep, 8), vec![], "ready still, but told once");
        m.set_readiness(fd, IN | OUT).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![], "no bit rose: no edge");
        again(&mut m, fd, IN);
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN | OUT)], "more data: a new edge");
        again(&mut m, fd, EPOLLPRI);
        assert_eq!(wait(&mut m, ep, 8), vec![], "a key the mask does not share wakes nothing");
        again(&mut m, fd, WAKE_ALL);
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN | OUT)], "a key-less wakeup wakes every item");
        again(&mut m, fd, IN);
        m.set_readiness(fd, 0).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![], "an edge gone before the wait is not reported");
        m.set_readiness(fd, IN).unwrap();
        m.modify(ep, fd, IN | ET).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)]);
        m.modify(ep, fd, IN | ET).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)], "modify re-arms an fd that is still ready");
    }

    #[test]
    fn oneshot_disarms_after_one_report_until_modify() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let fd = m.open(0);
        m.register(ep, fd, IN | ONESHOT).unwrap();
        m.set_readiness(fd, IN).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)]);
        assert_eq!(wait(&mut m, ep, 8), vec![]);
        again(&mut m, fd, IN);
        m.set_readiness(fd, IN | EPOLLHUP).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![], "disarmed: not even EPOLLHUP");
        m.modify(ep, fd, IN | ONESHOT).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN | EPOLLHUP)], "re-armed: the current state");
        assert_eq!(wait(&mut m, ep, 8), vec![]);
        m.modify(ep, fd, IN).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN | EPOLLHUP)]);
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN | EPOLLHUP)], "level-triggered again");
    }

    #[test]
    fn errors_and_hangups_are_reported_unasked() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let (a, b) = (m.open(0), m.open(0));
        m.register(ep, a, 0).unwrap();
        m.register(ep, b, OUT | EPOLLRDHUP).unwrap();
        m.set_readiness(a, IN | EPOLLERR).unwrap();
        m.set_readiness(b, IN | EPOLLHUP | EPOLLRDHUP).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(a, EPOLLERR), (b, EPOLLHUP | EPOLLRDHUP)]);
    }

    #[test]
    fn maxevents_takes_turns_among_level_triggered_fds() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let fds: Vec<RawFd> = (0..3).map(|_| m.open(IN)).collect();
        for &fd in &fds {
            m.register(ep, fd, IN).unwrap();
        }
        let (a, b, c) = (fds[0], fds[1], fds[2]);
        assert_eq!(wait(&mut m, ep, 2), vec![(a, IN), (b, IN)]);
        assert_eq!(wait(&mut m, ep, 2), vec![(c, IN), (a, IN)], "the reported ones went to the end");
        assert_eq!(wait(&mut m, ep, 2), vec![(b, IN), (c, IN)]);
        m.set_readiness(a, 0).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(b, IN), (c, IN)], "a drained fd leaves the list");
        for &fd in &fds {
            m.modify(ep, fd, IN | ET).unwrap();
        }
        assert_eq!(wait(&mut m, ep, 8), vec![(b, IN), (c, IN)], "still on the list when they turned edge-triggered");
        assert_eq!(wait(&mut m, ep, 8), vec![]);
        m.set_readiness(a, IN).unwrap();
        assert_eq!(wait(&mut m, ep, 1), vec![(a, IN)]);
        assert_eq!(wait(&mut m, ep, 1), vec![]);
        again(&mut m, b, IN);
        again(&mut m, c, IN);
        assert_eq!(wait(&mut m, ep, 1), vec![(b, IN)]);
        assert_eq!(wait(&mut m, ep, 1), vec![(c, IN)], "an edge that did not fit is kept");
        assert_eq!(errno(m.wait(ep, &mut Vec::new(), 0)), libc::EINVAL);
    }

    #[test]
    fn an_epoll_in_an_epoll_is_readable_while_it_has_events() {
        let mut m = Memory::new();
        let (outer, inner) = (m.create_epoll(), m.create_epoll());
        let fd = m.open(0);
        m.register(inner, fd, IN).unwrap();
        m.register(outer, inner, IN | ET).unwrap();
        assert_eq!(m.readiness(inner).unwrap(), 0);
        assert_eq!(wait(&mut m, outer, 8), vec![]);
        m.set_readiness(fd, IN).unwrap();
        assert_eq!(m.readiness(inner).unwrap(), IN | EPOLLRDNORM);
        assert_eq!(wait(&mut m, outer, 8), vec![(inner, IN)]);
        assert_eq!(wait(&mut m, outer, 8), vec![], "edge-triggered outer: once");
        again(&mut m, fd, IN);
        assert_eq!(wait(&mut m, outer, 8), vec![(inner, IN)], "each wakeup inside is an edge outside");
        m.set_readiness(fd, 0).unwrap();
        again(&mut m, fd, IN);
        assert_eq!(wait(&mut m, outer, 8), vec![], "woken, but nothing to report inside");
        m.set_readiness(fd, IN).unwrap();
        m.modify(outer, inner, IN).unwrap();
        assert_eq!(wait(&mut m, outer, 8), vec![(inner, IN)]);
        assert_eq!(wait(&mut m, inner, 8), vec![(fd, IN)]);
        assert_eq!(wait(&mut m, outer, 8), vec![(inner, IN)], "level-triggered outer: while inner has events");
        m.set_readiness(fd, 0).unwrap();
        assert_eq!(wait(&mut m, outer, 8), vec![]);
    }

    #[test]
    fn epoll_ctl_errors_are_the_kernels() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let (fd, file, other) = (m.open(0), m.open_file(), m.open(0));
        m.register(ep, fd, IN).unwrap();
        assert_eq!(errno(m.register(ep, fd, IN)), libc::EEXIST);
        assert_eq!(errno(m.modify(ep, other, IN)), libc::ENOENT);
        assert_eq!(errno(m.unregister(ep, other)), libc::ENOENT);
        assert_eq!(errno(m.register(ep, file, IN)), libc::EPERM);
        assert_eq!(errno(m.unregister(ep, file)), libc::EPERM);
        assert_eq!(errno(m.register(ep, ep, IN)), libc::EINVAL, "an epoll in itself");
        assert_eq!(errno(m.register(other, fd, IN)), libc::EINVAL, "epfd is no epoll");
        assert_eq!(errno(m.register(file, file, IN)), libc::EPERM, "EPERM comes before EINVAL");
        assert_eq!(errno(m.register(ep, 99, IN)), libc::EBADF);
        assert_eq!(errno(m.register(99, fd, IN)), libc::EBADF);
        assert_eq!(errno(m.wait(other, &mut Vec::new(), 1)), libc::EINVAL);
        assert_eq!(errno(m.wait(99, &mut Vec::new(), 1)), libc::EBADF);
        assert_eq!(errno(m.set_readiness(ep, IN)), libc::EINVAL, "an epoll's readiness is its own");
        assert_eq!(errno(m.notify(99, IN, IN)), libc::EBADF);
        m.unregister(ep, fd).unwrap();
        assert_eq!(errno(m.unregister(ep, fd)), libc::ENOENT);
    }

    #[test]
    fn epolls_nest_without_cycles_and_at_most_four_deep() {
        let mut m = Memory::new();
        let (a, b) = (m.create_epoll(), m.create_epoll());
        m.register(a, b, IN).unwrap();
        assert_eq!(errno(m.register(b, a, IN)), libc::ELOOP, "a cycle");
        assert_eq!(errno(m.register(a, b, IN)), libc::EEXIST);
        let chain: Vec<RawFd> = (0..6).map(|_| m.create_epoll()).collect();
        for pair in chain[..5].windows(2) {
            m.register(pair[0], pair[1], IN).unwrap();
        }
        assert_eq!(errno(m.register(chain[4], chain[5], IN)), libc::ELOOP, "a fifth level");
        let top = m.create_epoll();
        assert_eq!(errno(m.register(top, chain[0], IN)), libc::ELOOP, "a fifth level above");
    }

    #[test]
    fn exclusive_follows_the_kernels_rules() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let inner = m.create_epoll();
        let (fd, other) = (m.open(IN), m.open(0));
        m.register(ep, fd, IN | EXCLUSIVE).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)]);
        assert_eq!(errno(m.modify(ep, fd, IN)), libc::EINVAL, "an exclusive item cannot be modified");
        assert_eq!(errno(m.modify(ep, other, IN | EXCLUSIVE)), libc::EINVAL, "never in modify, before ENOENT");
        for bit in [ONESHOT, EPOLLRDHUP, EPOLLPRI] {
            assert_eq!(errno(m.register(ep, other, IN | EXCLUSIVE | bit)), libc::EINVAL);
        }
        assert_eq!(errno(m.register(ep, inner, IN | EXCLUSIVE)), libc::EINVAL, "not on an epoll");
        m.register(ep, other, OUT | EXCLUSIVE | ET | EPOLLWAKEUP).unwrap();
        m.unregister(ep, fd).unwrap();
    }

    #[test]
    fn exclusive_wakes_one_parked_waiter_plain_items_every_one() {
        let mut m = Memory::new();
        let eps: Vec<RawFd> = (0..3).map(|_| m.create_epoll()).collect();
        let plain = m.create_epoll();
        let fd = m.open(0);
        for &ep in &eps {
            m.register(ep, fd, IN | EXCLUSIVE).unwrap();
        }
        m.register(plain, fd, IN).unwrap();
        m.set_readiness(fd, IN).unwrap();
        for &ep in &eps {
            assert_eq!(wait(&mut m, ep, 8), vec![(fd, IN)], "no waiter parked: every instance has it");
        }
        m.set_readiness(fd, 0).unwrap();
        for &ep in &eps[1..] {
            assert!(m.park(ep).unwrap());
        }
        assert!(m.park(plain).unwrap());
        m.set_readiness(fd, IN).unwrap();
        let mut woken = Vec::new();
        m.take_woken(&mut woken);
        assert_eq!(woken, vec![plain, eps[1]], "the plain waiter and the first parked exclusive one");
        assert_eq!(wait(&mut m, eps[0], 8), vec![(fd, IN)], "queued on the way, as Linux does");
        assert_eq!(wait(&mut m, eps[1], 8), vec![(fd, IN)]);
        assert_eq!(wait(&mut m, eps[2], 8), vec![], "not woken, not queued");
        assert!(m.unpark(eps[2]).unwrap());
        assert!(m.park(eps[2]).unwrap());
        again(&mut m, fd, IN | OUT);
        m.take_woken(&mut woken);
        assert_eq!(woken[2..], [eps[2]], "a key with IN and OUT does not end the exclusive wakeup");
        m.set_readiness(fd, 0).unwrap();
        for &ep in &eps {
            assert_eq!(wait(&mut m, ep, 8), vec![]);
            assert!(m.park(ep).unwrap());
        }
        again(&mut m, fd, WAKE_ALL);
        m.take_woken(&mut woken);
        assert_eq!(woken[3..], eps, "a key-less wakeup wakes every exclusive waiter");
    }

    #[test]
    fn a_parked_waiter_is_woken_once_and_refused_when_events_are_ready() {
        let mut m = Memory::new();
        let (ep, outer) = (m.create_epoll(), m.create_epoll());
        let fd = m.open(0);
        m.register(ep, fd, IN).unwrap();
        m.register(outer, ep, IN).unwrap();
        assert!(m.park(ep).unwrap());
        assert!(m.park(outer).unwrap());
        assert!(m.park(ep).unwrap());
        m.set_readiness(fd, IN).unwrap();
        let mut woken = Vec::new();
        m.take_woken(&mut woken);
        assert_eq!(woken, vec![ep, outer], "one waiter of each: a nested epoll wakes its watchers");
        assert!(!m.park(ep).unwrap(), "events are ready: wait, do not park");
        assert!(m.unpark(ep).unwrap(), "the second waiter was still parked");
        assert!(!m.unpark(ep).unwrap());
        m.set_readiness(fd, 0).unwrap();
        assert!(m.park(ep).unwrap());
        let ready = m.open(IN);
        m.register(ep, ready, IN).unwrap();
        m.take_woken(&mut woken);
        assert_eq!(woken[2..], [ep], "registering a ready fd wakes a waiter");
        m.set_readiness(ready, 0).unwrap();
        assert!(m.park(ep).unwrap());
        assert!(m.park(ep).unwrap());
        m.close(ep).unwrap();
        m.take_woken(&mut woken);
        assert_eq!(woken[3..], [ep, ep], "closing an epoll releases its waiters");
        assert_eq!(errno(m.park(ep)), libc::EBADF);
    }

    #[test]
    fn closing_an_fd_removes_it_from_every_interest_list() {
        let mut m = Memory::new();
        let (a, b, outer) = (m.create_epoll(), m.create_epoll(), m.create_epoll());
        let fd = m.open(IN);
        m.register(a, fd, IN).unwrap();
        m.register(b, fd, IN | ET).unwrap();
        m.register(outer, a, IN).unwrap();
        m.close(fd).unwrap();
        assert_eq!(wait(&mut m, a, 8), vec![]);
        assert_eq!(wait(&mut m, b, 8), vec![]);
        assert_eq!(wait(&mut m, outer, 8), vec![]);
        let again = m.open(IN);
        assert_eq!(again, fd, "the number is reused");
        assert_eq!(errno(m.unregister(a, again)), libc::ENOENT, "a new fd is registered nowhere");
        m.register(a, again, IN).unwrap();
        assert_eq!(wait(&mut m, outer, 8), vec![(a, IN)]);
        m.close(a).unwrap();
        assert_eq!(wait(&mut m, outer, 8), vec![], "a closed epoll leaves its watchers");
        assert_eq!(errno(m.unregister(outer, a)), libc::EBADF);
        m.register(b, again, IN).unwrap();
        assert_eq!(wait(&mut m, b, 8), vec![(again, IN)], "a closed epoll's items are gone from its targets");
    }

    #[test]
    fn a_waker_wakes_each_time() {
        let mut m = Memory::new();
        let ep = m.create_epoll();
        let waker = m.open(OUT | EPOLLWRNORM);
        m.register(ep, waker, IN | ET).unwrap();
        m.wake_waker(waker).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(waker, IN)]);
        m.wake_waker(waker).unwrap();
        assert_eq!(wait(&mut m, ep, 8), vec![(waker, IN)], "woken again while readable: a new edge");
        m.reset_waker(waker).unwrap();
        assert_eq!(m.readiness(waker).unwrap(), OUT | EPOLLWRNORM);
        again(&mut m, waker, IN);
        assert_eq!(wait(&mut m, ep, 8), vec![]);
    }

    #[test]
    fn the_backend_waits_through_the_host() {
        let ep = InMemory::create().unwrap();
        let fd = table().open(0);
        InMemory::register(ep, fd, IN).unwrap();
        let mut buf = Vec::new();
        assert_eq!(InMemory::wait(ep, &mut buf, 4, 0).unwrap(), 0);
        assert_eq!(errno(InMemory::wait(ep, &mut buf, 4, 100)), libc::EAGAIN, "the host waits, not the core");
        table().set_readiness(fd, IN).unwrap();
        assert_eq!(InMemory::wait(ep, &mut buf, 4, -1).unwrap(), 1);
        assert_eq!(InMemory::event(&buf[0]), (fd, IN));
        InMemory::modify(ep, fd, OUT).unwrap();
        InMemory::unregister(ep, fd).unwrap();
        assert_eq!((InMemory::NAME, InMemory::support(ET)), ("wasm", Support::Emulated));
        InMemory::close(fd).unwrap();
        InMemory::close(ep).unwrap();
        assert_eq!(errno(InMemory::close(ep)), libc::EBADF);
    }
}
