/** The epoll constants CPython's `select` module exports, with the Linux kernel's values. */

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

/* Socket constants (Linux values, as Python's `socket` module exports them). */

/** Local (Unix domain) sockets. */
export const AF_UNIX = 1
/** IPv4. */
export const AF_INET = 2
/** IPv6. */
export const AF_INET6 = 10
/** Stream sockets (TCP). */
export const SOCK_STREAM = 1
/** Datagram sockets (UDP). */
export const SOCK_DGRAM = 2
/** `type` flag: create the socket non-blocking. */
export const SOCK_NONBLOCK = 0o4000
/** `type` flag: close on exec (always set by fdpoll). */
export const SOCK_CLOEXEC = 0o2000000
/** Socket-level options. */
export const SOL_SOCKET = 1
/** Allow binding a port in TIME_WAIT. */
export const SO_REUSEADDR = 2
/** The socket's type. */
export const SO_TYPE = 3
/** Pending error (read it after a non-blocking connect). */
export const SO_ERROR = 4
/** Allow broadcast datagrams. */
export const SO_BROADCAST = 6
/** Send buffer size. */
export const SO_SNDBUF = 7
/** Receive buffer size. */
export const SO_RCVBUF = 8
/** TCP keep-alive probes. */
export const SO_KEEPALIVE = 9
/** Linger on close (a struct linger, as bytes). */
export const SO_LINGER = 13
/** Several sockets may bind the same port; the kernel spreads connections among them. */
export const SO_REUSEPORT = 15
/** The socket's protocol. */
export const SO_PROTOCOL = 38
/** The socket's family. */
export const SO_DOMAIN = 39
/** IP protocol (level for IP options). */
export const IPPROTO_IP = 0
/** TCP (level for TCP options). */
export const IPPROTO_TCP = 6
/** UDP. */
export const IPPROTO_UDP = 17
/** IPv6 (level for IPv6 options). */
export const IPPROTO_IPV6 = 41
/** Restrict an AF_INET6 socket to IPv6. */
export const IPV6_V6ONLY = 26
/** Send segments at once, no Nagle buffering. */
export const TCP_NODELAY = 1
/** Hold partial segments until uncorked (batch a response). */
export const TCP_CORK = 3
/** Idle seconds before keep-alive probes. */
export const TCP_KEEPIDLE = 4
/** Seconds between keep-alive probes. */
export const TCP_KEEPINTVL = 5
/** Keep-alive probes before the connection is dropped. */
export const TCP_KEEPCNT = 6
/** Wake accept() only when data arrives. */
export const TCP_DEFER_ACCEPT = 9
/** Send ACKs at once. */
export const TCP_QUICKACK = 12
/** TCP Fast Open queue length. */
export const TCP_FASTOPEN = 23
/** `shutdown`: no more receives. */
export const SHUT_RD = 0
/** `shutdown`: no more sends. */
export const SHUT_WR = 1
/** `shutdown`: neither. */
export const SHUT_RDWR = 2
/** `recv` flag: look without consuming. */
export const MSG_PEEK = 0x2
/** `recv`/`send` flag: do not block this call. */
export const MSG_DONTWAIT = 0x40
/** `recv` flag: wait for the full amount. */
export const MSG_WAITALL = 0x100
/** `send` flag: no SIGPIPE (always set by fdpoll). */
export const MSG_NOSIGNAL = 0x4000
/** The kernel's cap on `listen` backlogs. */
export const SOMAXCONN = 4096

/* poll(2) constants, for `Poll` (Python's `select.poll`). */

/** Readable. */
export const POLLIN = 0x001
/** Urgent data to read. */
export const POLLPRI = 0x002
/** Writable. */
export const POLLOUT = 0x004
/** Error (always reported). */
export const POLLERR = 0x008
/** Hang up (always reported). */
export const POLLHUP = 0x010
/** The fd is not open (always reported). */
export const POLLNVAL = 0x020
/** Normal data readable. */
export const POLLRDNORM = 0x040
/** Priority data readable. */
export const POLLRDBAND = 0x080
/** Normal data writable. */
export const POLLWRNORM = 0x100
/** Priority data writable. */
export const POLLWRBAND = 0x200
/** Unused by Linux; exported for parity. */
export const POLLMSG = 0x400
/** The peer shut down its writing half. */
export const POLLRDHUP = 0x2000
