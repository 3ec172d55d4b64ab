/**
 * poll(2) and select(2) on the WebAssembly backend: crates/node/src/multiplex.rs's functions,
 * same signatures and results, over the in-memory engine's readiness table (`vfdReadiness`,
 * whose bits are Linux's poll bits). With nothing ready and time left, they block in the wake
 * source (wait.ts: the socket host) until readiness changes, then look again.
 */
import { constants } from 'node:os'
import type * as Binding from '../binding.js'
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLPRI, EPOLLRDBAND, EPOLLRDNORM, EPOLLWRBAND, EPOLLWRNORM } from './linux.js'
import { type WasmHost, takeChanges, waitForChanges } from './wait.js'

/** The multiplexing functions this module adds to the WebAssembly binding. */
export type MultiplexFunctions = Pick<typeof Binding, 'FD_SETSIZE' | 'pollWait' | 'selectWait'>

/** select(2)'s limit, as glibc's. */
const FD_SETSIZE = 1024
/** What makes an fd ready in select's read, write and except lists (Linux's POLLIN_SET, POLLOUT_SET, POLLEX_SET). */
const SELECT_SETS = [
  EPOLLIN | EPOLLRDNORM | EPOLLRDBAND | EPOLLHUP | EPOLLERR,
  EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND | EPOLLERR,
  EPOLLPRI,
] as const

/**
 * Runs `scan` until it finds something (or fails), waiting for changes until `timeoutMs`
 * (negative: no limit) has passed; the first scan follows the changes that came before the call.
 */
function scanUntil(timeoutMs: number, scan: () => number): number {
  const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs
  takeChanges()
  for (;;) {
    const found = scan()
    if (found !== 0) return found
    const left = deadline - performance.now()
    if (left <= 0) return 0
    waitForChanges(left === Infinity ? -1 : left)
  }
}

/** `pollWait` and `selectWait` over `engine`'s readiness table. */
export function multiplexFunctions(engine: WasmHost & Pick<typeof Binding, 'POLLERR' | 'POLLHUP' | 'POLLNVAL'>): MultiplexFunctions {
  const { vfdReadiness, POLLERR, POLLHUP, POLLNVAL } = engine
  const { EBADF, EINVAL } = constants.errno

  function pollWait(pollfds: Uint8Array, timeoutMs: number): number {
    if (pollfds.byteOffset % 4 !== 0 || pollfds.byteLength % 12 !== 0) return -EINVAL
    const triples = new Int32Array(pollfds.buffer, pollfds.byteOffset, pollfds.byteLength / 4)
    return scanUntil(timeoutMs, () => {
      let count = 0
      for (let i = 0; i < triples.length; i += 3) {
        const fd = triples[i]
        const readiness = fd < 0 ? 0 : vfdReadiness(fd)
        const revents = readiness < 0 ? POLLNVAL : readiness & (triples[i + 1] | POLLERR | POLLHUP) & 0xffff
        triples[i + 2] = revents
        if (revents !== 0) count++
      }
      return count
    })
  }

  function selectWait(lists: Int32Array, timeoutUs: number): number {
    const sizes = [lists[0], lists[1], lists[2]]
    if (lists.length < 3 || sizes.some((n) => !(n >= 0)) || 3 + sizes[0] + sizes[1] + sizes[2] !== lists.length) return -EINVAL
    const fds = lists.slice(3)
    if (fds.some((fd) => fd < 0 || fd >= FD_SETSIZE)) return -EINVAL
    const ready = new Uint8Array(fds.length)
    const count = scanUntil(timeoutUs < 0 ? -1 : timeoutUs / 1000, () => {
      let found = 0
      let at = 0
      for (let k = 0; k < 3; k++) {
        for (let i = 0; i < sizes[k]; i++, at++) {
          const readiness = vfdReadiness(fds[at])
          if (readiness < 0) return -EBADF
          ready[at] = (readiness & SELECT_SETS[k]) !== 0 ? 1 : 0
          found += ready[at]
        }
      }
      return found
    })
    if (count < 0) return count
    for (let i = 0; i < fds.length; i++) if (ready[i] === 0) lists[3 + i] = -1
    return count
  }

  return { FD_SETSIZE, pollWait, selectWait }
}
