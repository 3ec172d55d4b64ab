//! The in-memory epoll against the kernel's: random sequences of `epoll_ctl`, socket operations
//! and waits run on real epolls over real Unix stream socketpairs and, step by step, on the
//! in-memory engine, and every result (each errno, each event list in order) must be the same.
//!
//! The harness plays the host: after each socket operation it sets the engine's readiness to
//! what poll(2) says of the real sockets and wakes their watchers with the keys the kernel's
//! `af_unix` wakes them with:
//! - a write wakes the peer with EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND
//!   (`sock_def_readable`), even when it already had data;
//! - a read that frees a buffer the peer wrote wakes the peer with EPOLLOUT | EPOLLWRNORM |
//!   EPOLLWRBAND if the peer is writable (`unix_write_space`);
//! - shutdown wakes both ends, and close the peer, with no key (`sock_def_wakeup`).
//!
//! After each step the readiness of every open object is compared too (of the epolls, every
//! other step: polling one drops stale entries from its ready list), so a change the harness
//! missed fails loudly instead of hiding as a wrong event. Two more tests compare the nesting
//! limits (ELOOP) and, with threads blocked in `epoll_wait`, EPOLLEXCLUSIVE's wakeups.

use std::collections::VecDeque;
use std::io;
use std::os::fd::RawFd;

use super::memory::{Memory, WAKE_ALL};
use crate::bits::*;

/// Socketpairs, then epolls, then a regular file: object `i` is real fd `REAL_BASE + i` and
/// whatever number the engine gave it (a closed object reopens under a new one).
const PAIRS: usize = 3;
const EPOLLS: usize = 3;
const FILE: usize = 2 * PAIRS + EPOLLS;
const OBJECTS: usize = FILE + 1;
/// A number the engine never gives: a closed object's fd in the engine.
const CLOSED: RawFd = 1_000;
/// Real fds are moved here, above what parallel tests open, so a closed one stays closed.
const REAL_BASE: RawFd = 9_100;
/// The bytes of one write when a socket is filled.
const CHUNK: usize = 512;

const ALL_POLL: i16 = libc::POLLIN | libc::POLLPRI | libc::POLLOUT | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLRDHUP;
const WRITE_KEY: u32 = EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND;
const SPACE_KEY: u32 = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;

/// xorshift64*: a seeded sequence, so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// The same world twice: real fds and the engine's.
struct World {
    memory: Memory,
    open: [bool; OBJECTS],
    /// Each object's fd in the engine.
    virt: [RawFd; OBJECTS],
    /// The sizes of the buffers in flight towards each socket, oldest first.
    inbound: [VecDeque<usize>; 2 * PAIRS],
    log: Vec<String>,
}

fn real(object: usize) -> RawFd {
    REAL_BASE + object as RawFd
}

fn peer(socket: usize) -> usize {
    socket ^ 1
}

fn is_epoll(object: usize) -> bool {
    (2 * PAIRS..FILE).contains(&object)
}

