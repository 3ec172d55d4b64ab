//! The `select()` fd list: any Int32Array `[nRead, nWrite, nExcept, ...fds]` JavaScript could
//! pass, through `select(2)` with a zero timeout on this process's own fds (it only reads their
//! readiness). A malformed list or an fd outside `0..FD_SETSIZE` is EINVAL with the list
//! unchanged; a well-formed one is a result (or EBADF for an fd that is not open), and each entry
//! is then its fd or -1, with the count of those left.

#![no_main]

use std::time::Duration;

use fdpoll_core::multiplex::{select_packed, FD_SETSIZE};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut packed: Vec<i32> = data.chunks_exact(4).map(|b| i32::from_ne_bytes([b[0], b[1], b[2], b[3]])).collect();
    let before = packed.clone();
    let result = select_packed(&mut packed, Some(Duration::ZERO));
    match result {
        Ok(count) => {
            assert!(well_formed(&before));
            assert_eq!(packed[..3], before[..3]);
            assert!(packed[3..].iter().zip(&before[3..]).all(|(&now, &was)| now == was || now == -1));
            assert_eq!(count, packed[3..].iter().filter(|&&fd| fd != -1).count());
        }
        Err(e) => {
            let expected = if well_formed(&before) { libc::EBADF } else { libc::EINVAL };
            assert_eq!(e.raw_os_error(), Some(expected), "{before:?}");
            assert_eq!(packed, before);
        }
    }
});

/// Three counts that are not negative and add up to the fds that follow, each in `0..FD_SETSIZE`.
fn well_formed(packed: &[i32]) -> bool {
    let Some((counts, fds)) = packed.split_first_chunk::<3>() else { return false };
    let total: i64 = counts.iter().map(|&n| i64::from(n)).sum();
    counts.iter().all(|&n| n >= 0) && total == fds.len() as i64 && fds.iter().all(|&fd| (0..FD_SETSIZE as i32).contains(&fd))
}
