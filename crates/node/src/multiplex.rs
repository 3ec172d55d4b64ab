//! Native `poll(2)` and `select(2)` for `src/select.ts`. Every failure is `-errno`.

use std::cell::RefCell;
use std::time::Duration;

use fdpoll_core::multiplex::{self, pollfd, PollFd};
use napi::bindgen_prelude::{BufferSlice, Either};
use napi_derive::napi;

use crate::{neg_errno, EINVAL};

thread_local! {
    /// The pollfd array every poll on this thread reuses.
    static POLLFDS: RefCell<Vec<PollFd>> = const { RefCell::new(Vec::new()) };
}

/// `poll(2)` over `pollfds`, the bytes of an Int32Array of `[fd, events, revents]` triples;
/// writes each `revents` back. Returns how many fds have events, or `-errno`.
#[napi]
pub fn poll_wait(mut pollfds: BufferSlice, timeout_ms: i32) -> i32 {
    let triples = pollfds.len() / 12;
    if triples * 12 != pollfds.len() {
        return -EINVAL;
    }
    let word = |bytes: &[u8], i: usize| i32::from_ne_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap_or_default());
    POLLFDS.with_borrow_mut(|fds| {
        fds.clear();
        fds.extend((0..triples).map(|t| pollfd(word(&pollfds, 3 * t), word(&pollfds, 3 * t + 1) as i16)));
        let timeout = u64::try_from(timeout_ms).ok().map(Duration::from_millis);
        match multiplex::poll(fds, timeout) {
            Ok(n) => {
                for (t, fd) in fds.iter().enumerate() {
                    pollfds[12 * t + 8..12 * t + 12].copy_from_slice(&i32::from(fd.revents as u16).to_ne_bytes());
                }
                n as i32
            }
            Err(e) => neg_errno(e),
        }
    })
}

/// The fds `selectWait` found ready.
#[napi(object)]
pub struct SelectReady {
    pub read: Vec<i32>,
    pub write: Vec<i32>,
    pub except: Vec<i32>,
}

/// `select(2)` on three fd lists, waiting up to `timeoutUs` microseconds (-1 blocks): the
/// ready fds, or `-errno` (EINVAL for an fd at or past FD_SETSIZE).
#[napi]
pub fn select_wait(read: Vec<i32>, write: Vec<i32>, except: Vec<i32>, timeout_us: f64) -> Either<SelectReady, i32> {
    let timeout = (timeout_us >= 0.0).then(|| Duration::from_micros(timeout_us as u64));
    match multiplex::select(&read, &write, &except, timeout) {
        Ok(r) => Either::A(SelectReady { read: r.read, write: r.write, except: r.except }),
        Err(e) => Either::B(neg_errno(e)),
    }
}

/// FD_SETSIZE: `select` refuses fds at or above it.
#[napi]
pub const FD_SETSIZE: u32 = multiplex::FD_SETSIZE as u32;