fn errno_of<T>(result: io::Result<T>) -> Result<T, i32> {
    result.map_err(|e| e.raw_os_error().expect("an errno"))
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Moves `fd` to the number `target`.
fn move_to(fd: RawFd, target: RawFd) {
    // SAFETY: dup2 and close take no pointers; this test owns both numbers.
    unsafe {
        assert_eq!(libc::dup2(fd, target), target, "dup2: {}", io::Error::last_os_error());
        libc::close(fd);
    }
}

/// The readiness poll(2) reports for `fd`: the kernel's epoll bits.
fn real_readiness(fd: RawFd) -> u32 {
    let mut pollfd = libc::pollfd { fd, events: ALL_POLL, revents: 0 };
    // SAFETY: one valid pollfd for the whole call; timeout 0.
    let n = unsafe { libc::poll(&mut pollfd, 1, 0) };
    assert!(n >= 0, "poll: {}", io::Error::last_os_error());
    pollfd.revents as u16 as u32
}

impl World {
    fn new() -> World {
        let mut world = World { memory: Memory::new(), open: [false; OBJECTS], virt: [CLOSED; OBJECTS], inbound: Default::default(), log: Vec::new() };
        for pair in 0..PAIRS {
            world.open_pair(pair);
        }
        for object in 2 * PAIRS..FILE {
            world.open_epoll(object);
        }
        let file = std::fs::File::open(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
        move_to(std::os::fd::IntoRawFd::into_raw_fd(file), real(FILE));
        world.virt[FILE] = world.memory.open_file();
        world.open[FILE] = true;
        world
    }

    /// Opens (or reopens) the socketpair `pair` as objects `2 * pair` and `2 * pair + 1`.
    fn open_pair(&mut self, pair: usize) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two fds socketpair writes.
        let ret = unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) };
        assert_eq!(ret, 0, "socketpair: {}", io::Error::last_os_error());
        for (end, fd) in fds.into_iter().enumerate() {
            let small: libc::c_int = 4096;
            // SAFETY: `small` is a readable c_int for the whole call.
            unsafe { libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_SNDBUF, (&small as *const libc::c_int).cast(), 4) };
            let object = 2 * pair + end;
            move_to(fd, real(object));
            self.virt[object] = self.memory.open(real_readiness(real(object)));
            self.open[object] = true;
            self.inbound[object].clear();
        }
    }

    fn open_epoll(&mut self, object: usize) {
        // SAFETY: epoll_create1 takes no pointers.
        let fd = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).unwrap();
        move_to(fd, real(object));
        self.virt[object] = self.memory.create_epoll();
        self.open[object] = true;
    }

    /// Reopens a closed epoll, or a socketpair whose two ends are closed.
    fn reopen(&mut self, object: usize) {
        if is_epoll(object) && !self.open[object] {
            self.open_epoll(object);
            self.log.push(format!("reopen({object}) as {}", self.virt[object]));
        } else if object < 2 * PAIRS && !self.open[object] && !self.open[peer(object)] {
            self.open_pair(object / 2);
            self.log.push(format!("reopen({object}, {}) as {}, {}", peer(object), self.virt[object], self.virt[peer(object)]));
        }
    }

    /// The object the engine's `fd` is.
    fn object(&self, fd: RawFd) -> usize {
        (0..OBJECTS).find(|&o| self.open[o] && self.virt[o] == fd).expect("an open object")
    }

    /// Sets the engine's readiness of `socket` to the real one, waking its watchers with the
    /// bits that rose and `key`.
    fn sync(&mut self, socket: usize, key: u32) {
        if !self.open[socket] {
            return;
        }
        self.memory.notify(self.virt[socket], real_readiness(real(socket)), key).unwrap();
    }

    fn step(&mut self, rng: &mut Rng) {
        match rng.below(10) {
            0..=3 => self.ctl(rng),
            4 | 5 => self.wait(rng),
            6 => self.write(rng.below(2 * PAIRS), if rng.one_in(3) { usize::MAX } else { 1 }),
            7 => self.read(rng.below(2 * PAIRS), rng.one_in(2)),
            8 => self.shutdown(rng.below(2 * PAIRS), rng.below(3) as libc::c_int),
            _ if rng.one_in(6) => self.close(rng.below(FILE)),
            _ if rng.one_in(2) => self.reopen(rng.below(FILE)),
            _ => self.wait(rng),
        }
        // Polling an epoll fd drops stale items from its ready list, so only now and then.
        let epolls_too = rng.one_in(2);
        for object in (0..OBJECTS).filter(|&o| self.open[o] && (epolls_too || !is_epoll(o))) {
            let (ours, kernel) = (self.memory.readiness(self.virt[object]).unwrap(), real_readiness(real(object)));
            assert_eq!(ours, kernel, "readiness of object {object} after {:?}", self.log.last());
        }
    }

    fn mask(rng: &mut Rng) -> u32 {
        let bits = [EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDHUP, EPOLLRDNORM, EPOLLWRNORM];
        let mut mask = bits.iter().filter(|_| rng.one_in(3)).fold(0, |m, b| m | b);
        for (mode, odds) in [(EPOLLET, 3), (EPOLLONESHOT, 5), (EPOLLEXCLUSIVE, 8)] {
            if rng.one_in(odds) {
                mask |= mode;
            }
        }
        mask
    }

    fn ctl(&mut self, rng: &mut Rng) {
        let epoll = if rng.one_in(10) { rng.below(OBJECTS) } else { 2 * PAIRS + rng.below(EPOLLS) };
        let target = rng.below(OBJECTS);
        let op = [libc::EPOLL_CTL_ADD, libc::EPOLL_CTL_MOD, libc::EPOLL_CTL_DEL][rng.below(3)];
        let events = World::mask(rng);
        let mut event = libc::epoll_event { events, u64: target as u64 };
        // SAFETY: `event` is a valid epoll_event that outlives the call; the kernel only reads it.
        let kernel = errno_of(check(unsafe { libc::epoll_ctl(real(epoll), op, real(target), &mut event) }).map(drop));
        let (ep, fd) = (self.virt[epoll], self.virt[target]);
        let ours = errno_of(match op {
            libc::EPOLL_CTL_ADD => self.memory.register(ep, fd, events),
            libc::EPOLL_CTL_MOD => self.memory.modify(ep, fd, events),
            _ => self.memory.unregister(ep, fd),
        });
        self.log.push(format!("ctl(op {op}, ep {epoll}, fd {target}, {events:#x}) = {kernel:?}"));
        assert_eq!(ours, kernel, "{}", self.log.last().unwrap());
    }

    fn wait(&mut self, rng: &mut Rng) {
        let epoll = if rng.one_in(10) { rng.below(OBJECTS) } else { 2 * PAIRS + rng.below(EPOLLS) };
        let max = [1, 2, 3, 16][rng.below(4)];
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 16];
        // SAFETY: `events` has room for `max` (<= 16) entries; timeout 0.
        let kernel = errno_of(check(unsafe { libc::epoll_wait(real(epoll), events.as_mut_ptr(), max as libc::c_int, 0) }))
            .map(|n| events[..n as usize].iter().map(|e| (e.u64 as usize, e.events)).collect::<Vec<_>>());
        let mut buf = Vec::new();
        let ours = errno_of(self.memory.wait(self.virt[epoll], &mut buf, max)).map(|_| buf.iter().map(|&(fd, bits)| (self.object(fd), bits)).collect());
        self.log.push(format!("wait(ep {epoll}, max {max}) = {kernel:x?}"));
        assert_eq!(ours, kernel, "{}", self.log.last().unwrap());
    }

    /// Writes one byte, or fills the socket (`usize::MAX`) in chunks.
    fn write(&mut self, socket: usize, amount: usize) {
        if !self.open[socket] {
            return;
        }
        let mut sent_any = false;
        let mut left = amount;
        while left > 0 {
            let chunk = [b'x'; CHUNK];
            let len = left.min(CHUNK);
            // SAFETY: `chunk` is readable for `len` <= CHUNK bytes for the whole call.
            let n = unsafe { libc::send(real(socket), chunk.as_ptr().cast(), len, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
            if n <= 0 {
                break;
            }
            sent_any = true;
            left = left.saturating_sub(n as usize);
            self.inbound[peer(socket)].push_back(n as usize);
        }
        self.log.push(format!("write({socket}, {amount}) sent: {sent_any}"));
        self.sync(socket, 0);
        if sent_any {
            self.sync(peer(socket), WRITE_KEY);
        }
    }

    /// Reads everything, or the oldest buffer alone.
    fn read(&mut self, socket: usize, all: bool) {
        if !self.open[socket] {
            return;
        }
        let want = if all { usize::MAX } else { self.inbound[socket].front().copied().unwrap_or(1) };
        let mut got = 0;
        let mut buf = [0u8; 8192];
        while got < want {
            let len = buf.len().min(want - got);
            // SAFETY: `buf` is writable for `len` <= its length for the whole call.
            let n = unsafe { libc::recv(real(socket), buf.as_mut_ptr().cast(), len, libc::MSG_DONTWAIT) };
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        let mut freed = false;
        let mut consumed = got;
        while let Some(&head) = self.inbound[socket].front() {
            if head > consumed {
                self.inbound[socket][0] -= consumed;
                break;
            }
            consumed -= head;
            self.inbound[socket].pop_front();
            freed = true;
        }
        self.log.push(format!("read({socket}, all: {all}) = {got}"));
        self.sync(socket, 0);
        let writer = peer(socket);
        if freed && self.open[writer] && real_readiness(real(writer)) & EPOLLOUT != 0 {
            self.sync(writer, SPACE_KEY);
        } else {
            self.sync(writer, 0);
        }
    }

    fn shutdown(&mut self, socket: usize, how: libc::c_int) {
        if !self.open[socket] {
            return;
        }
        // SAFETY: shutdown takes no pointers.
        let ret = unsafe { libc::shutdown(real(socket), how) };
        self.log.push(format!("shutdown({socket}, {how}) = {ret}"));
        self.sync(socket, WAKE_ALL);
        self.sync(peer(socket), WAKE_ALL);
    }

    fn close(&mut self, object: usize) {
        if !self.open[object] {
            return;
        }
        // SAFETY: the test owns the fd and forgets it here.
        assert_eq!(unsafe { libc::close(real(object)) }, 0);
        self.memory.close(self.virt[object]).unwrap();
        self.open[object] = false;
        self.virt[object] = CLOSED;
        self.log.push(format!("close({object})"));
        if !is_epoll(object) {
            self.inbound[object].clear();
            self.sync(peer(object), WAKE_ALL);
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        for object in (0..OBJECTS).filter(|&o| self.open[o]) {
            // SAFETY: the test owns the fd and forgets it here.
            unsafe { libc::close(real(object)) };
        }
    }
}

#[test]
fn random_sequences_match_the_kernels_epoll() {
    for seed in 1..=400u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut world = World::new();
        let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            for _ in 0..150 {
                world.step(&mut rng);
            }
        }));
        if let Err(panic) = run {
            let start = world.log.len().saturating_sub(25);
            eprintln!("seed {seed}, the last steps:\n{}", world.log[start..].join("\n"));
            std::panic::resume_unwind(panic);
        }
    }
}

