//! `NativeEpoll`: one `fdpoll_core::Poller` per JS `Epoll`. Every timeout here is in
//! milliseconds (`timeoutMs`, -1 blocks); every failure is returned as `-errno`.

use std::time::Duration;

use fdpoll_core::Poller;
use napi::bindgen_prelude::{Either, Uint32Array};
use napi_derive::napi;

use crate::{neg_errno, status};

/// EINVAL, for an output array with no room for one event.
const EINVAL: i32 = 22;

/// Creates a close-on-exec epoll instance, or returns `-errno`.
#[napi]
pub fn epoll_create() -> Either<NativeEpoll, i32> {
    match Poller::new() {
        Ok(poller) => Either::A(NativeEpoll { poller }),
        Err(e) => Either::B(neg_errno(e)),
    }
}

/// An epoll fd owned by a JS object: closed by `close()`, or when the object is collected.
#[napi]
pub struct NativeEpoll {
    poller: Poller,
}

#[napi]
impl NativeEpoll {
    /// Adopts an existing epoll fd (`Epoll.fromfd`): it is closed with this object.
    #[napi(constructor)]
    pub fn new(fd: i32) -> Self {
        NativeEpoll { poller: Poller::adopt(fd) }
    }

    /// The epoll fd, or -1 once closed.
    #[napi]
    pub fn fileno(&self) -> i32 {
        self.poller.fd()
    }

    /// `epoll_ctl(EPOLL_CTL_ADD)`: 0 or `-errno`.
    #[napi]
    pub fn register(&self, fd: i32, events: u32) -> i32 {
        status(self.poller.register(fd, events))
    }

    /// `epoll_ctl(EPOLL_CTL_MOD)`: 0 or `-errno`.
    #[napi]
    pub fn modify(&self, fd: i32, events: u32) -> i32 {
        status(self.poller.modify(fd, events))
    }

    /// `epoll_ctl(EPOLL_CTL_DEL)`: 0 or `-errno`.
    #[napi]
    pub fn unregister(&self, fd: i32) -> i32 {
        status(self.poller.unregister(fd))
    }

    /// Waits and returns the ready events packed as `[fd0, ev0, fd1, ev1, ...]`, or `-errno`.
    #[napi]
    pub fn poll(&mut self, timeout_ms: i32, maxevents: u32) -> Either<Uint32Array, i32> {
        match self.poller.poll(timeout(timeout_ms), maxevents as usize) {
            Ok(events) => {
                let mut packed = Vec::with_capacity(events.len() * 2);
                for (fd, bits) in events {
                    packed.extend_from_slice(&[fd as u32, bits]);
                }
                Either::A(Uint32Array::new(packed))
            }
            Err(e) => Either::B(neg_errno(e)),
        }
    }

    /// Waits and writes `out[2i] = fd, out[2i+1] = events` for at most `out.length / 2` events;
    /// returns the count, or `-errno`. Allocates nothing.
    #[napi]
    pub fn poll_into(&mut self, out: Either<&mut [i32], &mut [u32]>, timeout_ms: i32) -> i32 {
        match out {
            Either::A(signed) => self.fill(signed, timeout_ms, |fd, bits| [fd, bits as i32]),
            Either::B(unsigned) => self.fill(unsigned, timeout_ms, |fd, bits| [fd as u32, bits]),
        }
    }

    /// Closes the epoll fd: 0 or `-errno`. Idempotent.
    #[napi]
    pub fn close(&mut self) -> i32 {
        status(self.poller.close())
    }
}

impl NativeEpoll {
    fn fill<T>(&mut self, out: &mut [T], timeout_ms: i32, pair: impl Fn(i32, u32) -> [T; 2]) -> i32 {
        if out.len() < 2 {
            return -EINVAL; // no room for one event: polling would drop an edge-triggered one
        }
        match self.poller.poll(timeout(timeout_ms), out.len() / 2) {
            Ok(events) => {
                let count = events.len();
                for ((fd, bits), slot) in events.zip(out.chunks_exact_mut(2)) {
                    let [a, b] = pair(fd, bits);
                    slot[0] = a;
                    slot[1] = b;
                }
                count as i32
            }
            Err(e) => neg_errno(e),
        }
    }
}

/// `timeoutMs` as the core wants it: negative blocks.
fn timeout(timeout_ms: i32) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}
