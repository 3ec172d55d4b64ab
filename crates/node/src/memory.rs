//! The WebAssembly build's host API: the in-memory engine's table of virtual fds
//! (`fdpoll_core::memory`), driven from JavaScript. The host opens a virtual fd for each socket
//! it owns and sets its readiness; a blocking wait parks its epoll while it waits on the host's
//! side. Glue only: every call is the engine's, with failures as `-errno` (the host's numbers).
//! Close a virtual fd with `fdClose`.

use fdpoll_core::bits::{EPOLLOUT, EPOLLWRNORM};
use fdpoll_core::memory::{table, WAKE_ALL as ALL};
use napi_derive::napi;

use crate::{neg_errno, status};

/// A waker is always writable, as an eventfd is.
const WAKER_READINESS: u32 = EPOLLOUT | EPOLLWRNORM;

/// The key of `vfdNotify` that wakes every watcher whatever its mask, exclusive ones included:
/// the kernel's key-less wakeup, which a socket's shutdown or its peer's close sends.
#[napi]
pub const WAKE_ALL: u32 = ALL;

/// Opens a virtual fd (a socket's, the lowest free number from 3) with the epoll bits
/// `readiness`: its number.
#[napi]
pub fn vfd_open(readiness: u32) -> i32 {
    table().open(readiness)
}

/// The epoll bits of `fd` now (for an epoll fd, EPOLLIN | EPOLLRDNORM while it has events to
/// report), or `-errno`.
#[napi]
pub fn vfd_readiness(fd: i32) -> i32 {
    // The engine keeps no mode bit (bits 28 to 31) in a readiness: it fits as a positive i32.
    table().readiness(fd).map_or_else(neg_errno, |readiness| readiness as i32)
}

/// Replaces the readiness of the virtual fd `fd`; its watchers wake if bits rose: 0 or `-errno`
/// (EINVAL for an epoll fd).
#[napi]
pub fn vfd_set_readiness(fd: i32, readiness: u32) -> i32 {
    status(table().set_readiness(fd, readiness))
}

/// An event on the virtual fd `fd`: its readiness becomes `readiness` and its watchers wake with
/// `key` (epoll bits, or `WAKE_ALL`) and the bits that rose, even if none rose: 0 or `-errno`.
#[napi]
pub fn vfd_notify(fd: i32, readiness: u32, key: u32) -> i32 {
    status(table().notify(fd, readiness, key))
}

/// Parks a waiter on the epoll `epfd` before the host blocks: 1 if parked, 0 if events are ready
/// (poll instead), or `-errno`.
#[napi]
pub fn epoll_park(epfd: i32) -> i32 {
    table().park(epfd).map_or_else(neg_errno, i32::from)
}

/// A parked waiter of `epfd` leaves: 1 if it was still parked, 0 if a readiness change woke it
/// meanwhile (its epoll is then in `epollTakeWoken`), or `-errno`.
#[napi]
pub fn epoll_unpark(epfd: i32) -> i32 {
    table().unpark(epfd).map_or_else(neg_errno, i32::from)
}

/// The epolls whose parked waiters were woken since the last call, one entry per waiter.
#[napi]
pub fn epoll_take_woken() -> Vec<i32> {
    let mut woken = Vec::new();
    table().take_woken(&mut woken);
    woken
}

/// A new waker: a virtual fd, writable, that `wakerSignal` makes readable (as an eventfd).
#[napi]
pub fn waker_create() -> i32 {
    table().open(WAKER_READINESS)
}

/// Makes the waker readable (a new edge each time): 0 or `-errno`. Only this thread's engine
/// sees it: another thread has an engine of its own.
#[napi]
pub fn waker_signal(fd: i32) -> i32 {
    status(table().wake_waker(fd))
}

/// Makes the waker unreadable again: 0 or `-errno`.
#[napi]
pub fn waker_reset(fd: i32) -> i32 {
    status(table().reset_waker(fd))
}

/// Closes the waker: 0 or `-errno`.
#[napi]
pub fn waker_close(fd: i32) -> i32 {
    status(fdpoll_core::close(fd))
}
