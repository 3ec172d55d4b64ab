//! Batched socket I/O: one boundary crossing for every connection of a poll's batch instead of
//! one per connection (the plans are `fdpoll_core::batch`'s). `epollPollRecv` waits and reads
//! every readable fd; `socketSendMany` sends to many. Their Int32Arrays of fds, events, ranges and
//! results are taken as native-endian bytes (as `epollPollInto` takes its output); each
//! connection's result is a byte count or `-errno`. The Int32Array and the data must not share
//! memory: such a call returns `-EINVAL` and does nothing.

use fdpoll_core::{batch, Poller};
use napi::bindgen_prelude::BufferSlice;
use napi_derive::napi;

use crate::epoll::{timeout, EVENTS};
use crate::{neg_errno, status, EINVAL};

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
    if overlap(&out, &area) {
        return -EINVAL;
    }
    EVENTS.with_borrow_mut(|events| {
        let polled = batch::poll_recv(Poller::from_fd(epfd), events, &mut out, timeout(timeout_ms), &mut area, slot_size as usize, skip_fd);
        polled.map_or_else(neg_errno, |count| count as i32)
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
    if overlap(&data, &plan) {
        return -EINVAL;
    }
    status(batch::send_many(&mut plan, count as usize, &data))
}

/// Whether two views share memory (two views of one ArrayBuffer).
fn overlap(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (a.as_ptr_range(), b.as_ptr_range());
    a.start < b.end && b.start < a.end
}
