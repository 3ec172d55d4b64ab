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
