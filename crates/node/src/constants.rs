//! The socket and poll(2) constants of the platform this addon was built for (libc's values),
//! which `src/constants.ts` re-exports under Python's names. Where the platform lacks one:
//! - an option (or level) number is `NO_OPTION`, -1, which every kernel refuses (ENOPROTOOPT or
//!   EINVAL), so Linux-only code fails loudly instead of setting some other option;
//! - a flag is `NO_FLAG`, 0: asking for it asks nothing, and it is never reported.
//!
//! SOCK_NONBLOCK and SOCK_CLOEXEC are fdpoll's own bits where the platform has none (macOS):
//! fdpoll's socket calls apply them with fcntl. The epoll constants are not here: they are
//! fdpoll's own values on every platform. The WebAssembly build, whose sockets are not the OS's,
//! has Linux's values (`linux` below), as the epoll constants are.

#[cfg(unix)]
use fdpoll_core::socket;
use napi_derive::napi;

// On WebAssembly the names below read Linux's values from `linux`.
#[cfg(not(unix))]
use linux as libc;
#[cfg(not(unix))]
use linux as platform;
#[cfg(not(unix))]
use linux as socket;

/// An option or level number the platform does not have (Linux has them all).
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
const NO_OPTION: i32 = -1;
/// A flag the platform does not have.
#[cfg(all(unix, not(any(target_os = "linux", target_os = "android"))))]
const NO_FLAG: i32 = 0;

/// Local (Unix domain) sockets.
#[napi]
pub const AF_UNIX: i32 = libc::AF_UNIX;
/// IPv4.
#[napi]
pub const AF_INET: i32 = libc::AF_INET;
/// IPv6.
#[napi]
pub const AF_INET6: i32 = libc::AF_INET6;
/// Stream sockets (TCP).
#[napi]
pub const SOCK_STREAM: i32 = libc::SOCK_STREAM;
/// Datagram sockets (UDP).
#[napi]
pub const SOCK_DGRAM: i32 = libc::SOCK_DGRAM;
/// `type` flag: create the socket non-blocking.
#[napi]
pub const SOCK_NONBLOCK: i32 = socket::SOCK_NONBLOCK;
/// `type` flag: close on exec (always set by fdpoll).
#[napi]
pub const SOCK_CLOEXEC: i32 = socket::SOCK_CLOEXEC;
/// Socket-level options.
#[napi]
pub const SOL_SOCKET: i32 = libc::SOL_SOCKET;
/// Allow binding a port in TIME_WAIT.
#[napi]
pub const SO_REUSEADDR: i32 = libc::SO_REUSEADDR;
/// The socket's type.
#[napi]
pub const SO_TYPE: i32 = libc::SO_TYPE;
/// Pending error.
#[napi]
pub const SO_ERROR: i32 = libc::SO_ERROR;
/// Allow broadcast datagrams.
#[napi]
pub const SO_BROADCAST: i32 = libc::SO_BROADCAST;
/// Send buffer size.
#[napi]
pub const SO_SNDBUF: i32 = libc::SO_SNDBUF;
/// Receive buffer size.
#[napi]
pub const SO_RCVBUF: i32 = libc::SO_RCVBUF;
/// TCP keep-alive probes.
#[napi]
pub const SO_KEEPALIVE: i32 = libc::SO_KEEPALIVE;
/// Linger on close.
#[napi]
pub const SO_LINGER: i32 = libc::SO_LINGER;
/// Several sockets may bind the same port.
#[napi]
pub const SO_REUSEPORT: i32 = libc::SO_REUSEPORT;
/// The socket's protocol (Linux, FreeBSD; -1 elsewhere).
#[napi]
pub const SO_PROTOCOL: i32 = platform::SO_PROTOCOL;
/// The socket's family (Linux, FreeBSD; -1 elsewhere).
#[napi]
pub const SO_DOMAIN: i32 = platform::SO_DOMAIN;
/// IP protocol (level for IP options).
#[napi]
pub const IPPROTO_IP: i32 = libc::IPPROTO_IP;
/// TCP (level for TCP options).
#[napi]
pub const IPPROTO_TCP: i32 = libc::IPPROTO_TCP;
/// UDP.
#[napi]
pub const IPPROTO_UDP: i32 = libc::IPPROTO_UDP;
/// IPv6 (level for IPv6 options).
#[napi]
pub const IPPROTO_IPV6: i32 = libc::IPPROTO_IPV6;
/// Restrict an AF_INET6 socket to IPv6.
#[napi]
pub const IPV6_V6ONLY: i32 = libc::IPV6_V6ONLY;
/// No Nagle buffering.
#[napi]
pub const TCP_NODELAY: i32 = libc::TCP_NODELAY;
/// Linux's cork (-1 elsewhere; `setCork` corks on every platform).
#[napi]
pub const TCP_CORK: i32 = platform::TCP_CORK;
/// Idle seconds before keep-alive probes (Apple's TCP_KEEPALIVE, the same option).
#[napi]
pub const TCP_KEEPIDLE: i32 = platform::TCP_KEEPIDLE;
/// Seconds between keep-alive probes.
#[napi]
pub const TCP_KEEPINTVL: i32 = libc::TCP_KEEPINTVL;
/// Keep-alive probes before the connection is dropped.
#[napi]
pub const TCP_KEEPCNT: i32 = libc::TCP_KEEPCNT;
/// Wake accept() only when data arrives (Linux; -1 elsewhere).
#[napi]
pub const TCP_DEFER_ACCEPT: i32 = platform::TCP_DEFER_ACCEPT;
/// Send ACKs at once (Linux; -1 elsewhere).
#[napi]
pub const TCP_QUICKACK: i32 = platform::TCP_QUICKACK;
/// TCP Fast Open on a listening socket.
#[napi]
pub const TCP_FASTOPEN: i32 = libc::TCP_FASTOPEN;
/// `shutdown`: no more receives.
#[napi]
pub const SHUT_RD: i32 = libc::SHUT_RD;
/// `shutdown`: no more sends.
#[napi]
pub const SHUT_WR: i32 = libc::SHUT_WR;
/// `shutdown`: neither.
#[napi]
pub const SHUT_RDWR: i32 = libc::SHUT_RDWR;
/// `recv` flag: look without consuming.
#[napi]
pub const MSG_PEEK: i32 = libc::MSG_PEEK;
/// `recv`/`send` flag: do not block this call.
#[napi]
pub const MSG_DONTWAIT: i32 = libc::MSG_DONTWAIT;
/// `recv` flag: wait for the full amount.
#[napi]
pub const MSG_WAITALL: i32 = libc::MSG_WAITALL;
/// `send` flag: no SIGPIPE (0 on Apple, where fdpoll's sockets carry SO_NOSIGPIPE instead).
#[napi]
pub const MSG_NOSIGNAL: i32 = platform::MSG_NOSIGNAL;
/// The C library's cap on `listen` backlogs.
#[napi]
pub const SOMAXCONN: i32 = libc::SOMAXCONN;

