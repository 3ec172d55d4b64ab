//! The older multiplexers, `poll(2)` and `select(2)`, for Python's `select.poll` and
//! `select.select`. EINTR is returned to the caller, which retries with the time left.

use std::io;
use std::os::fd::RawFd;

/// FD_SETSIZE: `select` cannot watch an fd at or above this number.
pub const FD_SETSIZE: usize = libc::FD_SETSIZE;

/// One `struct pollfd`: the fd, the events asked for, the events returned.
pub type PollFd = libc::pollfd;

/// `poll(2)` over `fds` (their `revents` are filled in): how many have events.
pub fn poll(fds: &mut [PollFd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: `fds` is a valid, writable array of `fds.len()` pollfd structs for the call.
    let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// The three fd sets of `select(2)`.
pub struct FdSets {
    sets: [libc::fd_set; 3],
    nfds: RawFd,
}

impl FdSets {
    /// Empty read, write and except sets.
    pub fn new() -> FdSets {
        // SAFETY: an all-zero fd_set is a valid, empty set (what FD_ZERO produces).
        FdSets { sets: unsafe { std::mem::zeroed() }, nfds: 0 }
    }

    /// Adds `fd` (which must be below FD_SETSIZE) to set `which` (0 read, 1 write, 2 except).
    pub fn insert(&mut self, which: usize, fd: RawFd) {
        assert!((0..FD_SETSIZE as RawFd).contains(&fd), "fd {fd} is outside select's range");
        // SAFETY: `fd` is within 0..FD_SETSIZE, so FD_SET writes inside the set.
        unsafe { libc::FD_SET(fd, &mut self.sets[which]) };
        self.nfds = self.nfds.max(fd + 1);
    }

    /// Whether `fd` is in set `which` (after `select`: whether it is ready).
    pub fn contains(&self, which: usize, fd: RawFd) -> bool {
        // SAFETY: FD_ISSET only reads the set; out-of-range fds are never inserted or asked.
        (0..FD_SETSIZE as RawFd).contains(&fd) && unsafe { libc::FD_ISSET(fd, &self.sets[which]) }
    }

    /// `select(2)` for up to `timeout_us` microseconds (negative blocks); the sets keep only
    /// the ready fds. Returns how many fds are ready in all.
    pub fn select(&mut self, timeout_us: i64) -> io::Result<usize> {
        let mut tv = libc::timeval { tv_sec: (timeout_us / 1_000_000) as _, tv_usec: (timeout_us % 1_000_000) as _ };
        let tv_ptr = if timeout_us < 0 { std::ptr::null_mut() } else { &mut tv as *mut libc::timeval };
        let [read, write, except] = &mut self.sets;
        // SAFETY: the three sets and `tv` are valid and writable for the call; nfds bounds them.
        let n = unsafe { libc::select(self.nfds, read, write, except, tv_ptr) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }
}

impl Default for FdSets {
    fn default() -> Self {
        FdSets::new()
    }
}
