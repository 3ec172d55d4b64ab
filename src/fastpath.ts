/**
 * The fast path for hot loops, beside the Python-parity API: plain functions over raw fds that
 * return a count, a new fd or `-errno`, and never throw for an OS failure, so the common
 * EAGAIN costs no Error object and a connection needs no object at all. Compare with
 * `-errno.EAGAIN` (`errno` is exported). The caller owns every fd it gets: nothing closes
 * them on GC. Arguments are converted, not checked: pass what the signatures say.
 */
import binding = require('./binding.js')

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { fdClose, socketAcceptFd, socketRecv, socketSend } = binding

/** Accepts a connection on listening socket `fd`: a new non-blocking, close-on-exec fd, or -errno. */
function accept(fd: number): number {
  return socketAcceptFd(fd)
}

/** Receives into `buf`: the byte count (0 at end of stream), or -errno. */
function recvInto(fd: number, buf: Uint8Array): number {
  return socketRecv(fd, buf, 0)
}

/** Sends what the kernel takes of `data` now (never SIGPIPE): the byte count, or -errno. */
function send(fd: number, data: Uint8Array): number {
  return socketSend(fd, data, 0)
}

/** Closes `fd`: 0 or -errno. (Closing the last fd of a socket also drops it from every Epoll.) */
function close(fd: number): number {
  return fdClose(fd)
}

/**
 * `accept`, `recvInto`, `send` and `close` on raw fds. A plain frozen object rather than a module
 * namespace, so `fastpath.send` in a hot loop is a constant property load, not a getter call.
 */
export const fastpath = Object.freeze({ accept, recvInto, send, close })
