//! Native `poll(2)` and `select(2)` for `src/select.ts`. Every failure is `-errno`.

use std::cell::RefCell;
use std::time::Duration;

use fdpoll_core::multiplex::{self, PollFd};
use napi::bindgen_prelude::BufferSlice;
use napi_derive::napi;

use crate::neg_errno;

thread_local! {
    /// The pollfd array every poll on this thread reuses.
    static POLLFDS: RefCell<Vec<PollFd>> = const { RefCell::new(Vec::new()) };
}

/// `poll(2)` over `pollfds`, the bytes of an Int32Array of `[fd, events, revents]` triples;
/// writes each `revents` back. Returns how many fds have events, or `-errno`.
#[napi]
pub fn poll_wait(mut pollfds: BufferSlice, timeout_ms: i32) -> i32 {
    let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
    POLLFDS.with_borrow_mut(|fds| multiplex::poll_packed(&mut pollfds, fds, timeout).map_or_else(neg_errno, |n| n as i32))
}

/// `select(2)` on three fd lists, waiting up to `timeoutUs` microseconds (-1 blocks). `lists`
/// holds the bytes of an Int32Array `[nRead, nWrite, nExcept, ...read, ...write, ...except]`;
/// each listed fd that is not ready is overwritten with -1. Returns how many entries are ready,
/// or `-errno` (EINVAL for a malformed array or an fd at or past FD_SETSIZE).
#[napi]
pub fn select_wait(#[napi(ts_arg_type = "Int32Array")] mut lists: BufferSlice, timeout_us: f64) -> i32 {
    let mut ints: Vec<i32> = lists.chunks_exact(4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect();
    let timeout = (timeout_us >= 0.0).then(|| Duration::from_micros(timeout_us as u64));
    match multiplex::select_packed(&mut ints, timeout) {
        Ok(count) => {
            for (entry, value) in lists.chunks_exact_mut(4).zip(&ints) {
                entry.copy_from_slice(&value.to_ne_bytes());
            }
            count as i32
        }
        Err(e) => neg_errno(e),
    }
}

/// FD_SETSIZE: `select` refuses fds at or above it.
#[napi]
pub const FD_SETSIZE: u32 = multiplex::FD_SETSIZE as u32;
