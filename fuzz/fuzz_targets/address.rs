//! Address conversion: what `bind`, `connect` and `sendto` make of a family, host, port,
//! flowinfo and scope id from JavaScript (`resolve`, with a stand-in for getaddrinfo so that no
//! input reaches the network), that address through the sockaddr the syscalls take and back, any
//! sockaddr bytes a kernel could report read as an address, and, for AF_UNIX names that create no
//! file (abstract ones and ''), a real bind on a socket this target creates.

#![no_main]

use std::mem::{offset_of, size_of};
use std::net::{IpAddr, SocketAddr};

use fdpoll_core::address::{from_sockaddr_bytes, resolve_with, through_sockaddr, Address, ResolveError};
use fdpoll_core::{close, socket};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Family {
    Inet,
    Inet6,
    Unix,
    Other(i32),
}

#[derive(Arbitrary, Debug)]
struct Input {
    family: Family,
    host: String,
    port: u32,
    flowinfo: u32,
    scope_id: u32,
    /// What the stand-in getaddrinfo finds for a host name.
    found: Option<IpAddr>,
    /// Sockaddr bytes and the length a kernel reported with them.
    raw: Vec<u8>,
    raw_len: u32,
}

/// The room in sockaddr_un for a name.
const SUN_PATH: usize = size_of::<libc::sockaddr_un>() - offset_of!(libc::sockaddr_un, sun_path);

fuzz_target!(|input: Input| {
    let family = match input.family {
        Family::Inet => libc::AF_INET,
        Family::Inet6 => libc::AF_INET6,
        Family::Unix => libc::AF_UNIX,
        Family::Other(f) => f,
    };
    let mut looked_up = false;
    let lookup = |_: i32, _: &str| {
        looked_up = true;
        input.found.ok_or_else(|| ResolveError::NotFound(String::new()))
    };
    let resolved = resolve_with(family, &input.host, input.port, input.flowinfo, input.scope_id, lookup);
    match resolved {
        Err(ResolveError::Port(port)) => assert!(port > 65_535 && port == input.port),
        Err(ResolveError::Family(f)) => assert!(f == family && ![libc::AF_INET, libc::AF_INET6, libc::AF_UNIX].contains(&f)),
        Err(ResolveError::NotFound(_)) => assert!(family == libc::AF_INET || family == libc::AF_INET6),
        Ok(ref address) => {
            assert!(input.port <= 65_535 && address.family() == family, "{address:?} for family {family}");
            check_inet(address, &input, looked_up);
            check_sockaddr(address);
            bind_unnamed_or_abstract(address);
        }
    }
    if let Address::Unix(path) = from_sockaddr_bytes(&input.raw, input.raw_len) {
        assert!(path.len() <= SUN_PATH);
    }
});

/// An IP address keeps the port, flowinfo and scope id it was given.
fn check_inet(address: &Address, input: &Input, looked_up: bool) {
    match address {
        Address::Inet(SocketAddr::V4(v4)) => {
            assert_eq!(u32::from(v4.port()), input.port);
            if looked_up {
                assert_eq!(input.found, Some(IpAddr::V4(*v4.ip())));
            }
        }
        Address::Inet(SocketAddr::V6(v6)) => {
            assert_eq!((u32::from(v6.port()), v6.flowinfo(), v6.scope_id()), (input.port, input.flowinfo, input.scope_id));
            if looked_up {
                assert_eq!(input.found, Some(IpAddr::V6(*v6.ip())));
            }
        }
        Address::Unix(path) => assert_eq!(path, input.host.as_bytes()),
    }
}

/// Through the sockaddr and back: an IP address unchanged; an AF_UNIX name within Python's
/// limits unchanged up to its first NUL (an abstract name, leading NUL, whole), a longer one
/// ENAMETOOLONG.
fn check_sockaddr(address: &Address) {
    let back = through_sockaddr(address);
    match address {
        Address::Inet(_) => assert_eq!(back.unwrap(), *address),
        Address::Unix(path) => {
            let is_abstract = path.first() == Some(&0);
            let room = if is_abstract { SUN_PATH } else { SUN_PATH - 1 };
            if path.len() > room {
                assert_eq!(back.unwrap_err().raw_os_error(), Some(libc::ENAMETOOLONG));
                return;
            }
            let end = if is_abstract { path.len() } else { path.iter().position(|&b| b == 0).unwrap_or(path.len()) };
            assert_eq!(back.unwrap(), Address::Unix(path[..end].to_vec()), "{path:?}");
        }
    }
}

/// Binds a new AF_UNIX socket to an abstract name or '' (no file is made): a bound socket's
/// name is the abstract name, or for '' one the kernel chose (autobind, as for Python's '').
fn bind_unnamed_or_abstract(address: &Address) {
    let Address::Unix(path) = address else { return };
    if !(path.is_empty() || path[0] == 0) || path.len() > SUN_PATH {
        return;
    }
    let fd = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).expect("an AF_UNIX socket");
    if socket::bind(fd, address).is_ok() {
        let Address::Unix(name) = socket::local_address(fd).unwrap() else { panic!("not AF_UNIX") };
        if path.is_empty() {
            assert!(name.len() > 1 && name[0] == 0, "autobind gave {name:?}");
        } else {
            assert_eq!(&name, path);
        }
    }
    close(fd).unwrap();
}
