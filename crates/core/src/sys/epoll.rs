//! Linux backend: raw `epoll_create1` / `epoll_ctl` / `epoll_wait` through libc.
//! Every mode (level, `EPOLLET`, `EPOLLONESHOT`, `EPOLLEXCLUSIVE`) is the kernel's own.

use std::io;
use std::os::fd::RawFd;

/// One entry of the kernel's ready list, as `epoll_wait` fills it.
pub type RawEvent = libc::epoll_event;

/// The three `epoll_ctl` operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtlOp {
    /// `EPOLL_CTL_ADD`
    Add,
    /// `EPOLL_CTL_MOD`
    Modify,
    /// `EPOLL_CTL_DEL`
    Delete,
}

/// The event bits after which a read does not block: data, end of stream, or an error to report.
pub const READ_EVENTS: u32 = (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32;

/// Creates a close-on-exec epoll instance and returns its fd.
pub fn create() -> io::Result<RawFd> {
    // SAFETY: epoll_create1 takes no pointers; a negative result is turned into an error.
    check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })
}

/// Adds, modifies or deletes `fd` in the interest list of `epfd`; the event data is the fd.
pub fn ctl(epfd: RawFd, op: CtlOp, fd: RawFd, events: u32) -> io::Result<()> {
    let op = match op {
        CtlOp::Add => libc::EPOLL_CTL_ADD,
        CtlOp::Modify => libc::EPOLL_CTL_MOD,
        CtlOp::Delete => libc::EPOLL_CTL_DEL,
    };
    // Kernels before 2.6.9 want a non-null event even for DEL, so one is always passed.
    let mut event = libc::epoll_event { events, u64: fd as u32 as u64 };
    // SAFETY: `event` is a valid epoll_event that outlives the call; the kernel only reads it.
    check(unsafe { libc::epoll_ctl(epfd, op, fd, &mut event) }).map(drop)
}

/// Waits up to `timeout_ms` (-1 blocks) for at most `max` (1..=i32::MAX) events, which
/// replace the contents of `buf`. EINTR is returned as an error: the caller owns the retry.
pub fn wait(epfd: RawFd, buf: &mut Vec<RawEvent>, max: usize, timeout_ms: i32) -> io::Result<usize> {
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

/// The fd an event was registered with.
pub fn event_fd(event: &RawEvent) -> RawFd {
    event.u64 as u32 as RawFd
}

/// The ready bits of an event.
pub fn event_bits(event: &RawEvent) -> u32 {
    event.events
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// Helpers that tests of the layers above need and that take `unsafe`.
#[cfg(test)]
pub(crate) mod testing {
    use std::io;
    use std::os::fd::RawFd;
    use std::time::Duration;

    /// A pipe as (read end, write end), both non-blocking and close-on-exec.
    pub fn pipe() -> (RawFd, RawFd) {
        let mut fds = [0; 2];
        // SAFETY: `fds` has room for the two fds pipe2 writes.
        let ret = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) };
        assert_eq!(ret, 0, "pipe2: {}", io::Error::last_os_error());
        (fds[0], fds[1])
    }

    /// Writes `data` to `fd`, returning how much was written.
    pub fn write(fd: RawFd, data: &[u8]) -> isize {
        // SAFETY: `data` is valid for `data.len()` bytes for the whole call.
        unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) }
    }

    /// Reads into `buf`, returning how much was read (or -1).
    pub fn read(fd: RawFd, buf: &mut [u8]) -> isize {
        // SAFETY: `buf` is valid and writable for `buf.len()` bytes for the whole call.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) }
    }

    /// Duplicates `fd` onto the number `target` (far above the fds that parallel tests open,
    /// so no other test can reuse it between a close and the check that follows).
    pub fn dup_to(fd: RawFd, target: RawFd) -> RawFd {
        // SAFETY: dup2 takes no pointers; the test owns `target` from here on.
        let ret = unsafe { libc::dup2(fd, target) };
        assert_eq!(ret, target, "dup2: {}", io::Error::last_os_error());
        ret
    }

    extern "C" fn ignore(_: libc::c_int) {}

    /// Sends SIGUSR1 (with a no-op handler, no SA_RESTART) to the calling thread after `delay`,
    /// so a blocking call on it fails with EINTR.
    pub fn interrupt_me_after(delay: Duration) -> std::thread::JoinHandle<()> {
        // SAFETY: a zeroed sigaction with a plain handler and empty mask is valid; the handler
        // is async-signal-safe (it does nothing).
        unsafe {
            let mut action: libc::sigaction = std::mem::zeroed();
            action.sa_sigaction = ignore as *const () as usize;
            libc::sigemptyset(&mut action.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR1, &action, std::ptr::null_mut()), 0);
        }
        // SAFETY: pthread_self has no preconditions.
        let target = unsafe { libc::pthread_self() } as usize;
        std::thread::spawn(move || {
            std::thread::sleep(delay);
            // SAFETY: the target thread is still blocked in the test that spawned us.
            unsafe { libc::pthread_kill(target as libc::pthread_t, libc::SIGUSR1) };
        })
    }
}
