/**
 * The Linux numbers the WebAssembly backend speaks at its socket host's boundary, whatever the
 * real platform: errnos, socket families, types, levels, options and flags, and the epoll bits
 * of `crates/core/src/bits.rs`. Node reports socket errors by libuv's names (`err.code`), which
 * `errnoOf` maps to these numbers.
 */

/** Linux errno values by name. */
export const errno = {
  EPERM: 1, ENOENT: 2, EIO: 5, EBADF: 9, EAGAIN: 11, ENOMEM: 12, EACCES: 13, EEXIST: 17,
  ENOTDIR: 20, EINVAL: 22, ENFILE: 23, EMFILE: 24, EPIPE: 32, ENAMETOOLONG: 36, ENOSYS: 38,
  ENOTSOCK: 88, EDESTADDRREQ: 89, EMSGSIZE: 90, ENOPROTOOPT: 92, EPROTONOSUPPORT: 93,
  ESOCKTNOSUPPORT: 94, EOPNOTSUPP: 95, EAFNOSUPPORT: 97, EADDRINUSE: 98, EADDRNOTAVAIL: 99,
  ENETDOWN: 100, ENETUNREACH: 101, ECONNABORTED: 103, ECONNRESET: 104, ENOBUFS: 105, EISCONN: 106,
  ENOTCONN: 107, ETIMEDOUT: 110, ECONNREFUSED: 111, EHOSTDOWN: 112, EHOSTUNREACH: 113,
  EALREADY: 114, EINPROGRESS: 115, ECANCELED: 125,
} as const

/** Returned for a host name that does not resolve (the native binding's `GAI_NOT_FOUND`). */
export const GAI_NOT_FOUND = -65_536

/** The Linux errno for a Node/libuv error (by its `code`); EIO for one with no Linux name. */
export function errnoOf(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code
  return (typeof code === 'string' && (errno as Record<string, number>)[code]) || errno.EIO
}

export const AF_UNIX = 1
export const AF_INET = 2
export const AF_INET6 = 10
export const SOCK_STREAM = 1
export const SOCK_DGRAM = 2
/** `type` flags, which the host ignores (it is never blocking; the caller decides). */
export const SOCK_NONBLOCK = 0o4000
export const SOCK_CLOEXEC = 0o2000000

export const SOL_SOCKET = 1
export const SO_REUSEADDR = 2
export const SO_TYPE = 3
export const SO_ERROR = 4
export const SO_BROADCAST = 6
export const SO_SNDBUF = 7
export const SO_RCVBUF = 8
export const SO_KEEPALIVE = 9
export const SO_ACCEPTCONN = 30
export const SO_PROTOCOL = 38
export const SO_DOMAIN = 39
export const IPPROTO_TCP = 6
export const IPPROTO_UDP = 17
export const IPPROTO_IPV6 = 41
export const TCP_NODELAY = 1
export const TCP_CORK = 3
export const IPV6_V6ONLY = 26

export const MSG_OOB = 0x1
export const MSG_PEEK = 0x2
export const SHUT_RD = 0
export const SHUT_WR = 1
export const SHUT_RDWR = 2

/* The epoll bits (crates/core/src/bits.rs). */
export const EPOLLIN = 0x001
export const EPOLLPRI = 0x002
export const EPOLLOUT = 0x004
export const EPOLLERR = 0x008
export const EPOLLHUP = 0x010
export const EPOLLRDNORM = 0x040
export const EPOLLRDBAND = 0x080
export const EPOLLWRNORM = 0x100
export const EPOLLWRBAND = 0x200
export const EPOLLRDHUP = 0x2000
/** The in-memory engine's key-less wakeup of every watcher (`memory.rs`'s WAKE_ALL, !0 as u32). */
export const WAKE_ALL = 0xffffffff
/** The key of a data arrival (Linux's `sock_def_readable`). */
export const READ_KEY = EPOLLIN | EPOLLPRI | EPOLLRDNORM | EPOLLRDBAND
/** The key of room to write coming back (Linux's `sk_stream_write_space`). */
export const WRITE_KEY = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND
