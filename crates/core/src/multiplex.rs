//! Python's `select.poll` and `select.select` over `poll(2)` and `select(2)`: the O(n)
//! multiplexers, kept for parity and for measuring what epoll saves.

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use crate::sys::multiplex::{self as sys, FdSets};
use crate::timeout::{ceil_ms, ceil_us, retry_interrupted};

pub use sys::{PollFd, FD_SETSIZE};

/// An fd and the events `poll` asks for; `poll` fills in `revents`.
pub fn pollfd(fd: RawFd, events: i16) -> PollFd {
    PollFd { fd, events, revents: 0 }
}

/// `poll(2)`: waits (timeout rounded up to ms, EINTR retried) and fills each `revents`;
/// returns how many fds have events.
pub fn poll(fds: &mut [PollFd], timeout: Option<Duration>) -> io::Result<usize> {
    retry_interrupted(timeout, |left| sys::poll(fds, ceil_ms(left)))
}

/// Bytes per pollfd in a packed array: `[fd, events, revents]`, three native-endian i32s.
const TRIPLE: usize = 12;

/// `poll` over `packed`, the bytes of an Int32Array of `[fd, events, revents]` triples as
/// JavaScript passes them (events cut to 16 bits), with `fds` as the pollfd array (reused from
/// call to call, so a poll allocates nothing once it has grown): writes each `revents` back and
/// returns how many fds have events. EINVAL, with nothing polled, when the bytes are not whole
/// triples.
pub fn poll_packed(packed: &mut [u8], fds: &mut Vec<PollFd>, timeout: Option<Duration>) -> io::Result<usize> {
    if !packed.len().is_multiple_of(TRIPLE) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let word = |triple: &[u8], i: usize| i32::from_ne_bytes([triple[4 * i], triple[4 * i + 1], triple[4 * i + 2], triple[4 * i + 3]]);
    fds.clear();
    fds.extend(packed.chunks_exact(TRIPLE).map(|triple| pollfd(word(triple, 0), word(triple, 1) as i16)));
    let count = poll(fds, timeout)?;
    for (triple, fd) in packed.chunks_exact_mut(TRIPLE).zip(fds.iter()) {
        triple[8..].copy_from_slice(&i32::from(fd.revents as u16).to_ne_bytes());
    }
    Ok(count)
}

/// The fds `select` found ready, in the order they were asked for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Readable.
    pub read: Vec<RawFd>,
    /// Writable.
    pub write: Vec<RawFd>,
    /// With an exceptional condition (out-of-band data).
    pub except: Vec<RawFd>,
}

