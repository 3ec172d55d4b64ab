/**
 * TCP send-path helpers. Cork: hold partial segments while a response is written in pieces,
 * flush on uncork (TCP_CORK on Linux, TCP_NOPUSH on macOS and FreeBSD). No-delay: send each
 * write at once (no Nagle).
 */
import binding = require('./native.js')
import { fileno } from './args.js'
import { IPPROTO_TCP, TCP_NODELAY } from './constants.js'
import type { FileLike } from './epoll.js'
import { check, setIntOption } from './socket.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { socketSetCork } = binding

/** Turns Nagle's algorithm off (`on`) or back on, for a socket or an fd. */
export function setNoDelay(sock: FileLike, on = true): void {
  setIntOption(fileno(sock), IPPROTO_TCP, TCP_NODELAY, on)
}

/** Corks (`on`) or uncorks, which sends what was held at once, a socket or an fd. */
export function setCork(sock: FileLike, on = true): void {
  check(socketSetCork(fileno(sock), Boolean(on)), 'setsockopt')
}

/** Runs `fn` with the socket corked, and uncorks (flushing) afterwards even if `fn` throws. */
export function corked<T>(sock: FileLike, fn: () => T): T {
  setCork(sock, true)
  try {
    return fn()
  } finally {
    setCork(sock, false)
  }
}