#[test]
fn nesting_limits_match_the_kernels() {
    const N: usize = 7;
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let mut memory = Memory::new();
        let mut fds = [(0, 0); N];
        for fd in &mut fds {
            // SAFETY: epoll_create1 takes no pointers.
            *fd = (check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).unwrap(), memory.create_epoll());
        }
        for step in 0..40 {
            let (outer, inner) = (fds[rng.below(N)], fds[rng.below(N)]);
            let op = if rng.one_in(4) { libc::EPOLL_CTL_DEL } else { libc::EPOLL_CTL_ADD };
            let mut event = libc::epoll_event { events: EPOLLIN, u64: 0 };
            // SAFETY: `event` is a valid epoll_event that outlives the call; the kernel only reads it.
            let kernel = errno_of(check(unsafe { libc::epoll_ctl(outer.0, op, inner.0, &mut event) }).map(drop));
            let ours = errno_of(if op == libc::EPOLL_CTL_ADD { memory.register(outer.1, inner.1, EPOLLIN) } else { memory.unregister(outer.1, inner.1) });
            assert_eq!(ours, kernel, "seed {seed}, step {step}: op {op} {} in {}", inner.1, outer.1);
        }
        for (real, _) in fds {
            // SAFETY: the test owns the fd and forgets it here.
            unsafe { libc::close(real) };
        }
    }
}

