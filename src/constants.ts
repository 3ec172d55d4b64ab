/**
 * The constants of CPython's `select` and `socket` modules. The epoll ones are fdpoll's own, the
 * Linux kernel's values on every platform; the others are the platform's (see below).
 */
import binding = require('./native.js')

/** Readable. */
export const EPOLLIN = 0x001
/** Urgent data to read. */
export const EPOLLPRI = 0x002
/** Writable. */
export const EPOLLOUT = 0x004
/** Error condition (always reported). */
export const EPOLLERR = 0x008
/** Hang up (always reported). */
export const EPOLLHUP = 0x010
/** Normal data readable. */
export const EPOLLRDNORM = 0x040
/** Priority data readable. */
export const EPOLLRDBAND = 0x080
/** Normal data writable. */
export const EPOLLWRNORM = 0x100
/** Priority data writable. */
export const EPOLLWRBAND = 0x200
/** Unused by Linux; exported for parity. */
export const EPOLLMSG = 0x400
/** The peer shut down its writing half. */
export const EPOLLRDHUP = 0x2000
/** Wake one of the epoll instances waiting on the same fd, not all (ADD only). */
export const EPOLLEXCLUSIVE = 0x10000000
/** Disarm after one event until `modify` re-arms. */
export const EPOLLONESHOT = 0x40000000
/** Edge-triggered: report changes, not states. (`EPOLLIN | EPOLLET` is negative in JS: accepted.) */
export const EPOLLET = 0x80000000
/** `Epoll` flag: close the epoll fd on exec (always set, as in Python). O_CLOEXEC on x64/arm64. */
export const EPOLL_CLOEXEC = 0o2000000

/*
 * Socket and poll(2) constants, under Python's names, with the values of the platform the native
 * addon was built for (libc's): AF_INET6 is 10 on Linux and 30 on macOS, SOL_SOCKET 1 and 0xffff.
 * Where the platform has no such option, its number is -1, which every kernel refuses, so code
 * written for another platform fails with an OSError (ENOPROTOOPT or EINVAL) instead of setting
 * some other option: TCP_CORK, TCP_DEFER_ACCEPT and TCP_QUICKACK outside Linux, SO_DOMAIN and
 * SO_PROTOCOL on macOS. A flag it has no such thing for is 0, which asks for nothing and is never
 * reported: MSG_NOSIGNAL on macOS (fdpoll's sockets never raise SIGPIPE there either), POLLRDHUP
 * on macOS, POLLMSG outside Linux. SOCK_NONBLOCK and SOCK_CLOEXEC work everywhere: where the
 * platform has none (macOS) they are fdpoll's own bits, which its socket calls apply with fcntl.
 */

/** Local (Unix domain) sockets. */
export const AF_UNIX: number = binding.AF_UNIX
/** IPv4. */
export const AF_INET: number = binding.AF_INET
/** IPv6. */
export const AF_INET6: number = binding.AF_INET6
/** Stream sockets (TCP). */
export const SOCK_STREAM: number = binding.SOCK_STREAM
/** Datagram sockets (UDP). */
export const SOCK_DGRAM: number = binding.SOCK_DGRAM
/** `type` flag: create the socket non-blocking. */
export const SOCK_NONBLOCK: number = binding.SOCK_NONBLOCK
/** `type` flag: close on exec (always set by fdpoll). */
export const SOCK_CLOEXEC: number = binding.SOCK_CLOEXEC
/** Socket-level options. */
export const SOL_SOCKET: number = binding.SOL_SOCKET
/** Allow binding a port in TIME_WAIT. */
export const SO_REUSEADDR: number = binding.SO_REUSEADDR
/** The socket's type. */
export const SO_TYPE: number = binding.SO_TYPE
/** Pending error (read it after a non-blocking connect). */
export const SO_ERROR: number = binding.SO_ERROR
/** Allow broadcast datagrams. */
export const SO_BROADCAST: number = binding.SO_BROADCAST
/** Send buffer size. */
export const SO_SNDBUF: number = binding.SO_SNDBUF
/** Receive buffer size. */
export const SO_RCVBUF: number = binding.SO_RCVBUF
/** TCP keep-alive probes. (Read back, the BSDs report a set flag option as its bit, not 1.) */
export const SO_KEEPALIVE: number = binding.SO_KEEPALIVE
/** Linger on close (a struct linger, as bytes). */
export const SO_LINGER: number = binding.SO_LINGER
/** Several sockets may bind the same port; Linux spreads connections among them. */
export const SO_REUSEPORT: number = binding.SO_REUSEPORT
/** The socket's protocol (-1 on macOS, which has no such option). */
export const SO_PROTOCOL: number = binding.SO_PROTOCOL
/** The socket's family (-1 on macOS, which has no such option). */
export const SO_DOMAIN: number = binding.SO_DOMAIN
/** IP protocol (level for IP options). */
export const IPPROTO_IP: number = binding.IPPROTO_IP
/** TCP (level for TCP options). */
export const IPPROTO_TCP: number = binding.IPPROTO_TCP
/** UDP. */
export const IPPROTO_UDP: number = binding.IPPROTO_UDP
/** IPv6 (level for IPv6 options). */
export const IPPROTO_IPV6: number = binding.IPPROTO_IPV6
/** Restrict an AF_INET6 socket to IPv6. */
export const IPV6_V6ONLY: number = binding.IPV6_V6ONLY
/** Send segments at once, no Nagle buffering. */
export const TCP_NODELAY: number = binding.TCP_NODELAY
/**
 * Hold partial segments until uncorked (Linux; -1 elsewhere). `setCork` and `corked` cork on
 * every platform (TCP_NOPUSH on the BSDs).
 */
