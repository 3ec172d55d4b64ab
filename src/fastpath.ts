/**
 * The fast path for hot loops, beside the Python-parity API: plain functions over raw fds that
 * return a count, a new fd or `-errno`, and never throw for an OS failure, so the common
 * EAGAIN costs no Error object and a connection needs no object at all. Compare with
 * `-errno.EAGAIN` (`errno` is exported). The caller owns every fd it gets: nothing closes
 * them on GC. Arguments are converted, not checked: pass what the signatures say.
 */
import binding = require('./native.js')
import { refuseAll } from './spare.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { epollPollRecv, fdClose, socketAcceptFd, socketRecv, socketSend, socketSendMany } = binding

/**
 * Accepts a connection on listening socket `fd`: a new non-blocking, close-on-exec fd, or
 * -errno. On -EMFILE or -ENFILE every pending connection has been closed, as `Socket.accept`
 * does, so a level-triggered listener is not ready again until a new one comes.
 */
function accept(fd: number): number {
  const conn = socketAcceptFd(fd)
  return conn >= 0 ? conn : refuseAll(fd, conn)
}

/** Receives into `buf`: the byte count (0 at end of stream), or -errno. */
function recvInto(fd: number, buf: Uint8Array): number {
  return socketRecv(fd, buf, 0)
}

/** Sends what the kernel takes of `data` now (never SIGPIPE): the byte count, or -errno. */
function send(fd: number, data: Uint8Array): number {
  return socketSend(fd, data, 0)
}

/**
 * `Epoll.pollInto` and `recvInto` in one call: waits on epoll fd `epfd` (`timeoutMs` in
 * milliseconds, -1 blocks) and writes `out[3i] = fd, out[3i + 1] = events`; for each event with
 * EPOLLIN, EPOLLERR or EPOLLHUP on an fd other than `skipFd` (a listening socket, say), it
 * receives into `area[i * slotSize, (i + 1) * slotSize)` and sets `out[3i + 2]` to the byte
 * count (0 at end of stream) or -errno; an event it did not read gets -EAGAIN. Takes at most as
 * many events as both `out` and `area` hold. Returns the event count, or -errno (-EINVAL when
 * there is room for no event, or `out` and `area` share memory).
 */
function pollRecv(epfd: number, out: Int32Array, timeoutMs: number, area: Uint8Array, slotSize: number, skipFd: number): number {
  return epollPollRecv(epfd, out, timeoutMs, area, slotSize, skipFd)
}

/**
 * `send` for many connections in one call: for `i < count`, sends `data[plan[3i + 1],
 * plan[3i + 1] + plan[3i + 2])` to fd `plan[3i]` and sets `plan[3i + 2]` to the bytes the kernel
 * took or -errno (-EINVAL for a range outside `data`). Returns 0, or -EINVAL (nothing sent) when
 * `plan` is too small for `count`, or when `plan` and `data` share memory.
 */
function sendMany(plan: Int32Array, count: number, data: Uint8Array): number {
  return socketSendMany(plan, count, data)
}

/** Closes `fd`: 0 or -errno. (Closing the last fd of a socket also drops it from every Epoll.) */
function close(fd: number): number {
  return fdClose(fd)
}

/**
 * `accept`, `recvInto`, `send`, `close`, and the batched `pollRecv` and `sendMany`, on raw fds.
 * A plain frozen object rather than a module namespace, so `fastpath.send` in a hot loop is a
 * constant property load, not a getter call.
 */
export const fastpath = Object.freeze({ accept, recvInto, send, pollRecv, sendMany, close })
