//! Socket addresses as Python spells them: `(host, port)` for AF_INET, `(host, port, flowinfo,
//! scope_id)` for AF_INET6, a path for AF_UNIX (a leading NUL byte names Linux's abstract
//! namespace).

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6, ToSocketAddrs};

#[cfg(any(test, fuzzing))]
pub use crate::sys::socket::{from_sockaddr_bytes, through_sockaddr};

/// A socket address of one of the supported families.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// AF_INET or AF_INET6.
    Inet(SocketAddr),
    /// AF_UNIX: the path bytes; empty for an unnamed socket.
    Unix(Vec<u8>),
}

/// Why an address could not be made.
#[derive(Debug)]
pub enum ResolveError {
    /// The host name did not resolve to an address of the family (Python's `socket.gaierror`).
    NotFound(String),
    /// The family is not one fdpoll supports.
    Family(i32),
    /// The port is past 65535 (EINVAL).
    Port(u32),
}

/// Resolves `host` for `family` as Python does: '' is the wildcard address, '<broadcast>' the
/// IPv4 broadcast address, a literal is used as is, and anything else goes to getaddrinfo.
/// For AF_UNIX `host` is the path and the other fields are ignored.
pub fn resolve(family: i32, host: &str, port: u32, flowinfo: u32, scope_id: u32) -> Result<Address, ResolveError> {
    resolve_with(family, host, port, flowinfo, scope_id, lookup)
}

/// `resolve` with `lookup` in place of getaddrinfo for a host that is not a literal (the fuzz
/// targets pass one that never touches the network).
pub fn resolve_with(
    family: i32,
    host: &str,
    port: u32,
    flowinfo: u32,
    scope_id: u32,
    lookup: impl FnOnce(i32, &str) -> Result<IpAddr, ResolveError>,
) -> Result<Address, ResolveError> {
    let port = u16::try_from(port).map_err(|_| ResolveError::Port(port))?;
    let ip = match (family, host) {
        (libc::AF_UNIX, path) => return Ok(Address::Unix(path.as_bytes().to_vec())),
        (libc::AF_INET, "") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        (libc::AF_INET, "<broadcast>") => IpAddr::V4(Ipv4Addr::BROADCAST),
        (libc::AF_INET6, "") => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        (libc::AF_INET | libc::AF_INET6, name) => match name.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => lookup(family, name)?,
        },
        (other, _) => return Err(ResolveError::Family(other)),
    };
    match (family, ip) {
        (libc::AF_INET, IpAddr::V4(v4)) => Ok(Address::Inet(SocketAddr::new(v4.into(), port))),
        (libc::AF_INET6, IpAddr::V6(v6)) => {
            Ok(Address::Inet(SocketAddr::V6(SocketAddrV6::new(v6, port, flowinfo, scope_id))))
        }
        _ => Err(ResolveError::NotFound(host.to_owned())),
    }
}

/// getaddrinfo: the first address of `family` that `host` resolves to.
fn lookup(family: i32, host: &str) -> Result<IpAddr, ResolveError> {
    let want_v4 = family == libc::AF_INET;
    (host, 0)
        .to_socket_addrs()
        .ok()
        .and_then(|mut found| found.find(|a| a.is_ipv4() == want_v4))
        .map(|a| a.ip())
        .ok_or_else(|| ResolveError::NotFound(host.to_owned()))
}

/// The C library's message for a getaddrinfo error code (`gai_strerror`), such as EAI_NONAME's,
/// which Python's `socket.gaierror` carries.
pub fn gai_message(code: i32) -> String {
    crate::sys::socket::gai_message(code)
}

impl Address {
    /// The address family: AF_INET, AF_INET6 or AF_UNIX.
    pub fn family(&self) -> i32 {
        match self {
            Address::Inet(SocketAddr::V4(_)) => libc::AF_INET,
            Address::Inet(SocketAddr::V6(_)) => libc::AF_INET6,
            Address::Unix(_) => libc::AF_UNIX,
        }
    }
}

impl From<ResolveError> for io::Error {
    fn from(e: ResolveError) -> io::Error {
        match e {
            ResolveError::NotFound(host) => io::Error::new(io::ErrorKind::NotFound, host),
            ResolveError::Family(_) => io::Error::from_raw_os_error(libc::EAFNOSUPPORT),
            ResolveError::Port(_) => io::Error::from_raw_os_error(libc::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_spellings() {
        let any = resolve(libc::AF_INET, "", 80, 0, 0).unwrap();
        assert_eq!(any, Address::Inet("0.0.0.0:80".parse().unwrap()));
        let bcast = resolve(libc::AF_INET, "<broadcast>", 1, 0, 0).unwrap();
        assert_eq!(bcast, Address::Inet("255.255.255.255:1".parse().unwrap()));
        let v6 = resolve(libc::AF_INET6, "::1", 8080, 0, 0).unwrap();
        assert_eq!(v6.family(), libc::AF_INET6);
        let local = resolve(libc::AF_INET, "localhost", 8080, 0, 0).unwrap();
        assert_eq!(local, Address::Inet("127.0.0.1:8080".parse().unwrap()));
        assert_eq!(resolve(libc::AF_UNIX, "/tmp/x", 0, 0, 0).unwrap(), Address::Unix(b"/tmp/x".to_vec()));
    }

    #[test]
    fn the_c_library_describes_eai_noname() {
        let message = gai_message(libc::EAI_NONAME);
        assert!(!message.is_empty() && !message.contains("error"), "{message}");
    }

    #[test]
    fn wrong_family_or_unknown_host_is_not_found() {
        assert!(matches!(resolve(libc::AF_INET, "::1", 1, 0, 0), Err(ResolveError::NotFound(_))));
        assert!(matches!(resolve(libc::AF_INET, "no-such-host.invalid", 1, 0, 0), Err(ResolveError::NotFound(_))));
        assert!(matches!(resolve(99, "x", 1, 0, 0), Err(ResolveError::Family(99))));
    }

    #[test]
    fn a_port_past_65535_is_refused_before_anything_else() {
        assert!(matches!(resolve(libc::AF_INET, "127.0.0.1", 65_536, 0, 0), Err(ResolveError::Port(65_536))));
        assert!(matches!(resolve(99, "x", u32::MAX, 0, 0), Err(ResolveError::Port(u32::MAX))));
        let never = |_: i32, _: &str| -> Result<IpAddr, ResolveError> { unreachable!("no lookup for a bad port") };
        assert!(matches!(resolve_with(libc::AF_INET, "name", 70_000, 0, 0, never), Err(ResolveError::Port(70_000))));
        assert_eq!(resolve(libc::AF_INET, "127.0.0.1", 65_535, 0, 0).unwrap(), Address::Inet("127.0.0.1:65535".parse().unwrap()));
    }
}
