//! BSD socket calls through libc, one call each (`crate::socket` retries EINTR), with what each
//! Unix needs so that every fd made here is close-on-exec and no send raises SIGPIPE:
//! - Linux, Android, FreeBSD: SOCK_CLOEXEC (and SOCK_NONBLOCK) on socket(), socketpair() and
//!   accept4(), atomically; MSG_NOSIGNAL on every send.
//! - macOS and every other Unix: plain socket(), socketpair() and accept(), then fcntl for
//!   FD_CLOEXEC and O_NONBLOCK (a fork in another thread between the two can inherit the fd; no
//!   API closes that window there). Apple has no MSG_NOSIGNAL: SO_NOSIGPIPE is set on each fd.

use std::ffi::CStr;
use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use crate::address::Address;

/// `type` flag: create the socket non-blocking. The platform's own flag where it has one; on the
/// others a bit no socket type uses, which `socket` and `socketpair` apply with fcntl.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub const SOCK_NONBLOCK: i32 = libc::SOCK_NONBLOCK;
/// `type` flag: close on exec (always added). As SOCK_NONBLOCK: the platform's, or fdpoll's own.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub const SOCK_CLOEXEC: i32 = libc::SOCK_CLOEXEC;
/// `type` flag: create the socket non-blocking. The platform's own flag where it has one; on the
/// others a bit no socket type uses (FreeBSD's value), which `socket` and `socketpair` apply with
/// fcntl.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub const SOCK_NONBLOCK: i32 = 0x2000_0000;
/// `type` flag: close on exec (always added). As SOCK_NONBLOCK: the platform's, or fdpoll's own.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub const SOCK_CLOEXEC: i32 = 0x1000_0000;

/// Added to every send's flags: MSG_NOSIGNAL, or nothing on Apple, whose fds carry SO_NOSIGPIPE.
#[cfg(not(target_vendor = "apple"))]
const NO_SIGNAL: i32 = libc::MSG_NOSIGNAL;
#[cfg(target_vendor = "apple")]
const NO_SIGNAL: i32 = 0;

/// The IPPROTO_TCP option that holds partial segments: Linux's TCP_CORK, the BSDs' TCP_NOPUSH.
#[cfg(any(target_os = "linux", target_os = "android"))]
const CORK: i32 = libc::TCP_CORK;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const CORK: i32 = libc::TCP_NOPUSH;

/// `socket(2)`, close-on-exec, non-blocking if `ty` has SOCK_NONBLOCK.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub fn socket(family: i32, ty: i32, proto: i32) -> io::Result<RawFd> {
    // SAFETY: no pointers are passed.
    check(unsafe { libc::socket(family, ty | SOCK_CLOEXEC, proto) })
}

/// `socket(2)`, close-on-exec, non-blocking if `ty` has SOCK_NONBLOCK.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub fn socket(family: i32, ty: i32, proto: i32) -> io::Result<RawFd> {
    // SAFETY: no pointers are passed.
    let fd = check(unsafe { libc::socket(family, ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC), proto) })?;
    set_up(fd, ty & SOCK_NONBLOCK != 0)
}

/// `socketpair(2)`, both fds close-on-exec, non-blocking if `ty` has SOCK_NONBLOCK.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub fn socketpair(family: i32, ty: i32, proto: i32) -> io::Result<[RawFd; 2]> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds the kernel writes.
    check(unsafe { libc::socketpair(family, ty | SOCK_CLOEXEC, proto, fds.as_mut_ptr()) })?;
    Ok(fds)
}

/// `socketpair(2)`, both fds close-on-exec, non-blocking if `ty` has SOCK_NONBLOCK.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub fn socketpair(family: i32, ty: i32, proto: i32) -> io::Result<[RawFd; 2]> {
    let mut fds = [-1; 2];
    let plain = ty & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    // SAFETY: `fds` has room for the two fds the kernel writes.
    check(unsafe { libc::socketpair(family, plain, proto, fds.as_mut_ptr()) })?;
    for (i, &fd) in fds.iter().enumerate() {
        if let Err(e) = set_up(fd, ty & SOCK_NONBLOCK != 0) {
            let _ = super::close(fds[1 - i]); // set_up closed `fd`; the other goes too
            return Err(e);
        }
    }
    Ok(fds)
}