/// Whether thread `tid` of this process sleeps in an epoll wait now.
fn blocked_in_epoll_wait(tid: libc::pid_t) -> bool {
    let Ok(syscall) = std::fs::read_to_string(format!("/proc/self/task/{tid}/syscall")) else { return false };
    let number: i64 = syscall.split_whitespace().next().and_then(|n| n.parse().ok()).unwrap_or(-1);
    #[cfg(target_arch = "x86_64")]
    let waits = [libc::SYS_epoll_wait, libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];
    #[cfg(not(target_arch = "x86_64"))]
    let waits = [libc::SYS_epoll_pwait, libc::SYS_epoll_pwait2];
    waits.contains(&number)
}

/// Two epolls watch one socket with EPOLLEXCLUSIVE | EPOLLET, the first registered first; a
/// thread blocks in `epoll_wait` on each epoll whose `parked` is true, and data arrives. Each
/// epoll's event, edge-triggered, is then collected once, by its thread or by a wait with
/// timeout 0 (whichever comes first), unless the wakeup skipped that epoll, which the kernel
/// does to an exclusive watcher after one whose waiter it woke. A second socket, watched
/// plainly, then releases the threads. Which epolls got the event must be what the engine says.
fn exclusive_scenario(parked: [bool; 2]) {
    let pair = |memory: &mut Memory| {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two fds socketpair writes.
        assert_eq!(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0, fds.as_mut_ptr()) }, 0);
        (fds, memory.open(EPOLLOUT))
    };
    let mut memory = Memory::new();
    let (data, data_v) = pair(&mut memory);
    let (release, release_v) = pair(&mut memory);
    let mut epolls = Vec::new();
    for _ in 0..2 {
        // SAFETY: epoll_create1 takes no pointers.
        let ep = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) }).unwrap();
        let ep_v = memory.create_epoll();
        for (fd, fd_v, mode, tag) in [(data[1], data_v, EPOLLEXCLUSIVE | EPOLLET, 1u64), (release[1], release_v, 0, 2)] {
            let mut event = libc::epoll_event { events: EPOLLIN | mode, u64: tag };
            // SAFETY: `event` is a valid epoll_event that outlives the call; the kernel only reads it.
            check(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut event) }).unwrap();
            memory.register(ep_v, fd_v, EPOLLIN | mode).unwrap();
        }
        epolls.push((ep, ep_v));
    }
    let send = |fd: RawFd| {
        // SAFETY: one readable byte for the whole call.
        assert_eq!(unsafe { libc::send(fd, b"x".as_ptr().cast(), 1, libc::MSG_NOSIGNAL) }, 1);
    };
    let got_data = |events: &[libc::epoll_event]| events.iter().any(|e| e.u64 == 1);
    let mut threads = Vec::new();
    for (i, &(ep, ep_v)) in epolls.iter().enumerate().filter(|(i, _)| parked[*i]) {
        let (tx, rx) = std::sync::mpsc::channel();
        threads.push((i, std::thread::spawn(move || {
            // SAFETY: gettid takes no arguments.
            tx.send(unsafe { libc::gettid() }).unwrap();
            let mut got = false;
            loop {
                let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
                // SAFETY: room for 8 events; a 10 s limit in case the release never comes.
                let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 8, 10_000) };
                let events = &events[..n.max(0) as usize];
                got |= got_data(events);
                if n <= 0 || events.iter().any(|e| e.u64 == 2) {
                    return got;
                }
            }
        })));
        let tid = rx.recv().unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !blocked_in_epoll_wait(tid) {
            assert!(std::time::Instant::now() < deadline, "thread {tid} never blocked in epoll_wait");
            std::thread::yield_now();
        }
        assert!(memory.park(ep_v).unwrap());
    }
    send(data[0]);
    memory.notify(data_v, EPOLLIN | EPOLLOUT, WRITE_KEY).unwrap();
    let mut kernel = [false; 2];
    let mut ours = [false; 2];
    for (i, &(ep, ep_v)) in epolls.iter().enumerate() {
        let mut events = [libc::epoll_event { events: 0, u64: 0 }; 8];
        // SAFETY: room for 8 events; timeout 0.
        let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), 8, 0) };
        kernel[i] = got_data(&events[..n.max(0) as usize]);
        let mut buf = Vec::new();
        memory.wait(ep_v, &mut buf, 8).unwrap();
        ours[i] = buf.iter().any(|&(fd, _)| fd == data_v);
    }
    send(release[0]);
    for (i, thread) in threads {
        kernel[i] |= thread.join().unwrap();
    }
    assert_eq!(ours, kernel, "which epolls got the event, with waiters parked on {parked:?}");
    for fd in [data[0], data[1], release[0], release[1], epolls[0].0, epolls[1].0] {
        // SAFETY: the test owns the fd and forgets it here.
        unsafe { libc::close(fd) };
    }
}

#[test]
fn exclusive_wakeups_match_the_kernels() {
    for parked in [[true, true], [false, true], [true, false], [false, false]] {
        exclusive_scenario(parked);
    }
}
