//! The batched socket calls' plans: one call serves every connection of a poll's batch.
//! `poll_recv` waits and reads every readable fd; `send_many` sends to many. A plan is the bytes
//! of an Int32Array (native-endian i32s, three per connection) as JavaScript hands it over, so
//! any bytes at all give a result or EINVAL; each connection's result is a byte count or
//! `-errno`.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::{socket, Events, Poller, READ_EVENTS};

/// Bytes per i32 in a plan.
const INT: usize = 4;

/// Bytes per connection in a plan: three i32s.
pub const ENTRY: usize = 3 * INT;

/// How many events `poll_recv` may take: as many as both `out` (`ENTRY` bytes each) and `area`
/// (`slot_size` bytes each) hold; 0 when there is room for none.
pub fn recv_capacity(out_len: usize, area_len: usize, slot_size: usize) -> usize {
    (out_len / ENTRY).min(area_len.checked_div(slot_size).unwrap_or(0))
}

/// Waits on `poller` (up to `timeout`, `None` blocks) for at most `recv_capacity` events and
/// writes entry `i` of `out` as `[fd, events, got]`; for each event with EPOLLIN, EPOLLERR or
/// EPOLLHUP on an fd other than `skip_fd`, it `recv(2)`s into bytes `[i * slot_size, (i + 1) *
/// slot_size)` of `area` and `got` is the byte count (0 at end of stream) or `-errno`; an event it
/// did not read gets `-EAGAIN`. Entries and slots past the count are left as they were. Returns
/// the event count; EINVAL when there is room for no event (nothing waited for).
pub fn poll_recv(
    poller: Poller,
    events: &mut Events,
    out: &mut [u8],
    timeout: Option<Duration>,
    area: &mut [u8],
    slot_size: usize,
    skip_fd: RawFd,
) -> io::Result<usize> {
    let max = recv_capacity(out.len(), area.len(), slot_size);
    if max == 0 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let count = poller.poll(events, timeout, max)?;
    for (((fd, bits), entry), slot) in events.iter().zip(out.chunks_exact_mut(ENTRY)).zip(area.chunks_exact_mut(slot_size)) {
        let got = if bits & READ_EVENTS != 0 && fd != skip_fd {
            socket::recv(fd, slot, 0).map_or_else(neg_errno, |n| n as i32)
        } else {
            -libc::EAGAIN
        };
        put(entry, 0, fd);
        put(entry, 1, bits as i32);
        put(entry, 2, got);
    }
    Ok(count)
}

/// For each of the first `count` entries `[fd, start, len]` of `plan`: `send(2)` (never SIGPIPE)
/// of bytes `[start, start + len)` of `data` to `fd`, and sets `len` to the bytes the kernel took
/// or `-errno` (`-EINVAL` for a range outside `data`). EINVAL, with nothing sent, when `plan`
/// holds fewer than `count` entries.
pub fn send_many(plan: &mut [u8], count: usize, data: &[u8]) -> io::Result<()> {
    if count.checked_mul(ENTRY).is_none_or(|needed| needed > plan.len()) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    for entry in plan.chunks_exact_mut(ENTRY).take(count) {
        let sent = match range(data, int(entry, 1), int(entry, 2)) {
            Some(bytes) => socket::send(int(entry, 0), bytes, 0).map_or_else(neg_errno, |n| n as i32),
            None => -libc::EINVAL,
        };
        put(entry, 2, sent);
    }
    Ok(())
}

/// Bytes `[start, start + len)` of `data`, if they are all inside it.
fn range(data: &[u8], start: i32, len: i32) -> Option<&[u8]> {
    let start = usize::try_from(start).ok()?;
    data.get(start..start.checked_add(usize::try_from(len).ok()?)?)
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

/// A failure as a plan records it: `-errno` (EIO for one without an OS code).
fn neg_errno(e: io::Error) -> i32 {
    -e.raw_os_error().unwrap_or(libc::EIO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testing::write;

    fn plan(entries: &[[i32; 3]]) -> Vec<u8> {
        entries.iter().flatten().flat_map(|v| v.to_ne_bytes()).collect()
    }

    fn ints(bytes: &[u8]) -> Vec<i32> {
        bytes.chunks_exact(INT).map(|b| i32::from_ne_bytes(b.try_into().unwrap())).collect()
    }

    #[test]
    fn send_many_sends_each_range_and_refuses_those_outside_data() {
        let [a, b] = socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | socket::SOCK_NONBLOCK, 0).unwrap();
        let data = b"hello world";
        let mut entries = plan(&[[a, 0, 5], [a, 6, 6], [a, -1, 1], [a, 5, i32::MAX], [-1, 0, 1], [a, 0, 99]]);
        send_many(&mut entries, 5, data).unwrap();
        let mut got = [0; 32];
        assert_eq!(socket::recv(b, &mut got, 0).unwrap(), 5);
        assert_eq!(&got[..5], b"hello");
        let results: Vec<i32> = ints(&entries).chunks(3).map(|e| e[2]).collect();
        assert_eq!(results, [5, -libc::EINVAL, -libc::EINVAL, -libc::EINVAL, -libc::EBADF, 99]);
        let short = send_many(&mut plan(&[[a, 0, 1]]), 2, data).unwrap_err();
        assert_eq!(short.raw_os_error(), Some(libc::EINVAL));
        assert_eq!(send_many(&mut [], usize::MAX, data).unwrap_err().raw_os_error(), Some(libc::EINVAL));
        crate::close(a).unwrap();
        crate::close(b).unwrap();
    }

    #[test]
    fn poll_recv_reads_each_readable_fd_into_its_slot() {
        let poller = Poller::new().unwrap();
        let [a, b] = socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | socket::SOCK_NONBLOCK, 0).unwrap();
        poller.register(b, libc::EPOLLIN as u32).unwrap();
        write(a, b"ping!");
        let mut events = Events::new();
        let (mut out, mut area) = ([0xAA; 2 * ENTRY], [0xAA; 8]);
        assert_eq!(poll_recv(poller, &mut events, &mut out, Some(Duration::ZERO), &mut area, 4, -1).unwrap(), 1);
        assert_eq!(&ints(&out)[..3], [b, libc::EPOLLIN, 4]);
        assert_eq!(&out[ENTRY..], [0xAA; ENTRY], "entries past the count stay as they were");
        assert_eq!(&area, b"ping\xAA\xAA\xAA\xAA");
        assert_eq!(poll_recv(poller, &mut events, &mut out, Some(Duration::ZERO), &mut area, 4, b).unwrap(), 1);
        assert_eq!(&ints(&out)[..3], [b, libc::EPOLLIN, -libc::EAGAIN], "skip_fd is not read");
        for (out_len, area_len, slot) in [(ENTRY - 1, 8, 4), (ENTRY, 3, 4), (ENTRY, 8, 0)] {
            let err = poll_recv(poller, &mut events, &mut out[..out_len], None, &mut area[..area_len], slot, -1).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::EINVAL), "{out_len} {area_len} {slot}");
        }
        for fd in [a, b, poller.fd()] {
            crate::close(fd).unwrap();
        }
    }
}
