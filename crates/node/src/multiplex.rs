//! Native `poll(2)` and `select(2)` for `src/select.ts`. Every failure is `-errno`.

use std::cell::RefCell;
use std::time::Duration;

use fdpoll_core::multiplex::{self, pollfd, PollFd};
use napi::bindgen_prelude::BufferSlice;
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

/// `select(2)` on three fd lists, waiting up to `timeoutUs` microseconds (-1 blocks). `lists`
/// holds the bytes of an Int32Array `[nRead, nWrite, nExcept, ...read, ...write, ...except]`;
/// each listed fd that is not ready is overwritten with -1. Returns how many entries are ready,
/// or `-errno` (EINVAL for a malformed array or an fd at or past FD_SETSIZE).
#[napi]
pub fn select_wait(#[napi(ts_arg_type = "Int32Array")] mut lists: BufferSlice, timeout_us: f64) -> i32 {
    let ints: Vec<i32> = lists.chunks_exact(4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect();
    let Some((counts, fds)) = ints.split_first_chunk::<3>() else {
        return -EINVAL;
    };
    let sizes = counts.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if sizes.iter().try_fold(0usize, |sum, &n| sum.checked_add(n)) != Some(fds.len()) {
        return -EINVAL;
    }
    let (read, rest) = fds.split_at(sizes[0]);
    let (write, except) = rest.split_at(sizes[1]);
    let timeout = (timeout_us >= 0.0).then(|| Duration::from_micros(timeout_us as u64));
    match multiplex::select(read, write, except, timeout) {
        Ok(ready) => {
            let mut count = 0;
            let mut entries = lists.chunks_exact_mut(4).skip(3);
            for (listed, found) in [(read, &ready.read), (write, &ready.write), (except, &ready.except)] {
                let found = FdBits::of(found);
                for (&fd, entry) in listed.iter().zip(entries.by_ref()) {
                    if found.has(fd) {
                        count += 1;
                    } else {
                        entry.copy_from_slice(&(-1i32).to_ne_bytes());
                    }
                }
            }
            count
        }
        Err(e) => neg_errno(e),
    }
}

/// A set of fds below FD_SETSIZE, one bit each.
struct FdBits([u64; multiplex::FD_SETSIZE / 64]);

impl FdBits {
    fn of(fds: &[i32]) -> FdBits {
        let mut bits = FdBits([0; multiplex::FD_SETSIZE / 64]);
        for &fd in fds {
            bits.0[fd as usize / 64] |= 1 << (fd as usize % 64); // select() only returns listed fds
        }
        bits
    }

    fn has(&self, fd: i32) -> bool {
        self.0[fd as usize / 64] & (1 << (fd as usize % 64)) != 0
    }
}

/// FD_SETSIZE: `select` refuses fds at or above it.
#[napi]
pub const FD_SETSIZE: u32 = multiplex::FD_SETSIZE as u32;
