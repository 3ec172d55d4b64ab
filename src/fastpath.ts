/**
 * The fast path for hot loops, beside the Python-parity API: plain functions over raw fds that
 * return a count, a new fd or `-errno`, and never throw for an OS failure, so the common
 * EAGAIN costs no Error object and a connection needs no object at all. Compare with
 * `-errno.EAGAIN` (`errno` is exported). The caller owns every fd it gets: nothing closes
 * them on GC. Arguments are converted, not checked: pass what the signatures say.
 */
import { fdClose, socketAcceptFd, socketRecv, socketSend } from './binding.js'

/** Accepts a connection on listening socket `fd`: a new non-blocking, close-on-exec fd, or -errno. */
export function accept(fd: number): number {
  return socketAcceptFd(fd)
}

/** Receives into `buf`: the byte count (0 at end of stream), or -errno. */
export function recvInto(fd: number, buf: Buffer): number {
  return socketRecv(fd, buf, 0)
}

/** Sends what the kernel takes of `data` now (never SIGPIPE): the byte count, or -errno. */
export function send(fd: number, data: Uint8Array): number {
  return socketSend(fd, data, 0)
}

/** Closes `fd`: 0 or -errno. (Closing the last fd of a socket also drops it from every Epoll.) */
export function close(fd: number): number {
  return fdClose(fd)
}