export const TCP_CORK: number = binding.TCP_CORK
/** Idle seconds before keep-alive probes (on macOS its TCP_KEEPALIVE, the same option). */
export const TCP_KEEPIDLE: number = binding.TCP_KEEPIDLE
/** Seconds between keep-alive probes. */
export const TCP_KEEPINTVL: number = binding.TCP_KEEPINTVL
/** Keep-alive probes before the connection is dropped. */
export const TCP_KEEPCNT: number = binding.TCP_KEEPCNT
/** Wake accept() only when data arrives (Linux; -1 elsewhere). */
export const TCP_DEFER_ACCEPT: number = binding.TCP_DEFER_ACCEPT
/** Send ACKs at once (Linux; -1 elsewhere). */
export const TCP_QUICKACK: number = binding.TCP_QUICKACK
/** TCP Fast Open on a listener (Linux: the queue length; macOS and FreeBSD: on or off). */
export const TCP_FASTOPEN: number = binding.TCP_FASTOPEN
/** `shutdown`: no more receives. */
export const SHUT_RD: number = binding.SHUT_RD
/** `shutdown`: no more sends. */
export const SHUT_WR: number = binding.SHUT_WR
/** `shutdown`: neither. */
export const SHUT_RDWR: number = binding.SHUT_RDWR
/** `recv` flag: look without consuming. */
export const MSG_PEEK: number = binding.MSG_PEEK
/** `recv`/`send` flag: do not block this call. */
export const MSG_DONTWAIT: number = binding.MSG_DONTWAIT
/** `recv` flag: wait for the full amount. */
export const MSG_WAITALL: number = binding.MSG_WAITALL
/** `send` flag: no SIGPIPE (always in effect with fdpoll; 0 on macOS, which has no such flag). */
export const MSG_NOSIGNAL: number = binding.MSG_NOSIGNAL
/** The C library's cap on `listen` backlogs. */
export const SOMAXCONN: number = binding.SOMAXCONN

/* poll(2) constants, for `Poll` (Python's `select.poll`). */

/** Readable. */
export const POLLIN: number = binding.POLLIN
/** Urgent data to read. */
export const POLLPRI: number = binding.POLLPRI
/** Writable. */
export const POLLOUT: number = binding.POLLOUT
/** Error (always reported). */
export const POLLERR: number = binding.POLLERR
/** Hang up (always reported). */
export const POLLHUP: number = binding.POLLHUP
/** The fd is not open (always reported). */
export const POLLNVAL: number = binding.POLLNVAL
/** Normal data readable. */
export const POLLRDNORM: number = binding.POLLRDNORM
/** Priority data readable. */
export const POLLRDBAND: number = binding.POLLRDBAND
/** Normal data writable (POLLOUT itself on the BSDs). */
export const POLLWRNORM: number = binding.POLLWRNORM
/** Priority data writable. */
export const POLLWRBAND: number = binding.POLLWRBAND
/** Unused by Linux; exported for parity (0 elsewhere). */
export const POLLMSG: number = binding.POLLMSG
/** The peer shut down its writing half (0 on macOS, which never reports it). */
export const POLLRDHUP: number = binding.POLLRDHUP
