/**
 * TCP send-path helpers. Cork: hold partial segments while a response is written in pieces,
 * flush on uncork (TCP_CORK on Linux). No-delay: send each write at once (no Nagle).
 */
import { fileno } from './args.js'
import { IPPROTO_TCP, TCP_CORK, TCP_NODELAY } from './constants.js'
import type { FileLike } from './epoll.js'
import { setIntOption } from './socket.js'

/** Turns Nagle's algorithm off (`on`) or back on, for a socket or an fd. */
export function setNoDelay(sock: FileLike, on = true): void {
  setIntOption(fileno(sock), IPPROTO_TCP, TCP_NODELAY, on)
}

/** Corks (`on`) or uncorks, which flushes what was held, a socket or an fd. */
export function setCork(sock: FileLike, on = true): void {
  setIntOption(fileno(sock), IPPROTO_TCP, TCP_CORK, on)
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
