//! Sockets: Python's `socket` calls on raw fds, with one meaning on every Unix. Every fd made
//! here is close-on-exec; no send raises SIGPIPE; `accept`, `recv`, `recv_from`, `send` and
//! `send_to` retry EINTR, as Python does (PEP 475). The libc calls, and what each platform
//! needs for those promises, are in `sys::socket`.

use std::io;
use std::os::fd::RawFd;

use crate::address::Address;
use crate::sys::socket as sys;

pub use sys::{SOCK_CLOEXEC, SOCK_NONBLOCK};

/// `socket(2)`: a close-on-exec fd; non-blocking if `ty` has SOCK_NONBLOCK.
pub fn socket(family: i32, ty: i32, proto: i32) -> io::Result<RawFd> {
    sys::socket(family, ty, proto)
}

/// `socketpair(2)`: two connected close-on-exec fds; non-blocking if `ty` has SOCK_NONBLOCK.
pub fn socketpair(family: i32, ty: i32, proto: i32) -> io::Result<[RawFd; 2]> {
    sys::socketpair(family, ty, proto)
}

/// `bind(2)`.
pub fn bind(fd: RawFd, address: &Address) -> io::Result<()> {
    sys::bind(fd, address)
}

/// `connect(2)`; on a non-blocking socket it fails with EINPROGRESS while connecting.
pub fn connect(fd: RawFd, address: &Address) -> io::Result<()> {
    sys::connect(fd, address)
}

/// `listen(2)`.
pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    sys::listen(fd, backlog)
}

/// Accepts a connection: a close-on-exec fd, non-blocking when `nonblocking`, and the peer's
/// address as accept reported it (valid even when the peer has already reset the connection,
/// unlike a later getpeername).
pub fn accept(fd: RawFd, nonblocking: bool) -> io::Result<(RawFd, Address)> {
    retry(|| sys::accept(fd, nonblocking))
}

/// `recv(2)` into `buf`: the byte count, 0 at end of stream.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    retry(|| sys::recv(fd, buf, flags))
}

/// `recvfrom(2)` into `buf`: the length and the sender.
pub fn recv_from(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<(usize, Address)> {
    retry(|| sys::recv_from(fd, buf, flags))
}

/// `send(2)`: the bytes the kernel took (EPIPE, never SIGPIPE, once the peer is gone).
pub fn send(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    retry(|| sys::send(fd, buf, flags))
}

/// `sendto(2)`: the bytes sent.
pub fn send_to(fd: RawFd, buf: &[u8], flags: i32, address: &Address) -> io::Result<usize> {
    retry(|| sys::send_to(fd, buf, flags, address))
}

/// `shutdown(2)`.
pub fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    sys::shutdown(fd, how)
}

/// The local address (`getsockname(2)`).
pub fn local_address(fd: RawFd) -> io::Result<Address> {
    sys::local_address(fd)
}

/// The peer address (`getpeername(2)`).
pub fn peer_address(fd: RawFd) -> io::Result<Address> {
    sys::peer_address(fd)
}

/// Sets or clears O_NONBLOCK.
pub fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    sys::set_nonblocking(fd, nonblocking)
}

/// Whether O_NONBLOCK is set.
pub fn is_nonblocking(fd: RawFd) -> io::Result<bool> {
    sys::is_nonblocking(fd)
}

/// `setsockopt(2)` with the option's raw bytes.
pub fn set_option(fd: RawFd, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
    sys::set_option(fd, level, name, value)
}

/// `getsockopt(2)` into `buf`; returns the option's length.
pub fn get_option(fd: RawFd, level: i32, name: i32, buf: &mut [u8]) -> io::Result<usize> {
    sys::get_option(fd, level, name, buf)
}

/// Corks a TCP socket (`on`: partial segments are held) or uncorks it, which sends what was
/// held at once: TCP_CORK on Linux, TCP_NOPUSH on the BSDs.
pub fn set_cork(fd: RawFd, on: bool) -> io::Result<()> {
    sys::set_cork(fd, on)
}

/// Whether a TCP socket is corked.
pub fn is_corked(fd: RawFd) -> io::Result<bool> {
    sys::is_corked(fd)
}

/// Runs `call` again while it fails with EINTR.
fn retry<T>(mut call: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    loop {
        match call() {
            Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
            result => return result,
        }
    }
}
