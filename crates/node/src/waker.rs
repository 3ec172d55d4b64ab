//! Native wakers for the IOLoop: another thread signals one to wake a loop that is blocked in
//! `poll`. One fd names each (an eventfd on Linux, a pipe's read end elsewhere); the JS side owns
//! it and closes it with `wakerClose`, never `fdClose`, which would leave a pipe's write end open.

use fdpoll_core::Waker;
use napi_derive::napi;

use crate::{neg_errno, status};

/// A new non-blocking, close-on-exec waker: its fd, or `-errno`.
#[napi]
pub fn waker_create() -> i32 {
    match Waker::new() {
        Ok(waker) => waker.into_fd(),
        Err(e) => neg_errno(e),
    }
}

/// Makes the waker readable (from any thread): 0 or `-errno`.
#[napi]
pub fn waker_signal(fd: i32) -> i32 {
    status(Waker::borrow(fd).wake())
}

/// Makes the waker unreadable again: 0 or `-errno`.
#[napi]
pub fn waker_reset(fd: i32) -> i32 {
    status(Waker::borrow(fd).reset())
}

/// Closes the waker: 0 or `-errno`.
#[napi]
pub fn waker_close(fd: i32) -> i32 {
    status(Waker::from_fd(fd).close())
}
