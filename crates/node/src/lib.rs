//! napi-rs glue between fdpoll-core and the TypeScript API in `src/`. Glue only: argument
//! checking and Python's error classes live in TypeScript; OS failures cross the boundary as a
//! negative errno return value (never a throw, never a panic), which `src/errors.ts` turns into
//! the right error object.

// napi-rs registers the exports only outside test builds, so there every export looks unused.
#![cfg_attr(test, allow(dead_code))]

// The WebAssembly build (not Unix) has the poller, the constants and the in-memory engine's host
// API (virtual fds, wakers); the OS's sockets, poll, select and the watch on Node's loop are not
// in it.
#[cfg(unix)]
mod batch;
mod constants;
mod epoll;
#[cfg(not(unix))]
mod errno;
#[cfg(not(unix))]
mod memory;
#[cfg(unix)]
mod multiplex;
#[cfg(unix)]
mod socket;
#[cfg(unix)]
mod waker;
#[cfg(unix)]
mod watch;

#[cfg(not(unix))]
pub(crate) use errno::{neg_errno, EINVAL};

/// EINVAL: an argument the OS would reject (an output array too small, views that share memory).
#[cfg(unix)]
pub(crate) const EINVAL: i32 = libc::EINVAL;

/// EIO: reported for a failure that carries no OS error code.
#[cfg(unix)]
const EIO: i32 = libc::EIO;

/// The boundary's convention for a failed call: `-errno`.
#[cfg(unix)]
pub(crate) fn neg_errno(e: std::io::Error) -> i32 {
    -e.raw_os_error().unwrap_or(EIO)
}

/// The boundary's convention for a call with no result: 0, or `-errno`.
pub(crate) fn status(result: std::io::Result<()>) -> i32 {
    result.map_or_else(neg_errno, |()| 0)
}