/// Makes a new fd close-on-exec, non-blocking as asked and (Apple) free of SIGPIPE; closes it
/// and returns the error if any step fails.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
fn set_up(fd: RawFd, nonblocking: bool) -> io::Result<RawFd> {
    // SAFETY: F_SETFD takes an int, no pointer; FD_CLOEXEC is the only fd flag.
    let result = check(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) })
        .and_then(|_| set_nonblocking(fd, nonblocking))
        .and_then(|()| no_sigpipe(fd));
    match result {
        Ok(()) => Ok(fd),
        Err(e) => {
            let _ = super::close(fd);
            Err(e)
        }
    }
}

/// Sets SO_NOSIGPIPE: a send on a broken connection fails with EPIPE instead of raising SIGPIPE.
#[cfg(target_vendor = "apple")]
fn no_sigpipe(fd: RawFd) -> io::Result<()> {
    set_option(fd, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, &1i32.to_ne_bytes())
}

/// Sends carry MSG_NOSIGNAL here: nothing to set on the fd.
#[cfg(all(not(target_vendor = "apple"), not(any(target_os = "linux", target_os = "android", target_os = "freebsd"))))]
fn no_sigpipe(_fd: RawFd) -> io::Result<()> {
    Ok(())
}

/// `bind(2)`.
pub fn bind(fd: RawFd, address: &Address) -> io::Result<()> {
    let (storage, len) = to_raw(address)?;
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the whole call.
    check(unsafe { libc::bind(fd, (&storage as *const libc::sockaddr_storage).cast(), len) }).map(drop)
}

/// `connect(2)`; on a non-blocking socket it fails with EINPROGRESS while connecting.
pub fn connect(fd: RawFd, address: &Address) -> io::Result<()> {
    let (storage, len) = to_raw(address)?;
    // SAFETY: `storage` holds a valid sockaddr of `len` bytes for the whole call.
    check(unsafe { libc::connect(fd, (&storage as *const libc::sockaddr_storage).cast(), len) }).map(drop)
}

/// `listen(2)`.
pub fn listen(fd: RawFd, backlog: i32) -> io::Result<()> {
    // SAFETY: no pointers are passed.
    check(unsafe { libc::listen(fd, backlog) }).map(drop)
}

/// `accept4(2)` with SOCK_CLOEXEC, and SOCK_NONBLOCK when `nonblocking`. Returns the new fd and
/// the peer's address as accept reported it.
#[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
pub fn accept(fd: RawFd, nonblocking: bool) -> io::Result<(RawFd, Address)> {
    let flags = SOCK_CLOEXEC | if nonblocking { SOCK_NONBLOCK } else { 0 };
    // SAFETY: accept4 writes at most `len` bytes into the storage it is given.
    name(|storage, len| unsafe { libc::accept4(fd, storage, len, flags) })
}

/// `accept(2)`, then close-on-exec, O_NONBLOCK set or cleared as asked (a BSD accept inherits
/// the listener's) and SO_NOSIGPIPE on Apple. Returns the new fd and the peer's address.
#[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
pub fn accept(fd: RawFd, nonblocking: bool) -> io::Result<(RawFd, Address)> {
    // SAFETY: accept writes at most `len` bytes into the storage it is given.
    let (conn, peer) = name(|storage, len| unsafe { libc::accept(fd, storage, len) })?;
    Ok((set_up(conn, nonblocking)?, peer))
}

/// `recv(2)` into `buf`: the byte count, 0 at end of stream.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is valid and writable for `buf.len()` bytes for the whole call.
    check_len(unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) })
}

/// `recvfrom(2)` into `buf`: the length and the sender.
pub fn recv_from(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<(usize, Address)> {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let from = (&mut storage as *mut libc::sockaddr_storage).cast();
    // SAFETY: `buf` is writable for its length; `storage`/`len` describe a writable sockaddr.
    let n = check_len(unsafe { libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), flags, from, &mut len) })?;
    Ok((n, from_raw(&storage, len)))
}

/// `send(2)`, never raising SIGPIPE: the bytes the kernel took.
pub fn send(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the whole call; the kernel only reads it.
    check_len(unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags | NO_SIGNAL) })
}

