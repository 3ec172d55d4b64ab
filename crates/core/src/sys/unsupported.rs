//! The WebAssembly build's backend until the in-memory engine takes its place: there is no OS
//! poller below it, so every call fails with ENOSYS (no poller can be created, and no fd is one).

use std::io;
use std::os::fd::RawFd;

use super::{Backend, Support};

/// The backend with no poller.
pub(crate) struct Unsupported;

/// ENOSYS: the call exists, but nothing below implements it.
fn enosys<T>() -> io::Result<T> {
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

impl Backend for Unsupported {
    const NAME: &'static str = "wasm";
    type RawEvent = (RawFd, u32);

    fn create() -> io::Result<RawFd> {
        enosys()
    }

    fn register(_epfd: RawFd, _fd: RawFd, _events: u32) -> io::Result<()> {
        enosys()
    }

    fn modify(_epfd: RawFd, _fd: RawFd, _events: u32) -> io::Result<()> {
        enosys()
    }

    fn unregister(_epfd: RawFd, _fd: RawFd) -> io::Result<()> {
        enosys()
    }

    fn wait(_epfd: RawFd, _buf: &mut Vec<(RawFd, u32)>, _max: usize, _timeout_ms: i32) -> io::Result<usize> {
        enosys()
    }

    fn event(event: &(RawFd, u32)) -> (RawFd, u32) {
        *event
    }

    fn close(_fd: RawFd) -> io::Result<()> {
        enosys()
    }

    /// No poller can be created, so no mode is ever in use: each is reported as a no-op.
    fn support(_mode: u32) -> Support {
        Support::Ignored
    }
}
