//! `pollRecv`: any sizes of `out`, `area` and slot, any skip fd, over a real poller and up to
//! eight socketpairs this target creates per input (with data written, a peer closed or not,
//! any interest mask), polled with a zero timeout. No room for one event is EINVAL; else each
//! entry names a registered fd, its slot holds the first bytes written to it (or the result is
//! `-errno`, or `-EAGAIN` for an event not read), and nothing past the count or past a slot's
//! bytes is touched.

#![no_main]

use std::time::Duration;

use fdpoll_core::batch::{poll_recv, recv_capacity, ENTRY};
use fdpoll_core::bits::{EPOLLERR, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLPRI, EPOLLRDHUP, READ_EVENTS};
use fdpoll_core::{close, socket, Events, Poller};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
struct Conn {
    written: Vec<u8>,
    peer_closed: bool,
    interest: u32,
}

#[derive(Arbitrary, Debug)]
struct Input {
    conns: Vec<Conn>,
    out_len: u16,
    area_len: u16,
    slot_size: u16,
    /// Which connection's fd is `skip_fd` (none when past the last).
    skip: u8,
}

/// The interest bits a mask is drawn from.
const BITS: u32 = EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDHUP | EPOLLONESHOT | EPOLLET;

/// Fill for bytes nothing may touch.
const UNTOUCHED: u8 = 0xA5;

fuzz_target!(|input: Input| {
    let poller = Poller::new().expect("a poller");
    let conns = &input.conns[..input.conns.len().min(8)];
    let mut fds = Vec::new();
    for conn in conns {
        let [ours, peer] = socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | socket::SOCK_NONBLOCK, 0).expect("a socketpair");
        let written = socket::send(peer, &conn.written, 0).expect("room for the input");
        assert_eq!(written, conn.written.len());
        if conn.peer_closed {
            close(peer).unwrap();
        }
        poller.register(ours, conn.interest & BITS).unwrap();
        fds.push((ours, (!conn.peer_closed).then_some(peer)));
    }
    let skip_fd = fds.get(usize::from(input.skip)).map_or(-1, |&(ours, _)| ours);
    let (mut out, mut area) = (vec![UNTOUCHED; input.out_len.into()], vec![UNTOUCHED; input.area_len.into()]);
    let slot_size = usize::from(input.slot_size);
    let capacity = recv_capacity(out.len(), area.len(), slot_size);
    let result = poll_recv(poller, &mut Events::new(), &mut out, Some(Duration::ZERO), &mut area, slot_size, skip_fd);
    if capacity == 0 {
        assert_eq!(result.unwrap_err().raw_os_error(), Some(libc::EINVAL));
        assert!(out.iter().chain(&area).all(|&b| b == UNTOUCHED));
    } else {
        let count = result.unwrap();
        assert!(count <= capacity.min(fds.len()));
        for i in 0..count {
            let int = |k: usize| i32::from_ne_bytes(out[i * ENTRY + 4 * k..i * ENTRY + 4 * k + 4].try_into().unwrap());
            let (fd, bits, got) = (int(0), int(1) as u32, int(2));
            let conn = fds.iter().position(|&(ours, _)| ours == fd).map(|c| &conns[c]).expect("a registered fd");
            assert_ne!(bits, 0);
            let slot = &area[i * slot_size..(i + 1) * slot_size];
            if bits & READ_EVENTS == 0 || fd == skip_fd {
                assert_eq!(got, -libc::EAGAIN);
                assert!(slot.iter().all(|&b| b == UNTOUCHED));
            } else if got >= 0 {
                let got = got as usize;
                assert!(got <= slot_size && slot[..got] == conn.written[..got], "slot {i}");
                assert!(got > 0 || conn.written.is_empty());
                assert!(slot[got..].iter().all(|&b| b == UNTOUCHED));
            }
        }
        assert!(out[count * ENTRY..].iter().chain(&area[count * slot_size..]).all(|&b| b == UNTOUCHED));
    }
    for (ours, peer) in fds {
        close(ours).unwrap();
        peer.map(close).transpose().unwrap();
    }
    poller.close().unwrap();
});
