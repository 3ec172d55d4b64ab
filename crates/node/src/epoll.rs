//! Native epoll functions over epoll fds, addressed by number whatever the backend (the
//! TypeScript `Epoll` owns the fd). Plain functions, not a napi class: a class method call costs
//! ~600 ns of borrow tracking and type checks in napi-rs 3, a function call a fraction of that.
//! Every timeout is in milliseconds (`timeoutMs`, -1 blocks); every failure is returned as
//! `-errno`.

use std::cell::RefCell;
use std::time::Duration;

use fdpoll_core::{Events, Poller};
use napi::bindgen_prelude::BufferSlice;
use napi_derive::napi;

use crate::{neg_errno, status, EINVAL};

/// Bytes per event in `out`: the fd and the event bits, 32 bits each.
const PAIR: usize = 8;

thread_local! {
    /// The event buffer every poll on this thread (main or worker) reuses.
    pub(crate) static EVENTS: RefCell<Events> = RefCell::new(Events::new());
}

/// The backend in use: `"epoll"` (raw epoll, Linux), `"mio"` (every other Unix, and Linux
/// builds with the `mio` feature) or `"wasm"` (the WebAssembly build).
#[napi]
pub const BACKEND: &str = fdpoll_core::BACKEND;

/// Creates a close-on-exec epoll instance: its fd, or `-errno`.
#[napi]
pub fn epoll_create() -> i32 {
    Poller::new().map_or_else(neg_errno, Poller::fd)
}

/// `epoll_ctl(EPOLL_CTL_ADD)`: 0 or `-errno`.
#[napi]
pub fn epoll_register(epfd: i32, fd: i32, events: u32) -> i32 {
    status(Poller::from_fd(epfd).register(fd, events))
}

/// `epoll_ctl(EPOLL_CTL_MOD)`: 0 or `-errno`.
#[napi]
pub fn epoll_modify(epfd: i32, fd: i32, events: u32) -> i32 {
    status(Poller::from_fd(epfd).modify(fd, events))
}

/// `epoll_ctl(EPOLL_CTL_DEL)`: 0 or `-errno`.
#[napi]
pub fn epoll_unregister(epfd: i32, fd: i32) -> i32 {
    status(Poller::from_fd(epfd).unregister(fd))
}

/// Waits and writes `out[2i] = fd, out[2i+1] = events` for at most `maxevents` events (and at
/// most `out.length / 2`); returns the count, or `-errno`. Allocates nothing. `out` is an
/// Int32Array or Uint32Array, taken as bytes: both hold the same 32 bits in native byte order,
/// which saves a typed-array type check per call.
#[napi]
pub fn epoll_poll_into(epfd: i32, #[napi(ts_arg_type = "Int32Array | Uint32Array")] mut out: BufferSlice, timeout_ms: i32, maxevents: u32) -> i32 {
    let max = (out.len() / PAIR).min(maxevents as usize);
    if max == 0 {
        return -EINVAL; // no room for one event: polling would drop an edge-triggered one
    }
    EVENTS.with_borrow_mut(|events| match Poller::from_fd(epfd).poll(events, timeout(timeout_ms), max) {
        Ok(count) => {
            for ((fd, bits), slot) in events.iter().zip(out.chunks_exact_mut(PAIR)) {
                slot[..4].copy_from_slice(&fd.to_ne_bytes());
                slot[4..].copy_from_slice(&bits.to_ne_bytes());
            }
            count as i32
        }
        Err(e) => neg_errno(e),
    })
}

/// Closes an fd the caller owns (an epoll fd or a socket), with the backend's state for an
/// epoll fd: 0 or `-errno`.
#[napi]
pub fn fd_close(fd: i32) -> i32 {
    status(fdpoll_core::close(fd))
}

/// `timeoutMs` as the core wants it: negative blocks.
pub(crate) fn timeout(timeout_ms: i32) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}