/// `sendto(2)`, never raising SIGPIPE: the bytes sent.
pub fn send_to(fd: RawFd, buf: &[u8], flags: i32, address: &Address) -> io::Result<usize> {
    let (storage, len) = to_raw(address)?;
    let to = (&storage as *const libc::sockaddr_storage).cast();
    // SAFETY: `buf` is readable for its length and `storage` holds a valid sockaddr of `len` bytes.
    check_len(unsafe { libc::sendto(fd, buf.as_ptr().cast(), buf.len(), flags | NO_SIGNAL, to, len) })
}

/// `shutdown(2)`.
pub fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: no pointers are passed.
    check(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// The local address (`getsockname(2)`).
pub fn local_address(fd: RawFd) -> io::Result<Address> {
    // SAFETY: getsockname writes at most `len` bytes into the storage it is given.
    name(|storage, len| unsafe { libc::getsockname(fd, storage, len) }).map(|(_, a)| a)
}

/// The peer address (`getpeername(2)`).
pub fn peer_address(fd: RawFd) -> io::Result<Address> {
    // SAFETY: getpeername writes at most `len` bytes into the storage it is given.
    name(|storage, len| unsafe { libc::getpeername(fd, storage, len) }).map(|(_, a)| a)
}

/// Sets or clears O_NONBLOCK.
pub fn set_nonblocking(fd: RawFd, nonblocking: bool) -> io::Result<()> {
    // SAFETY: F_GETFL takes no pointer.
    let flags = check(unsafe { libc::fcntl(fd, libc::F_GETFL) })?;
    let wanted = if nonblocking { flags | libc::O_NONBLOCK } else { flags & !libc::O_NONBLOCK };
    if wanted != flags {
        // SAFETY: F_SETFL takes an int, no pointer.
        check(unsafe { libc::fcntl(fd, libc::F_SETFL, wanted) })?;
    }
    Ok(())
}

/// Whether O_NONBLOCK is set.
pub fn is_nonblocking(fd: RawFd) -> io::Result<bool> {
    // SAFETY: F_GETFL takes no pointer.
    Ok(check(unsafe { libc::fcntl(fd, libc::F_GETFL) })? & libc::O_NONBLOCK != 0)
}

/// `setsockopt(2)` with the option's raw bytes.
pub fn set_option(fd: RawFd, level: i32, name: i32, value: &[u8]) -> io::Result<()> {
    // SAFETY: `value` is readable for its length for the whole call.
    check(unsafe { libc::setsockopt(fd, level, name, value.as_ptr().cast(), value.len() as libc::socklen_t) }).map(drop)
}

/// `getsockopt(2)` into `buf`; returns the option's length.
pub fn get_option(fd: RawFd, level: i32, name: i32, buf: &mut [u8]) -> io::Result<usize> {
    let mut len = buf.len() as libc::socklen_t;
    // SAFETY: `buf` is writable for `len` bytes, and the kernel writes no more than `len`.
    check(unsafe { libc::getsockopt(fd, level, name, buf.as_mut_ptr().cast(), &mut len) })?;
    Ok(len as usize)
}

/// Corks a TCP socket (`on`: partial segments are held) or uncorks it, which sends what was held.
/// XNU clears TCP_NOPUSH without sending (Linux's TCP_CORK and FreeBSD's TCP_NOPUSH send at
/// once), so on Apple a zero-length send follows, to run TCP's output; its result is ignored, as
/// a real failure shows on the next send.
pub fn set_cork(fd: RawFd, on: bool) -> io::Result<()> {
    set_option(fd, libc::IPPROTO_TCP, CORK, &i32::from(on).to_ne_bytes())?;
    if cfg!(target_vendor = "apple") && !on {
        let _ = send(fd, &[], 0);
    }
    Ok(())
}

/// Whether a TCP socket is corked (the BSDs report TCP_NOPUSH as a flag bit, not 1).
pub fn is_corked(fd: RawFd) -> io::Result<bool> {
    let mut value = [0; 4];
    get_option(fd, libc::IPPROTO_TCP, CORK, &mut value)?;
    Ok(i32::from_ne_bytes(value) != 0)
}

/// `gai_strerror(3)`: the C library's message for a getaddrinfo error code.
pub fn gai_message(code: i32) -> String {
    // SAFETY: gai_strerror returns a pointer to a static NUL-terminated string (or null).
    let message = unsafe { libc::gai_strerror(code) };
    if message.is_null() {
        return format!("getaddrinfo error {code}");
    }
    // SAFETY: non-null, NUL-terminated and static, as above.
    unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned()
}

/// The room for a name in a sockaddr_un: 108 bytes on Linux, 104 on the BSDs.
#[cfg(test)]
const SUN_PATH: usize = size_of::<libc::sockaddr_un>() - std::mem::offset_of!(libc::sockaddr_un, sun_path);

/// Whether the platform has Linux's abstract AF_UNIX namespace (a name with a leading NUL).
const ABSTRACT_UNIX_NAMES: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Runs `call` with an empty sockaddr_storage and its length; returns its result (checked) and
/// the address it wrote.
fn name(call: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int) -> io::Result<(libc::c_int, Address)> {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let ret = check(call((&mut storage as *mut libc::sockaddr_storage).cast(), &mut len))?;
    Ok((ret, from_raw(&storage, len)))
}

fn to_raw(address: &Address) -> io::Result<(libc::sockaddr_storage, libc::socklen_t)> {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match address {
        Address::Inet(SocketAddr::V4(v4)) => {
            // SAFETY: an all-zero sockaddr_in is valid; the BSDs' sin_len stays 0, which their
            // kernels overwrite with the length passed.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = v4.port().to_be();
            sin.sin_addr = libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) };
            // SAFETY: sockaddr_storage is larger than and aligned for every sockaddr type.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        Address::Inet(SocketAddr::V6(v6)) => {
            // SAFETY: an all-zero sockaddr_in6 is valid (sin6_len as above).
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = v6.port().to_be();
            sin6.sin6_flowinfo = v6.flowinfo().to_be();
            sin6.sin6_addr = libc::in6_addr { s6_addr: v6.ip().octets() };
            sin6.sin6_scope_id = v6.scope_id();
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
        Address::Unix(path) => {
            // SAFETY: an all-zero sockaddr_un is valid (sun_len as above).
            let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
            // Python's limits: a path leaves room for its terminating NUL; an abstract name
            // (leading NUL, Linux) may fill sun_path.
            let is_abstract = ABSTRACT_UNIX_NAMES && path.first() == Some(&0);
            if path.len() > sun.sun_path.len() - usize::from(!is_abstract) {
                return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
            }
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (dst, &src) in sun.sun_path.iter_mut().zip(path) {
                *dst = src as libc::c_char;
            }
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sun) };
            // The name's bytes, as Python counts them (a path's terminating NUL is the zeroed byte
            // after it), so '' is the bare family: Linux then autobinds on bind() and refuses
            // connect() with EINVAL, as it does for Python's ''.
            size_of::<libc::sockaddr_un>() - sun.sun_path.len() + path.len()
        }
    };
    Ok((storage, len as libc::socklen_t))
}

