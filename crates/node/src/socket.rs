//! Native socket functions over raw fds (the TypeScript `Socket` owns the fd). Each returns
//! its result or `-errno`; a host name that does not resolve returns `GAI_NOT_FOUND`.

use std::net::SocketAddr;

use fdpoll_core::{resolve, socket, Address, ResolveError};
use napi::bindgen_prelude::{BufferSlice, Either};
use napi_derive::napi;

use crate::{neg_errno, status};

/// Returned when a host name does not resolve (Python's `socket.gaierror`).
#[napi]
pub const GAI_NOT_FOUND: i32 = -65_536;

/// getaddrinfo's code for a host name that does not resolve, which `socket.gaierror` carries.
#[napi]
pub const EAI_NONAME: i32 = libc::EAI_NONAME;

/// The C library's message for a getaddrinfo error code (`gai_strerror`).
#[napi]
pub fn gai_message(code: i32) -> String {
    fdpoll_core::address::gai_message(code)
}

/// A socket address as it crosses the boundary; for AF_UNIX `host` is the path.
#[napi(object)]
pub struct SockAddress {
    pub family: i32,
    pub host: String,
    pub port: u32,
    pub flowinfo: u32,
    pub scope_id: u32,
}

/// What `socketRecvfrom` returns: the byte count and the sender.
#[napi(object)]
pub struct Received {
    pub nbytes: u32,
    pub address: SockAddress,
}

/// `socket(2)`, close-on-exec: the new fd or `-errno`.
#[napi]
pub fn socket_create(family: i32, ty: i32, proto: i32) -> i32 {
    socket::socket(family, ty, proto).unwrap_or_else(neg_errno)
}

/// `socketpair(2)`, close-on-exec: the two fds, or `-errno`.
#[napi]
pub fn socket_pair(family: i32, ty: i32, proto: i32) -> Either<Vec<i32>, i32> {
    socket::socketpair(family, ty, proto).map_or_else(|e| Either::B(neg_errno(e)), |fds| Either::A(fds.to_vec()))
}

/// `bind(2)` to a resolved address: 0, `-errno` or `GAI_NOT_FOUND`.
#[napi]
pub fn socket_bind(fd: i32, family: i32, host: String, port: u32, flowinfo: u32, scope_id: u32) -> i32 {
    with_address(family, &host, port, flowinfo, scope_id, |a| status(socket::bind(fd, a)))
}

/// `connect(2)` to a resolved address: 0, `-errno` (-EINPROGRESS when non-blocking) or `GAI_NOT_FOUND`.
#[napi]
pub fn socket_connect(fd: i32, family: i32, host: String, port: u32, flowinfo: u32, scope_id: u32) -> i32 {
    with_address(family, &host, port, flowinfo, scope_id, |a| status(socket::connect(fd, a)))
}

/// `listen(2)`: 0 or `-errno`.
#[napi]
pub fn socket_listen(fd: i32, backlog: i32) -> i32 {
    status(socket::listen(fd, backlog))
}

/// What `socketAccept` returns: the new fd and the peer's address.
#[napi(object)]
pub struct Accepted {
    pub fd: i32,
    pub address: SockAddress,
}

/// Accepts a connection, close-on-exec and optionally non-blocking: the new fd and the peer, or
/// `-errno`.
#[napi]
pub fn socket_accept(fd: i32, nonblocking: bool) -> Either<Accepted, i32> {
    match socket::accept(fd, nonblocking) {
        Ok((fd, address)) => Either::A(Accepted { fd, address: to_js(address) }),
        Err(e) => Either::B(neg_errno(e)),
    }
}

/// Accepts a connection, close-on-exec and non-blocking, for the fast path: the new fd or
/// `-errno`, and no address object.
#[napi]
pub fn socket_accept_fd(fd: i32) -> i32 {
    socket::accept(fd, true).map_or_else(neg_errno, |(conn, _)| conn)
}

/// `recv(2)` into `buf`: the byte count (0 at end of stream) or `-errno`.
#[napi]
pub fn socket_recv(fd: i32, #[napi(ts_arg_type = "Uint8Array")] mut buf: BufferSlice, flags: i32) -> i32 {
    socket::recv(fd, &mut buf, flags).map_or_else(neg_errno, |n| n as i32)
}