/// `select(2)` on three fd lists (every fd below FD_SETSIZE, else EINVAL): waits (timeout
/// rounded up to µs, EINTR retried) and returns the ready ones.
pub fn select(read: &[RawFd], write: &[RawFd], except: &[RawFd], timeout: Option<Duration>) -> io::Result<Ready> {
    let lists = [read, write, except];
    if lists.iter().flat_map(|l| l.iter()).any(|&fd| fd < 0 || fd as usize >= FD_SETSIZE) {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut sets = FdSets::new();
    retry_interrupted(timeout, |left| {
        sets = FdSets::new();
        for (which, list) in lists.iter().enumerate() {
            list.iter().for_each(|&fd| sets.insert(which, fd));
        }
        sets.select(ceil_us(left))
    })?;
    let ready = |which: usize| lists[which].iter().copied().filter(|&fd| sets.contains(which, fd)).collect();
    Ok(Ready { read: ready(0), write: ready(1), except: ready(2) })
}

/// `select` on three fd lists packed as JavaScript passes them, `[nRead, nWrite, nExcept,
/// ...read, ...write, ...except]`: overwrites each listed fd that is not ready with -1 and
/// returns how many entries are ready. EINVAL, with `packed` unchanged, when the counts are
/// negative or do not add up to the fds that follow, or an fd is outside `0..FD_SETSIZE`.
pub fn select_packed(packed: &mut [i32], timeout: Option<Duration>) -> io::Result<usize> {
    let einval = || io::Error::from_raw_os_error(libc::EINVAL);
    let (counts, fds) = packed.split_first_chunk_mut::<3>().ok_or_else(einval)?;
    let sizes = counts.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
    if sizes.iter().try_fold(0usize, |sum, &n| sum.checked_add(n)) != Some(fds.len()) {
        return Err(einval());
    }
    let (read, rest) = fds.split_at_mut(sizes[0]);
    let (write, except) = rest.split_at_mut(sizes[1]);
    let ready = select(read, write, except, timeout)?;
    let mut count = 0;
    for (listed, found) in [(read, &ready.read), (write, &ready.write), (except, &ready.except)] {
        let found = FdBits::of(found);
        for fd in listed.iter_mut() {
            if found.has(*fd) {
                count += 1;
            } else {
                *fd = -1;
            }
        }
    }
    Ok(count)
}

/// A set of fds below FD_SETSIZE, one bit each.
struct FdBits([u64; FD_SETSIZE / 64]);

impl FdBits {
    /// The set of `fds`, every one of which `select` checked to be below FD_SETSIZE.
    fn of(fds: &[RawFd]) -> FdBits {
        let mut bits = FdBits([0; FD_SETSIZE / 64]);
        for &fd in fds {
            bits.0[fd as usize / 64] |= 1 << (fd as usize % 64);
        }
        bits
    }

    fn has(&self, fd: RawFd) -> bool {
        self.0[fd as usize / 64] & (1 << (fd as usize % 64)) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testing::{pipe, write};

    #[test]
    fn poll_and_select_see_a_readable_pipe() {
        let (r, w) = pipe();
        let mut fds = [pollfd(r, libc::POLLIN), pollfd(w, libc::POLLOUT)];
        assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 1);
        assert_eq!((fds[0].revents, fds[1].revents), (0, libc::POLLOUT));
        write(w, b"x");
        assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 2);
        assert_eq!(fds[0].revents, libc::POLLIN);
        let ready = select(&[r, w], &[w], &[r], Some(Duration::ZERO)).unwrap();
        assert_eq!(ready, Ready { read: vec![r], write: vec![w], except: vec![] });
        crate::close(r).unwrap();
        crate::close(w).unwrap();
    }

    #[test]
    fn select_refuses_fds_past_fd_setsize_and_times_out() {
        let err = select(&[FD_SETSIZE as RawFd], &[], &[], Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EINVAL));
        let start = std::time::Instant::now();
        assert_eq!(select(&[], &[], &[], Some(Duration::from_millis(20))).unwrap(), Ready::default());
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn poll_packed_writes_only_each_revents_and_refuses_partial_triples() {
        let (r, w) = pipe();
        let ints = [r, i32::from(libc::POLLIN), 77, w, 0x7_0000 | i32::from(libc::POLLOUT), 77, -1, i32::from(libc::POLLIN), 77];
        let mut packed: Vec<u8> = ints.iter().flat_map(|v| v.to_ne_bytes()).collect();
        let mut fds = Vec::new();
        assert_eq!(poll_packed(&mut packed, &mut fds, Some(Duration::ZERO)).unwrap(), 1);
        let after: Vec<i32> = packed.chunks_exact(4).map(|b| i32::from_ne_bytes(b.try_into().unwrap())).collect();
        assert_eq!(after, [ints[0], ints[1], 0, ints[3], ints[4], i32::from(libc::POLLOUT), -1, ints[7], 0]);
        let mut partial = packed[..TRIPLE + 4].to_vec();
        let err = poll_packed(&mut partial, &mut fds, Some(Duration::ZERO)).unwrap_err();
        assert_eq!((err.raw_os_error(), &partial[..]), (Some(libc::EINVAL), &packed[..TRIPLE + 4]));
        crate::close(r).unwrap();
        crate::close(w).unwrap();
    }

    #[test]
    fn select_packed_marks_what_is_not_ready_and_refuses_malformed_lists() {
        let (r, w) = pipe();
        write(w, b"x");
        let mut packed = [2, 1, 1, r, w, w, r];
        assert_eq!(select_packed(&mut packed, Some(Duration::ZERO)).unwrap(), 2);
        assert_eq!(packed, [2, 1, 1, r, -1, w, -1]);
        for bad in [&[0, 0][..], &[1, 0, 0], &[-1, 1, 0, r], &[0, 0, 1, -1], &[1, 0, 0, FD_SETSIZE as RawFd]] {
            let mut copy = bad.to_vec();
            let err = select_packed(&mut copy, Some(Duration::ZERO)).unwrap_err();
            assert_eq!((err.raw_os_error(), &copy[..]), (Some(libc::EINVAL), bad), "{bad:?}");
        }
        crate::close(r).unwrap();
        crate::close(w).unwrap();
    }
}