fn from_raw(storage: &libc::sockaddr_storage, len: libc::socklen_t) -> Address {
    let ptr = storage as *const libc::sockaddr_storage;
    match storage.ss_family as i32 {
        libc::AF_INET => {
            // SAFETY: the kernel reported AF_INET, so the storage holds a sockaddr_in.
            let sin = unsafe { &*ptr.cast::<libc::sockaddr_in>() };
            let ip = Ipv4Addr::from(sin.sin_addr.s_addr.to_ne_bytes());
            Address::Inet(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => {
            // SAFETY: the kernel reported AF_INET6, so the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*ptr.cast::<libc::sockaddr_in6>() };
            let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
            let port = u16::from_be(sin6.sin6_port);
            Address::Inet(SocketAddr::V6(SocketAddrV6::new(ip, port, u32::from_be(sin6.sin6_flowinfo), sin6.sin6_scope_id)))
        }
        _ => {
            // AF_UNIX, or AF_UNSPEC for an unnamed peer: the bytes after the family, NULs trimmed
            // (an abstract name, where there are such, keeps its leading NUL and its length).
            // SAFETY: sockaddr_storage is large enough and aligned for a sockaddr_un.
            let sun = unsafe { &*ptr.cast::<libc::sockaddr_un>() };
            let base = size_of::<libc::sockaddr_un>() - sun.sun_path.len();
            let n = (len as usize).saturating_sub(base).min(sun.sun_path.len());
            let mut path: Vec<u8> = sun.sun_path[..n].iter().map(|&c| c as u8).collect();
            if !(ABSTRACT_UNIX_NAMES && path.first() == Some(&0)) {
                if let Some(end) = path.iter().position(|&b| b == 0) {
                    path.truncate(end);
                }
            }
            Address::Unix(path)
        }
    }
}

/// `address` through the sockaddr that `bind` and `connect` pass, read back as `getsockname`
/// reads one (for the fuzz targets and the tests).
#[cfg(any(test, fuzzing))]
pub fn through_sockaddr(address: &Address) -> io::Result<Address> {
    let (storage, len) = to_raw(address)?;
    Ok(from_raw(&storage, len))
}

/// The address a kernel's sockaddr reads as: `bytes` (zero-filled or cut to a sockaddr_storage)
/// with the length the kernel reported, which exceeds the storage for a truncated one (for the
/// fuzz targets and the tests).
#[cfg(any(test, fuzzing))]
pub fn from_sockaddr_bytes(bytes: &[u8], len: libc::socklen_t) -> Address {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let n = bytes.len().min(size_of::<libc::sockaddr_storage>());
    // SAFETY: sockaddr_storage is plain bytes with no invalid values, and `n` is within both it
    // and `bytes`, which cannot overlap a local.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&mut storage as *mut libc::sockaddr_storage).cast::<u8>(), n) };
    from_raw(&storage, len)
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn check_len(ret: isize) -> io::Result<usize> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::close;

    /// (close-on-exec, non-blocking) of `fd`.
    fn flags(fd: RawFd) -> (bool, bool) {
        // SAFETY: F_GETFD and F_GETFL take no pointer.
        let (fd_flags, status) = unsafe { (libc::fcntl(fd, libc::F_GETFD), libc::fcntl(fd, libc::F_GETFL)) };
        assert!(fd_flags >= 0 && status >= 0, "{}", io::Error::last_os_error());
        (fd_flags & libc::FD_CLOEXEC != 0, status & libc::O_NONBLOCK != 0)
    }

    #[test]
    fn every_fd_made_here_is_close_on_exec_and_never_raises_sigpipe() {
        let loopback = Address::Inet("127.0.0.1:0".parse().unwrap());
        let listener = socket(libc::AF_INET, libc::SOCK_STREAM | SOCK_NONBLOCK, 0).unwrap();
        bind(listener, &loopback).unwrap();
        listen(listener, 8).unwrap();
        let to = local_address(listener).unwrap();
        let clients = [0, 1].map(|_| socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap());
        clients.iter().for_each(|&c| connect(c, &to).unwrap());
        let mut ready = [crate::multiplex::pollfd(listener, libc::POLLIN)];
        crate::multiplex::poll(&mut ready, Some(std::time::Duration::from_secs(5))).unwrap();
        let (blocking, _) = accept(listener, false).unwrap();
        crate::multiplex::poll(&mut ready, Some(std::time::Duration::from_secs(5))).unwrap();
        let (nonblocking, _) = accept(listener, true).unwrap();
        let [a, b] = socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0).unwrap();
        let expected = [(listener, true), (clients[0], false), (blocking, false), (nonblocking, true), (a, false), (b, false)];
        for (fd, nonblocking) in expected {
            assert_eq!(flags(fd), (true, nonblocking), "fd {fd}");
            #[cfg(target_vendor = "apple")]
            {
                let mut on = [0; 4];
                get_option(fd, libc::SOL_SOCKET, libc::SO_NOSIGPIPE, &mut on).unwrap();
                assert_ne!(i32::from_ne_bytes(on), 0, "SO_NOSIGPIPE on fd {fd}");
            }
        }
        close(b).unwrap();
        assert_eq!(sigpipe_raised_by(|| send(a, b"x", 0)), (Some(libc::EPIPE), false));
        for fd in [listener, clients[0], clients[1], blocking, nonblocking, a] {
            close(fd).unwrap();
        }
    }

    #[test]
    fn af_unix_names_take_python_s_lengths() {
        let sun_path = SUN_PATH;
        let unix = |path: &[u8]| through_sockaddr(&Address::Unix(path.to_vec()));
        assert_eq!(unix(b"").unwrap(), Address::Unix(vec![]), "'' is the bare family");
        assert_eq!(unix(b"/tmp/a\0b").unwrap(), Address::Unix(b"/tmp/a".to_vec()));
        assert_eq!(unix(&vec![b'p'; sun_path - 1]).unwrap(), Address::Unix(vec![b'p'; sun_path - 1]));
        assert_eq!(unix(&vec![b'p'; sun_path]).unwrap_err().raw_os_error(), Some(libc::ENAMETOOLONG));
        let mut name = vec![b'n'; sun_path];
        name[0] = 0;
        if ABSTRACT_UNIX_NAMES {
            assert_eq!(unix(&name).unwrap(), Address::Unix(name.clone()), "an abstract name may fill sun_path");
        }
        name.push(b'n');
        assert_eq!(unix(&name).unwrap_err().raw_os_error(), Some(libc::ENAMETOOLONG));
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn binding_af_unix_to_empty_autobinds_and_connecting_to_it_is_einval() {
        let fds = [0, 1, 2].map(|_| socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap());
        let empty = Address::Unix(vec![]);
        for &fd in &fds[..2] {
            bind(fd, &empty).unwrap();
            let Address::Unix(name) = local_address(fd).unwrap() else { panic!("not AF_UNIX") };
            assert!(name.len() == 6 && name[0] == 0, "an autobound name: {name:?}");
        }
        assert_eq!(connect(fds[2], &empty).unwrap_err().raw_os_error(), Some(libc::EINVAL));
        let mut full = vec![b'f'; SUN_PATH];
        full[0] = 0;
        full[1..9].copy_from_slice(&std::process::id().to_ne_bytes().repeat(2));
        bind(fds[2], &Address::Unix(full.clone())).unwrap();
        assert_eq!(local_address(fds[2]).unwrap(), Address::Unix(full));
        fds.iter().for_each(|&fd| close(fd).unwrap());
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn any_sockaddr_bytes_read_as_an_address() {
        let mut v4 = vec![0; 16];
        v4[..2].copy_from_slice(&(libc::AF_INET as libc::sa_family_t).to_ne_bytes());
        v4[2..4].copy_from_slice(&80u16.to_be_bytes());
        v4[4..8].copy_from_slice(&[127, 0, 0, 1]);
        assert_eq!(from_sockaddr_bytes(&v4, 16), Address::Inet("127.0.0.1:80".parse().unwrap()));
        let mut unix = vec![b'x'; 400];
        unix[..2].copy_from_slice(&(libc::AF_UNIX as libc::sa_family_t).to_ne_bytes());
        let Address::Unix(path) = from_sockaddr_bytes(&unix, u32::MAX) else { panic!("not AF_UNIX") };
        assert_eq!(path.len(), SUN_PATH, "a truncated name stops at sun_path");
        assert_eq!(from_sockaddr_bytes(&[], 0), Address::Unix(vec![]));
    }

    /// Runs `send` with SIGPIPE blocked in this thread (Rust ignores it, and Linux does not
    /// discard a blocked signal even then): its errno, and whether it raised SIGPIPE.
    fn sigpipe_raised_by(send: impl FnOnce() -> io::Result<usize>) -> (Option<i32>, bool) {
        // SAFETY: the sigset_t values are initialised by sigemptyset before any other use; the
        // mask calls only change this thread's mask, restored before returning (a pending
        // SIGPIPE is then discarded, as it is ignored).
        unsafe {
            let mut pipe: libc::sigset_t = std::mem::zeroed();
            let mut old: libc::sigset_t = std::mem::zeroed();
            let mut pending: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut pipe);
            libc::sigemptyset(&mut pending);
            libc::sigaddset(&mut pipe, libc::SIGPIPE);
            libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old);
            let errno = send().err().and_then(|e| e.raw_os_error());
            libc::sigpending(&mut pending);
            let raised = libc::sigismember(&pending, libc::SIGPIPE) == 1;
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
            (errno, raised)
        }
    }
}
