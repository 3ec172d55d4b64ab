//! Batched socket I/O: one boundary crossing for every connection of a poll's batch instead of
//! one per connection. `epollPollRecv` waits and reads every readable fd; `socketSendMany` sends
//! to many. Their Int32Arrays of fds, events, ranges and results are taken as native-endian bytes
//! (as `epollPollInto` takes its output); each connection's result is a byte count or `-errno`.
//! The Int32Array and the data must not share memory: such a call returns `-EINVAL` and does
//! nothing.

use fdpoll_core::{socket, Poller, READ_EVENTS};
use napi::bindgen_prelude::BufferSlice;
use napi_derive::napi;

use crate::epoll::{timeout, EVENTS};
use crate::{neg_errno, EAGAIN, EINVAL};

/// Bytes per i32 in a plan.
const INT: usize = 4;

/// `epollPollInto` that also reads: waits on `epfd` as it does (`timeoutMs`, -1 blocks) and
/// writes `out[3i] = fd, out[3i + 1] = events`; for each event with EPOLLIN, EPOLLERR or EPOLLHUP
/// on an fd other than `skipFd`, it `recv(2)`s into bytes `[i * slotSize, (i + 1) * slotSize)` of
/// `area` and sets `out[3i + 2]` to the byte count (0 at end of stream) or `-errno`; an event it
/// did not read gets `-EAGAIN`. At most as many events as both `out` and `area` hold. Returns the
/// event count, or `-errno` (`-EINVAL` when there is room for no event).
#[napi]
pub fn epoll_poll_recv(
    epfd: i32,
    #[napi(ts_arg_type = "Int32Array")] mut out: BufferSlice,
    timeout_ms: i32,
    #[napi(ts_arg_type = "Uint8Array")] mut area: BufferSlice,
    slot_size: u32,
    skip_fd: i32,
) -> i32 {
    let slot_size = slot_size as usize;
    let max = (out.len() / (3 * INT)).min(area.len().checked_div(slot_size).unwrap_or(0));
    if max == 0 || overlap(&out, &area) {
        return -EINVAL;
    }
    EVENTS.with_borrow_mut(|events| match Poller::from_fd(epfd).poll(events, timeout(timeout_ms), max) {
        Ok(count) => {
            for (((fd, bits), entry), slot) in events.iter().zip(out.chunks_exact_mut(3 * INT)).zip(area.chunks_exact_mut(slot_size)) {
                let got = if bits & READ_EVENTS != 0 && fd != skip_fd {
                    socket::recv(fd, slot, 0).map_or_else(neg_errno, |n| n as i32)
                } else {
                    -EAGAIN
                };
                put(entry, 0, fd);
                put(entry, 1, bits as i32);
                put(entry, 2, got);
            }
            count as i32
        }
        Err(e) => neg_errno(e),
    })
}

/// For `i < count`: `send(2)` (MSG_NOSIGNAL) of bytes `[plan[3i + 1], plan[3i + 1] + plan[3i + 2])`
/// of `data` to fd `plan[3i]`, and sets `plan[3i + 2]` to the bytes the kernel took or `-errno`
/// (`-EINVAL` for a range outside `data`). Returns 0, or `-EINVAL` when the plan is too small for
/// `count` (nothing sent).
#[napi]
pub fn socket_send_many(
    #[napi(ts_arg_type = "Int32Array")] mut plan: BufferSlice,
    count: u32,
    #[napi(ts_arg_type = "Uint8Array")] data: BufferSlice,
) -> i32 {
    let count = count as usize;
    if count * 3 * INT > plan.len() || overlap(&data, &plan) {
        return -EINVAL;
    }
    for entry in plan.chunks_exact_mut(3 * INT).take(count) {
        let range = usize::try_from(int(entry, 1)).ok().zip(usize::try_from(int(entry, 2)).ok());
        let sent = match range.and_then(|(start, len)| data.get(start..start.checked_add(len)?)) {
            Some(bytes) => socket::send(int(entry, 0), bytes, 0).map_or_else(neg_errno, |n| n as i32),
            None => -EINVAL,
        };
        put(entry, 2, sent);
    }
    0
}

/// The `i`th native-endian i32 of a plan entry.
fn int(entry: &[u8], i: usize) -> i32 {
    let mut bytes = [0; INT];
    bytes.copy_from_slice(&entry[i * INT..(i + 1) * INT]);
    i32::from_ne_bytes(bytes)
}

/// Sets the `i`th native-endian i32 of a plan entry.
fn put(entry: &mut [u8], i: usize, value: i32) {
    entry[i * INT..(i + 1) * INT].copy_from_slice(&value.to_ne_bytes());
}

/// Whether two views share memory (two views of one ArrayBuffer).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (a.as_ptr_range(), b.as_ptr_range());
    a.start < b.end && b.start < a.end
}
