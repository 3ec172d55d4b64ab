//! `sendMany`'s plan: any entries `[fd, start, len]`, any plan length (cut mid-entry too), any
//! count and data. The fds are this target's own (the two ends of a socketpair it creates
//! once) or ones that are never open, never a number drawn from the input: a send to an fd of
//! libFuzzer's own would write into its files. Each entry's result must be `-EINVAL` exactly when
//! its range leaves the data, else the bytes the kernel took (what the peer then reads) or
//! `-errno`; a plan too short for the count is EINVAL with nothing sent.

#![no_main]

use std::sync::OnceLock;

use fdpoll_core::batch::{send_many, ENTRY};
use fdpoll_core::socket;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Input {
    entries: Vec<(Fd, i32, i32)>,
    /// Bytes cut from the end of the plan.
    cut: u8,
    count: u32,
    data: Vec<u8>,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Fd {
    /// One end of the socketpair.
    A,
    /// The other end.
    B,
    /// -1.
    Negative,
    /// i32::MAX, past any fd limit.
    Huge,
}

/// The socketpair, non-blocking, made once for the whole run.
fn pair() -> [i32; 2] {
    static PAIR: OnceLock<[i32; 2]> = OnceLock::new();
    *PAIR.get_or_init(|| socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | socket::SOCK_NONBLOCK, 0).expect("a socketpair"))
}

fuzz_target!(|input: Input| {
    let [a, b] = pair();
    let fd = |which: Fd| match which {
        Fd::A => a,
        Fd::B => b,
        Fd::Negative => -1,
        Fd::Huge => i32::MAX,
    };
    let mut plan: Vec<u8> = input.entries.iter().flat_map(|&(which, start, len)| [fd(which), start, len]).flat_map(i32::to_ne_bytes).collect();
    plan.truncate(plan.len().saturating_sub(input.cut.into()));
    let before = plan.clone();
    let count = input.count as usize;
    let result = send_many(&mut plan, count, &input.data);
    if count > plan.len() / ENTRY {
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        assert_eq!(plan, before);
        assert!(drain(a).is_empty() && drain(b).is_empty(), "sent despite EINVAL");
        return;
    }
    result.unwrap();
    assert_eq!(plan[count * ENTRY..], before[count * ENTRY..], "entries past the count changed");
    let (mut to_b, mut to_a) = (Vec::new(), Vec::new());
    for (i, &(which, start, len)) in input.entries.iter().take(count).enumerate() {
        let entry = &plan[i * ENTRY..(i + 1) * ENTRY];
        assert_eq!(entry[..8], before[i * ENTRY..i * ENTRY + 8], "fd or start changed");
        let got = i32::from_ne_bytes(entry[8..].try_into().unwrap());
        let bytes = usize::try_from(start).ok().zip(usize::try_from(len).ok()).and_then(|(s, n)| input.data.get(s..s.checked_add(n)?));
        match (bytes, which) {
            (None, _) => assert_eq!(got, -libc::EINVAL, "entry {i}"),
            (Some(_), Fd::Negative | Fd::Huge) => assert_eq!(got, -libc::EBADF, "entry {i}"),
            (Some(bytes), Fd::A | Fd::B) => {
                assert!(got == -libc::EAGAIN || (0..=len).contains(&got), "entry {i}: {got}");
                let sent = &bytes[..got.max(0) as usize];
                if matches!(which, Fd::A) { to_b.extend_from_slice(sent) } else { to_a.extend_from_slice(sent) }
            }
        }
    }
    assert_eq!(drain(b), to_b, "what b read");
    assert_eq!(drain(a), to_a, "what a read");
});

/// Everything waiting to be read on `fd`.
fn drain(fd: i32) -> Vec<u8> {
    let (mut all, mut buf) = (Vec::new(), [0; 65_536]);
    while let Ok(n @ 1..) = socket::recv(fd, &mut buf, 0) {
        all.extend_from_slice(&buf[..n]);
    }
    all
}
