//! BSD socket calls through libc, for every Unix. EINTR is retried where Python retries it
//! (PEP 475); sends never raise SIGPIPE (MSG_NOSIGNAL); every new fd is close-on-exec.

use std::io;
use std::mem::size_of;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

use crate::address::Address;

/// `socket(2)` with SOCK_CLOEXEC added.
pub fn socket(family: i32, ty: i32, proto: i32) -> io::Result<RawFd> {
    // SAFETY: no pointers are passed.
    check(unsafe { libc::socket(family, ty | libc::SOCK_CLOEXEC, proto) })
}

/// `socketpair(2)` with SOCK_CLOEXEC added.
pub fn socketpair(family: i32, ty: i32, proto: i32) -> io::Result<[RawFd; 2]> {
    let mut fds = [-1; 2];
    // SAFETY: `fds` has room for the two fds the kernel writes.
    check(unsafe { libc::socketpair(family, ty | libc::SOCK_CLOEXEC, proto, fds.as_mut_ptr()) })?;
    Ok(fds)
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

/// `accept4(2)` with SOCK_CLOEXEC, and SOCK_NONBLOCK when `nonblocking`; EINTR retried.
/// Returns the new fd and the peer's address as accept reported it (valid even when the peer
/// has already reset the connection, unlike a later getpeername).
pub fn accept(fd: RawFd, nonblocking: bool) -> io::Result<(RawFd, Address)> {
    let flags = libc::SOCK_CLOEXEC | if nonblocking { libc::SOCK_NONBLOCK } else { 0 };
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let conn = retry(|| {
        len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `storage`/`len` describe a writable sockaddr the kernel fills at most `len` of.
        unsafe { libc::accept4(fd, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len, flags) as isize }
    })?;
    Ok((conn as RawFd, from_raw(&storage, len)))
}

/// `recv(2)` into `buf`; EINTR retried. Returns 0 at end of stream.
pub fn recv(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is valid and writable for `buf.len()` bytes for the whole call.
    retry(|| unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), flags) }).map(|n| n as usize)
}

/// `recvfrom(2)` into `buf`; EINTR retried. Returns the length and the sender.
pub fn recv_from(fd: RawFd, buf: &mut [u8], flags: i32) -> io::Result<(usize, Address)> {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    let n = retry(|| {
        len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
        // SAFETY: `buf` is writable for its length; `storage`/`len` describe a writable sockaddr.
        unsafe {
            libc::recvfrom(fd, buf.as_mut_ptr().cast(), buf.len(), flags, (&mut storage as *mut libc::sockaddr_storage).cast(), &mut len)
        }
    })?;
    Ok((n as usize, from_raw(&storage, len)))
}

/// `send(2)` with MSG_NOSIGNAL; EINTR retried. Returns the bytes the kernel took.
pub fn send(fd: RawFd, buf: &[u8], flags: i32) -> io::Result<usize> {
    // SAFETY: `buf` is valid for `buf.len()` bytes for the whole call; the kernel only reads it.
    retry(|| unsafe { libc::send(fd, buf.as_ptr().cast(), buf.len(), flags | libc::MSG_NOSIGNAL) }).map(|n| n as usize)
}

/// `sendto(2)` with MSG_NOSIGNAL; EINTR retried.
pub fn send_to(fd: RawFd, buf: &[u8], flags: i32, address: &Address) -> io::Result<usize> {
    let (storage, len) = to_raw(address)?;
    // SAFETY: `buf` is readable for its length and `storage` holds a valid sockaddr of `len` bytes.
    retry(|| unsafe {
        libc::sendto(fd, buf.as_ptr().cast(), buf.len(), flags | libc::MSG_NOSIGNAL, (&storage as *const libc::sockaddr_storage).cast(), len)
    })
    .map(|n| n as usize)
}

/// `shutdown(2)`.
pub fn shutdown(fd: RawFd, how: i32) -> io::Result<()> {
    // SAFETY: no pointers are passed.
    check(unsafe { libc::shutdown(fd, how) }).map(drop)
}

/// The local address (`getsockname(2)`).
pub fn local_address(fd: RawFd) -> io::Result<Address> {
    // SAFETY: getsockname writes at most `len` bytes into the storage it is given.
    name(|storage, len| unsafe { libc::getsockname(fd, storage, len) })
}

/// The peer address (`getpeername(2)`).
pub fn peer_address(fd: RawFd) -> io::Result<Address> {
    // SAFETY: getpeername writes at most `len` bytes into the storage it is given.
    name(|storage, len| unsafe { libc::getpeername(fd, storage, len) })
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

fn name(call: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> libc::c_int) -> io::Result<Address> {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    check(call((&mut storage as *mut libc::sockaddr_storage).cast(), &mut len))?;
    Ok(from_raw(&storage, len))
}

fn to_raw(address: &Address) -> io::Result<(libc::sockaddr_storage, libc::socklen_t)> {
    // SAFETY: an all-zero sockaddr_storage is a valid (AF_UNSPEC) value.
    let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match address {
        Address::Inet(SocketAddr::V4(v4)) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for every sockaddr type.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin) };
            size_of::<libc::sockaddr_in>()
        }
        Address::Inet(SocketAddr::V6(v6)) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo().to_be(),
                sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sin6) };
            size_of::<libc::sockaddr_in6>()
        }
        Address::Unix(path) => {
            // SAFETY: an all-zero sockaddr_un is valid.
            let mut sun: libc::sockaddr_un = unsafe { std::mem::zeroed() };
            if path.len() >= sun.sun_path.len() {
                return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
            }
            sun.sun_family = libc::AF_UNIX as libc::sa_family_t;
            for (dst, &src) in sun.sun_path.iter_mut().zip(path) {
                *dst = src as libc::c_char;
            }
            // SAFETY: as above.
            unsafe { std::ptr::write((&mut storage as *mut libc::sockaddr_storage).cast(), sun) };
            let base = size_of::<libc::sockaddr_un>() - sun.sun_path.len();
            // Abstract names (leading NUL) count exactly; paths include their terminating NUL.
            base + path.len() + usize::from(path.first() != Some(&0))
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
            // AF_UNIX, or AF_UNSPEC for an unnamed peer: the bytes after the family, NULs trimmed.
            // SAFETY: sockaddr_storage is large enough and aligned for a sockaddr_un.
            let sun = unsafe { &*ptr.cast::<libc::sockaddr_un>() };
            let base = size_of::<libc::sockaddr_un>() - sun.sun_path.len();
            let n = (len as usize).saturating_sub(base).min(sun.sun_path.len());
            let mut path: Vec<u8> = sun.sun_path[..n].iter().map(|&c| c as u8).collect();
            if path.first() != Some(&0) {
                if let Some(end) = path.iter().position(|&b| b == 0) {
                    path.truncate(end);
                }
            }
            Address::Unix(path)
        }
    }
}

fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

fn retry(mut call: impl FnMut() -> isize) -> io::Result<isize> {
    loop {
        let ret = call();
        if ret >= 0 {
            return Ok(ret);
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
