//! The socket calls on real loopback sockets.

use fdpoll_core::multiplex::{poll, pollfd};
use fdpoll_core::{close, resolve, socket, Address};
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
    assert_ne!(i32::from_ne_bytes(value), 0, "set (the BSDs report the option's flag bit, Linux 1)");
    assert_eq!(socket::local_address(a).unwrap(), Address::Unix(vec![]), "unnamed");
    let mut fds = [pollfd(b, libc::POLLIN)];
    assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 0);
    socket::send(a, b"x", 0).unwrap();
    assert_eq!(poll(&mut fds, Some(Duration::from_secs(1))).unwrap(), 1);
    assert_eq!(fds[0].revents, libc::POLLIN);
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
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let abstract_name = resolve(libc::AF_UNIX, "\0fdpoll-test-abstract", 0, 0, 0).unwrap();
        let abs = socket::socket(libc::AF_UNIX, libc::SOCK_DGRAM, 0).unwrap();
        socket::bind(abs, &abstract_name).unwrap();
        assert_eq!(socket::local_address(abs).unwrap(), abstract_name);
        close(abs).unwrap();
    }

    let udp = socket::socket(libc::AF_INET6, libc::SOCK_DGRAM, 0).unwrap();
    socket::bind(udp, &resolve(libc::AF_INET6, "::1", 0, 0, 0).unwrap()).unwrap();
    let to = socket::local_address(udp).unwrap();
    assert_eq!(socket::send_to(udp, b"dgram", 0, &to).unwrap(), 5);
    let mut buf = [0; 8];
    let (n, from) = socket::recv_from(udp, &mut buf, 0).unwrap();
    assert_eq!((n, from), (5, to));
    for fd in [unix, udp] {
        close(fd).unwrap();
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn sock_nonblock_in_the_type_and_accept_as_asked_whatever_the_listener() {
    let listener = socket::socket(libc::AF_INET, libc::SOCK_STREAM | socket::SOCK_NONBLOCK, 0).unwrap();
    assert!(socket::is_nonblocking(listener).unwrap(), "SOCK_NONBLOCK, native or applied with fcntl");
    socket::bind(listener, &resolve(libc::AF_INET, "127.0.0.1", 0, 0, 0).unwrap()).unwrap();
    socket::listen(listener, 8).unwrap();
    let err = socket::accept(listener, false).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EAGAIN), "nothing to accept yet");
    let client = socket::socket(libc::AF_INET, libc::SOCK_STREAM, 0).unwrap();
    assert!(!socket::is_nonblocking(client).unwrap());
    socket::connect(client, &socket::local_address(listener).unwrap()).unwrap();
    let mut fds = [pollfd(listener, libc::POLLIN)];
    poll(&mut fds, Some(Duration::from_secs(5))).unwrap();
    let (conn, _) = socket::accept(listener, false).unwrap();
    assert!(!socket::is_nonblocking(conn).unwrap(), "blocking, though the listener is not (BSDs inherit it)");
    let [a, b] = socket::socketpair(libc::AF_UNIX, libc::SOCK_STREAM | socket::SOCK_NONBLOCK, 0).unwrap();
    assert!(socket::is_nonblocking(a).unwrap() && socket::is_nonblocking(b).unwrap());
    for fd in [listener, client, conn, a, b] {
        close(fd).unwrap();
    }
}

#[test]
fn set_cork_holds_and_releases_partial_segments() {
    let (server, client, conn) = tcp_pair();
    assert!(!socket::is_corked(client).unwrap());
    socket::set_cork(client, true).unwrap();
    assert!(socket::is_corked(client).unwrap());
    socket::send(client, b"held", 0).unwrap();
    let mut fds = [pollfd(conn, libc::POLLIN)];
    assert_eq!(poll(&mut fds, Some(Duration::ZERO)).unwrap(), 0, "a partial segment is held while corked");
    socket::set_cork(client, false).unwrap();
    assert!(!socket::is_corked(client).unwrap());
    // Linux sends a corked segment after 200 ms anyway: only uncorking sends it sooner.
    assert_eq!(poll(&mut fds, Some(Duration::from_millis(100))).unwrap(), 1, "uncorking sent what was held");
    let mut buf = [0; 8];
    assert_eq!(socket::recv(conn, &mut buf, 0).unwrap(), 4);
    for fd in [server, client, conn] {
        close(fd).unwrap();
    }
}