/// Readable.
#[napi]
pub const POLLIN: i32 = libc::POLLIN as i32;
/// Urgent data to read.
#[napi]
pub const POLLPRI: i32 = libc::POLLPRI as i32;
/// Writable.
#[napi]
pub const POLLOUT: i32 = libc::POLLOUT as i32;
/// Error.
#[napi]
pub const POLLERR: i32 = libc::POLLERR as i32;
/// Hang up.
#[napi]
pub const POLLHUP: i32 = libc::POLLHUP as i32;
/// The fd is not open.
#[napi]
pub const POLLNVAL: i32 = libc::POLLNVAL as i32;
/// Normal data readable.
#[napi]
pub const POLLRDNORM: i32 = libc::POLLRDNORM as i32;
/// Priority data readable.
#[napi]
pub const POLLRDBAND: i32 = libc::POLLRDBAND as i32;
/// Normal data writable.
#[napi]
pub const POLLWRNORM: i32 = libc::POLLWRNORM as i32;
/// Priority data writable.
#[napi]
pub const POLLWRBAND: i32 = libc::POLLWRBAND as i32;
/// Linux's unused POLLMSG (0 elsewhere).
#[napi]
pub const POLLMSG: i32 = platform::POLLMSG;
/// The peer shut down its writing half (Linux, FreeBSD; 0 elsewhere).
#[napi]
pub const POLLRDHUP: i32 = platform::POLLRDHUP;

/// The constants whose presence differs between platforms.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod platform {
    pub const SO_PROTOCOL: i32 = libc::SO_PROTOCOL;
    pub const SO_DOMAIN: i32 = libc::SO_DOMAIN;
    pub const TCP_CORK: i32 = libc::TCP_CORK;
    pub const TCP_KEEPIDLE: i32 = libc::TCP_KEEPIDLE;
    pub const TCP_DEFER_ACCEPT: i32 = libc::TCP_DEFER_ACCEPT;
    pub const TCP_QUICKACK: i32 = libc::TCP_QUICKACK;
    pub const MSG_NOSIGNAL: i32 = libc::MSG_NOSIGNAL;
    /// glibc's and musl's POLLMSG, which the libc crate does not name.
    pub const POLLMSG: i32 = 0x400;
    pub const POLLRDHUP: i32 = libc::POLLRDHUP as i32;
}

