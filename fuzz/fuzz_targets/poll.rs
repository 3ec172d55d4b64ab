//! `Poll`'s pollfd array: any Int32Array of `[fd, events, revents]` triples JavaScript could
//! pass, through `poll(2)` with a zero timeout on this process's own fds (it only reads their
//! readiness). Bytes that are not whole triples are EINVAL, unchanged; else only each revents
//! is written, with a 16-bit value, and the result counts the triples whose revents is set.

#![no_main]

use std::time::Duration;

use fdpoll_core::multiplex::poll_packed;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut packed = data.to_vec();
    let result = poll_packed(&mut packed, &mut Vec::new(), Some(Duration::ZERO));
    if !data.len().is_multiple_of(12) {
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        assert_eq!(packed, data);
        return;
    }
    let count = result.unwrap();
    let mut set = 0;
    for (now, was) in packed.chunks_exact(12).zip(data.chunks_exact(12)) {
        assert_eq!(now[..8], was[..8], "fd or events changed");
        let revents = i32::from_ne_bytes(now[8..].try_into().unwrap());
        assert!((0..=0xffff).contains(&revents));
        set += usize::from(revents != 0);
    }
    assert_eq!(count, set);
});
