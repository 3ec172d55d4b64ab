//! Platform backends. Every `unsafe` block of the crate lives below this module.
//!
//! # The poller backend contract
//!
//! One poller backend is compiled in, `Active`: `epoll` (raw epoll, on Linux), `mio` (the mio
//! crate, on every other Unix, and on Linux with the cargo feature `mio`) or, on WebAssembly,
//! `memory` (an epoll with no OS below it, over virtual fds whose readiness the host
//! sets). Each implements [`Backend`], whose functions are the whole contract; nothing above
//! `sys` names a backend.
//! Every backend keeps Linux epoll's meaning, which is what Python's `select.epoll` exposes:
//! - A poller is addressed by its fd number (the `epfd` of every call), so it can be shared as a
//!   plain number; `create` returns a close-on-exec fd, `close` forgets it.
//! - `register`, `modify`, `unregister` are `epoll_ctl`'s ADD, MOD and DEL with the event bits of
//!   [`crate::bits`]; errors are the kernel's: EBADF (`epfd` or `fd` is not open; for a backend
//!   that keeps state per poller, `epfd` is not one of its pollers), EPERM (`fd` is a regular
//!   file or a directory), EINVAL (`fd` is `epfd`, `epfd` is an fd but no poller, or
//!   EPOLLEXCLUSIVE where Linux refuses it), EEXIST (already registered), ENOENT (not
//!   registered).
//! - `wait` replaces `buf` with at most `max` ready fds, one entry per fd, waiting up to
//!   `timeout_ms` (-1: no limit). EPOLLIN, OUT, PRI and RDHUP are reported only when asked,
//!   EPOLLERR and EPOLLHUP always. Events that do not fit in `max` wait for the next call: none
//!   is lost, edge-triggered ones included. EINTR is returned, not retried: the caller owns the
//!   retry (with the time left).
//! - `support` says how each mode is honoured: natively, emulated, or ignored (a documented no-op
//!   that keeps the meaning); a mode a backend cannot honour at all is an error, never a silent
//!   change of meaning.

#[cfg(all(target_os = "linux", not(feature = "mio")))]
mod epoll;
#[cfg(all(target_os = "linux", not(feature = "mio")))]
pub(crate) type Active = epoll::Epoll;
#[cfg(all(unix, any(feature = "mio", not(target_os = "linux"))))]
mod mio;
#[cfg(all(unix, any(feature = "mio", not(target_os = "linux"))))]
pub(crate) type Active = mio::Mio;
#[cfg(target_os = "linux")]
pub mod eventfd;
#[cfg(all(unix, any(test, not(target_os = "linux"))))]
pub mod pipe;

#[cfg(unix)]
pub mod held;
#[cfg(unix)]
pub mod multiplex;
#[cfg(unix)]
pub mod socket;
#[cfg(unix)]
pub mod uv;

#[cfg(test)]
pub(crate) mod testing;

#[cfg(any(test, target_family = "wasm"))]
pub mod memory;
#[cfg(target_family = "wasm")]
pub(crate) type Active = memory::InMemory;
#[cfg(all(test, target_os = "linux"))]
mod memory_vs_epoll;

use std::fmt::Debug;
use std::io;
use std::os::fd::RawFd;

/// What every poller backend provides (see the module documentation). Associated functions
/// only: a poller is its fd number, so calls cost no lookup where the OS itself takes fds.
pub(crate) trait Backend {
    /// `"epoll"`, `"mio"` or `"wasm"`.
    const NAME: &'static str;
    /// One ready fd as `wait` stores it.
    type RawEvent: Debug;
    /// Creates a poller: its close-on-exec fd.
    fn create() -> io::Result<RawFd>;
    /// Adds `fd` to the interest list of `epfd` with the event mask `events`.
    fn register(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()>;
    /// Replaces the event mask of a registered `fd`, re-arming an EPOLLONESHOT one.
    fn modify(epfd: RawFd, fd: RawFd, events: u32) -> io::Result<()>;
    /// Removes `fd` from the interest list.
    fn unregister(epfd: RawFd, fd: RawFd) -> io::Result<()>;
    /// Waits up to `timeout_ms` (-1: no limit) for at most `max` (>= 1) ready fds, which
    /// replace the contents of `buf`; returns how many.
    fn wait(epfd: RawFd, buf: &mut Vec<Self::RawEvent>, max: usize, timeout_ms: i32) -> io::Result<usize>;
    /// The fd and the ready bits of an event.
    fn event(event: &Self::RawEvent) -> (RawFd, u32);
    /// Closes `fd`, which the caller owns and forgets; a poller's state goes with it.
    fn close(fd: RawFd) -> io::Result<()>;
    /// How this backend honours `mode`: one event bit or mode flag of [`crate::bits`], or 0 for
    /// level-triggered mode (the default, without EPOLLET).
    fn support(mode: u32) -> Support;
}

/// How a backend honours a mode or an event bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// The OS does it.
    Native,
    /// The backend builds it over what the OS does, with the same meaning.
    Emulated,
    /// Accepted and validated, but nothing changes: a documented no-op that keeps the meaning
    /// (or an event bit that is never reported).
    Ignored,
}

/// The name of the backend in use: `"epoll"`, `"mio"` or `"wasm"`.
pub const BACKEND: &str = Active::NAME;

/// `close(2)` of an fd the caller owns and forgets, a poller or a socket: a poller's state in
/// its backend goes with it.
pub fn close(fd: RawFd) -> io::Result<()> {
    Active::close(fd)
}

/// Plain `close(2)`, what the OS backends' `close` comes down to.
#[cfg(unix)]
fn close_fd(fd: RawFd) -> io::Result<()> {
    // SAFETY: the caller owns `fd` and does not use it again; EINTR is not retried (Linux
    // releases the fd even then).
    if unsafe { libc::close(fd) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