/// `recvfrom(2)` into `buf`: the byte count and the sender, or `-errno`.
#[napi]
pub fn socket_recvfrom(fd: i32, mut buf: BufferSlice, flags: i32) -> Either<Received, i32> {
    match socket::recv_from(fd, &mut buf, flags) {
        Ok((n, address)) => Either::A(Received { nbytes: n as u32, address: to_js(address) }),
        Err(e) => Either::B(neg_errno(e)),
    }
}

/// `send(2)`, never raising SIGPIPE: the bytes the kernel took, or `-errno`.
#[napi]
pub fn socket_send(fd: i32, #[napi(ts_arg_type = "Uint8Array")] buf: BufferSlice, flags: i32) -> i32 {
    socket::send(fd, &buf, flags).map_or_else(neg_errno, |n| n as i32)
}

/// `sendto(2)`, never raising SIGPIPE: the bytes sent, `-errno` or `GAI_NOT_FOUND`.
#[napi]
#[allow(clippy::too_many_arguments)]
pub fn socket_sendto(fd: i32, buf: &[u8], flags: i32, family: i32, host: String, port: u32, flowinfo: u32, scope_id: u32) -> i32 {
    with_address(family, &host, port, flowinfo, scope_id, |a| {
        socket::send_to(fd, buf, flags, a).map_or_else(neg_errno, |n| n as i32)
    })
}

/// `shutdown(2)`: 0 or `-errno`.
#[napi]
pub fn socket_shutdown(fd: i32, how: i32) -> i32 {
    status(socket::shutdown(fd, how))
}

/// `getsockname(2)` (or `getpeername(2)` when `peer`): the address, or `-errno`.
#[napi]
pub fn socket_name(fd: i32, peer: bool) -> Either<SockAddress, i32> {
    let name = if peer { socket::peer_address(fd) } else { socket::local_address(fd) };
    name.map_or_else(|e| Either::B(neg_errno(e)), |a| Either::A(to_js(a)))
}

/// Sets (`blocking` false) or clears O_NONBLOCK: 0 or `-errno`.
#[napi]
pub fn socket_set_blocking(fd: i32, blocking: bool) -> i32 {
    status(socket::set_nonblocking(fd, !blocking))
}

/// 1 if the fd is blocking, 0 if not, or `-errno`.
#[napi]
pub fn socket_get_blocking(fd: i32) -> i32 {
    socket::is_nonblocking(fd).map_or_else(neg_errno, |nb| i32::from(!nb))
}

/// `setsockopt(2)` with the option's raw bytes: 0 or `-errno`.
#[napi]
pub fn socket_setsockopt(fd: i32, level: i32, name: i32, value: &[u8]) -> i32 {
    status(socket::set_option(fd, level, name, value))
}

/// `getsockopt(2)` into `buf`: the option's length or `-errno`.
#[napi]
pub fn socket_getsockopt(fd: i32, level: i32, name: i32, mut buf: BufferSlice) -> i32 {
    socket::get_option(fd, level, name, &mut buf).map_or_else(neg_errno, |n| n as i32)
}

/// Corks a TCP socket (`on`) or uncorks it, which sends what was held (TCP_CORK on Linux,
/// TCP_NOPUSH on the BSDs): 0 or `-errno`.
#[napi]
pub fn socket_set_cork(fd: i32, on: bool) -> i32 {
    status(socket::set_cork(fd, on))
}

fn with_address(family: i32, host: &str, port: u32, flowinfo: u32, scope_id: u32, call: impl FnOnce(&Address) -> i32) -> i32 {
    match resolve(family, host, port, flowinfo, scope_id) {
        Ok(address) => call(&address),
        Err(ResolveError::NotFound(_)) => GAI_NOT_FOUND,
        Err(e) => neg_errno(e.into()),
    }
}

fn to_js(address: Address) -> SockAddress {
    let family = address.family();
    match address {
        Address::Inet(SocketAddr::V4(v4)) => {
            SockAddress { family, host: v4.ip().to_string(), port: v4.port().into(), flowinfo: 0, scope_id: 0 }
        }
        Address::Inet(SocketAddr::V6(v6)) => SockAddress {
            family,
            host: v6.ip().to_string(),
            port: v6.port().into(),
            flowinfo: v6.flowinfo(),
            scope_id: v6.scope_id(),
        },
        Address::Unix(path) => {
            SockAddress { family, host: String::from_utf8_lossy(&path).into_owned(), port: 0, flowinfo: 0, scope_id: 0 }
        }
    }
}