/// The constants whose presence differs between platforms.
#[cfg(target_os = "freebsd")]
mod platform {
    use super::{NO_FLAG, NO_OPTION};
    pub const SO_PROTOCOL: i32 = libc::SO_PROTOCOL;
    pub const SO_DOMAIN: i32 = libc::SO_DOMAIN;
    pub const TCP_CORK: i32 = NO_OPTION;
    pub const TCP_KEEPIDLE: i32 = libc::TCP_KEEPIDLE;
    pub const TCP_DEFER_ACCEPT: i32 = NO_OPTION;
    pub const TCP_QUICKACK: i32 = NO_OPTION;
    pub const MSG_NOSIGNAL: i32 = libc::MSG_NOSIGNAL;
    pub const POLLMSG: i32 = NO_FLAG;
    pub const POLLRDHUP: i32 = libc::POLLRDHUP as i32;
}

/// The constants whose presence differs between platforms.
#[cfg(target_vendor = "apple")]
mod platform {
    use super::{NO_FLAG, NO_OPTION};
    pub const SO_PROTOCOL: i32 = NO_OPTION;
    pub const SO_DOMAIN: i32 = NO_OPTION;
    pub const TCP_CORK: i32 = NO_OPTION;
    pub const TCP_KEEPIDLE: i32 = libc::TCP_KEEPALIVE;
    pub const TCP_DEFER_ACCEPT: i32 = NO_OPTION;
    pub const TCP_QUICKACK: i32 = NO_OPTION;
    pub const MSG_NOSIGNAL: i32 = NO_FLAG;
    pub const POLLMSG: i32 = NO_FLAG;
    pub const POLLRDHUP: i32 = NO_FLAG;
}

/// Linux's values of the constants, for the WebAssembly build; checked against libc's on Linux.
macro_rules! linux_values {
    ($($name:ident: $ty:ty = $value:expr;)*) => {
        #[cfg(any(not(unix), all(test, target_os = "linux")))]
        mod linux {
            $(pub const $name: $ty = $value;)*
            /// glibc's and musl's POLLMSG, which the libc crate does not name.
            pub const POLLMSG: i32 = 0x400;
            /// glibc's (musl's is 128): Node's own listen() caps the backlog anyway.
            pub const SOMAXCONN: i32 = 4096;
        }

        #[cfg(all(test, target_os = "linux"))]
        #[test]
        fn the_linux_values_are_libcs() {
            $(assert_eq!(linux::$name, libc::$name as $ty, stringify!($name));)*
        }
    };
}

linux_values! {
    AF_UNIX: i32 = 1;
    AF_INET: i32 = 2;
    AF_INET6: i32 = 10;
    SOCK_STREAM: i32 = 1;
    SOCK_DGRAM: i32 = 2;
    SOCK_NONBLOCK: i32 = 0o4000;
    SOCK_CLOEXEC: i32 = 0o2000000;
    SOL_SOCKET: i32 = 1;
    SO_REUSEADDR: i32 = 2;
    SO_TYPE: i32 = 3;
    SO_ERROR: i32 = 4;
    SO_BROADCAST: i32 = 6;
    SO_SNDBUF: i32 = 7;
    SO_RCVBUF: i32 = 8;
    SO_KEEPALIVE: i32 = 9;
    SO_LINGER: i32 = 13;
    SO_REUSEPORT: i32 = 15;
    SO_PROTOCOL: i32 = 38;
    SO_DOMAIN: i32 = 39;
    IPPROTO_IP: i32 = 0;
    IPPROTO_TCP: i32 = 6;
    IPPROTO_UDP: i32 = 17;
    IPPROTO_IPV6: i32 = 41;
    IPV6_V6ONLY: i32 = 26;
    TCP_NODELAY: i32 = 1;
    TCP_CORK: i32 = 3;
    TCP_KEEPIDLE: i32 = 4;
    TCP_KEEPINTVL: i32 = 5;
    TCP_KEEPCNT: i32 = 6;
    TCP_DEFER_ACCEPT: i32 = 9;
    TCP_QUICKACK: i32 = 12;
    TCP_FASTOPEN: i32 = 23;
    SHUT_RD: i32 = 0;
    SHUT_WR: i32 = 1;
    SHUT_RDWR: i32 = 2;
    MSG_PEEK: i32 = 0x2;
    MSG_DONTWAIT: i32 = 0x40;
    MSG_WAITALL: i32 = 0x100;
    MSG_NOSIGNAL: i32 = 0x4000;
    POLLIN: i16 = 0x1;
    POLLPRI: i16 = 0x2;
    POLLOUT: i16 = 0x4;
    POLLERR: i16 = 0x8;
    POLLHUP: i16 = 0x10;
    POLLNVAL: i16 = 0x20;
    POLLRDNORM: i16 = 0x40;
    POLLRDBAND: i16 = 0x80;
    POLLWRNORM: i16 = 0x100;
    POLLWRBAND: i16 = 0x200;
    POLLRDHUP: i32 = 0x2000;
}
