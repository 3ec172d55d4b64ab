//! The socket calls on real loopback sockets.

use fdpoll_core::{close, resolve, socket, Address, Events, Poller};
use std::time::Duration;

fn tcp_pair() -> (i32, i32, i32) {
    let server = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    socket::bind(server, &resolve(libc::AF_INET, "127.0.0.1", 0, 0, 0).unwrap()).unwrap();
    socket::listen(server, 8).unwrap();
    let bound = socket::local_address(server).unwrap();
    let client = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    socket::connect(client, &bound).unwrap();
    let (conn, peer) = socket::accept(server, true).unwrap();
    assert_eq!(peer, socket::local_address(client).unwrap());
    (server, client, conn)
}

#[test]
fn tcp_round_trip_and_addresses() {
    let (server, client, conn) = tcp_pair();
    let Address::Inet(local) = socket::local_address(server).unwrap() else { panic!() };
    assert_eq!(local.ip().to_string(), "127.0.0.1");
    assert_ne!(local.port(), 0);
    assert_eq!(socket::peer_address(client).unwrap(), socket::local_address(server).unwrap());
    assert_eq!(socket::send(client, b"hello", 0).unwrap(), 5);
    let mut buf = [0; 16];
    assert_eq!(socket::recv(conn, &mut buf, 0).unwrap(), 5);
    assert_eq!(&buf[..5], b"hello");
    assert!(socket::is_nonblocking(conn).unwrap(), "accept(nonblocking) sets O_NONBLOCK");
    let err = socket::recv(conn, &mut buf, 0).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN));
    for fd in [server, client, conn] {
        close(fd).unwrap();
    }
}

#[test]
fn send_to_a_closed_peer_is_epipe_not_sigpipe() {
    let (server, client, conn) = tcp_pair();
    close(conn).unwrap();
    let mut result = Ok(0);
    for _ in 0..100 {
        result = socket::send(client, &[0; 1024], 0);
        if result.is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let errno = result.unwrap_err().raw_os_error();
    assert!(errno == Some(libc::EPIPE) || errno == Some(libc::ECONNRESET), "{errno:?}");
    close(client).unwrap();
    close(server).unwrap();
}

#[test]
fn options_blocking_and_unix_pairs() {
    let [a, b] = socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0).unwrap();
    socket::set_nonblocking(a, true).unwrap();
    assert!(socket::is_nonblocking(a).unwrap());
    socket::set_nonblocking(a, false).unwrap();
    assert!(!socket::is_nonblocking(a).unwrap());
    socket::set_option(a, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &1i32.to_ne_bytes()).unwrap();
    let mut value = [0u8; 4];
    assert_eq!(socket::get_option(a, libc::SOL_SOCKET, libc::SO_KEEPALIVE, &mut value).unwrap(), 4);
    assert_eq!(i32::from_ne_bytes(value), 1);
    assert_eq!(socket::local_address(a).unwrap(), Address::Unix(vec![]), "unnamed");
    let p = Poller::new().unwrap();
    p.register(b, libc::EPOLLIN as u32).unwrap();
    socket::send(a, b"x", 0).unwrap();
    let mut events = Events::new();
    assert_eq!(p.poll(&mut events, Some(Duration::from_secs(1)), 4).unwrap(), 1);
    assert_eq!(events.iter().collect::<Vec<_>>(), vec![(b, libc::EPOLLIN as u32)]);
    p.close().unwrap();
    close(a).unwrap();
    close(b).unwrap();
}

#[test]
fn udp_and_unix_path_addresses() {
    let dir = std::env::temp_dir().join(format!("fdpoll-core-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.sock");
    let unix = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
    let addr = resolve(libc::AF_UNIX, path.to_str().unwrap(), 0, 0, 0).unwrap();
    socket::bind(unix, &addr).unwrap();
    assert_eq!(socket::local_address(unix).unwrap(), addr);
    let abstract_name = resolve(libc::AF_UNIX, "\0fdpoll-test-abstract", 0, 0, 0).unwrap();
    let abs = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
    socket::bind(abs, &abstract_name).unwrap();
    assert_eq!(socket::local_address(abs).unwrap(), abstract_name);

    let udp = socket::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0).unwrap();
    socket::bind(udp, &resolve(libc::AF_INET6, "::1", 0, 0, 0).unwrap()).unwrap();
    let to = socket::local_address(udp).unwrap();
    assert_eq!(socket::send_to(udp, b"dgram", 0, &to).unwrap(), 5);
    let mut buf = [0; 8];
    let (n, from) = socket::recv_from(udp, &mut buf, 0).unwrap();
    assert_eq!((n, from), (5, to));
    for fd in [unix, abs, udp] {
        close(fd).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}
