/**
 * Python's `select.poll` and `select.select`, over the real poll(2) and select(2): O(n) per
 * call in the number of watched fds, kept for parity and to measure what epoll saves.
 */
import binding = require('./native.js')
import { fileno, integer } from './args.js'
import { POLLIN, POLLOUT, POLLPRI } from './constants.js'
import { KeyError, osError } from './errors.js'
import type { FileLike } from './epoll.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { FD_SETSIZE, pollWait, selectWait } = binding

/** A set of fds watched with poll(2) (Python's `select.poll()` object). */
export class Poll {
  /** fd → event mask, in registration order. */
  #masks = new Map<number, number>()
  /** `[fd, events, revents]` triples for poll(2), rebuilt after a registration changes. */
  #pollfds = new Int32Array(0)
  #bytes = Buffer.alloc(0)
  #stale = false

  /** Watches `fd` for `eventmask` (default POLLIN | POLLPRI | POLLOUT); again: replaces it. */
  register(fd: FileLike, eventmask: number = POLLIN | POLLPRI | POLLOUT): void {
    this.#masks.set(fileno(fd), shortMask(eventmask))
    this.#stale = true
  }

  /** Replaces the mask of a registered fd; FileNotFoundError (ENOENT) if it is not registered. */
  modify(fd: FileLike, eventmask: number): void {
    const n = fileno(fd)
    if (!this.#masks.has(n)) throw osError(2, 'poll.modify')
    this.#masks.set(n, shortMask(eventmask))
    this.#stale = true
  }

  /** Stops watching `fd`; KeyError if it is not registered. */
  unregister(fd: FileLike): void {
    const n = fileno(fd)
    if (!this.#masks.delete(n)) throw new KeyError(`${n} is not registered`, 'ERR_NOT_REGISTERED')
    this.#stale = true
  }

  /**
   * Waits up to `timeout` MILLISECONDS (as Python's poll.poll; undefined, null or negative
   * blocks; rounded up) and returns `[fd, revents]` for each fd with events.
   */
  poll(timeout?: number | null): [number, number][] {
    if (this.#stale) this.#rebuild()
    const ms = pollTimeout(timeout)
    const n = pollWait(this.#bytes, ms)
    if (n < 0) throw osError(-n, 'poll')
    const ready: [number, number][] = []
    for (let i = 2; i < this.#pollfds.length && ready.length < n; i += 3) {
      if (this.#pollfds[i] !== 0) ready.push([this.#pollfds[i - 2], this.#pollfds[i]])
    }
    return ready
  }

  #rebuild(): void {
    this.#pollfds = new Int32Array(3 * this.#masks.size)
    let i = 0
    for (const [fd, mask] of this.#masks) {
      this.#pollfds[i++] = fd
      this.#pollfds[i++] = mask
      this.#pollfds[i++] = 0
    }
    this.#bytes = Buffer.from(this.#pollfds.buffer)
    this.#stale = false
  }
}

/** Python's `select.poll()`: a new Poll object. */
export function poll(): Poll {
  return new Poll()
}

/**
 * Waits until some of the fds (or objects with `fileno()`) are ready: Python's `select.select`.
 * `timeout` is in seconds (undefined or null blocks; rounded up to the microsecond). Returns
 * the ready objects of each list, the same objects that were passed. Every fd must be below
 * FD_SETSIZE (1024): select(2) cannot watch the others.
 */
export function select<R extends FileLike, W extends FileLike, X extends FileLike>(
  rlist: Iterable<R>, wlist: Iterable<W>, xlist: Iterable<X>, timeout?: number | null,
): [R[], W[], X[]] {
  const lists = [iterable(rlist), iterable(wlist), iterable(xlist)] as const
  const packed = new Int32Array(3 + lists[0].length + lists[1].length + lists[2].length)
  let at = 3
  lists.forEach((list, k) => {
    packed[k] = list.length
    for (const obj of list) {
      const fd = fileno(obj)
      if (fd >= FD_SETSIZE) throw new RangeError(`filedescriptor out of range in select(): ${fd} >= FD_SETSIZE (${FD_SETSIZE})`)
      packed[at++] = fd
    }
  })
  const ready = selectWait(packed, selectTimeout(timeout))
  if (ready < 0) throw osError(-ready, 'select')
  let next = 3 // selectWait overwrote each entry that is not ready with -1
  const pick = <T>(list: readonly T[]) => list.filter(() => packed[next++] !== -1)
  return [pick(lists[0]), pick(lists[1]), pick(lists[2])]
}

/** The items of one of select's lists, or a TypeError as Python's "arguments 1-3 must be sequences". */
function iterable<T>(list: Iterable<T>): T[] {
  if (typeof (list as { [Symbol.iterator]?: unknown })?.[Symbol.iterator] !== 'function') {
    throw new TypeError('select: the fd lists must be iterables (arrays, sets) of fds or objects with fileno()')
  }
  return [...list]
}

function shortMask(eventmask: unknown): number {
  if (integer(eventmask, 'eventmask') < 0 || (eventmask as number) > 0xffff) {
    throw new RangeError(`eventmask must fit in 16 bits: ${eventmask}`)
  }
  return eventmask as number
}

function pollTimeout(ms: unknown): number {
  if (ms === undefined || ms === null) return -1
  if (typeof ms !== 'number') throw new TypeError(`timeout must be a number of milliseconds, got ${typeof ms}`)
  if (Number.isNaN(ms)) throw new RangeError('timeout must not be NaN')
  if (ms < 0 || ms === Infinity) return -1
  if (ms > 2 ** 31 - 1) throw new RangeError(`timeout is too large: ${ms} ms`)
  return Math.ceil(ms)
}

function selectTimeout(seconds: unknown): number {
  if (seconds === undefined || seconds === null) return -1
  if (typeof seconds !== 'number') throw new TypeError(`timeout must be a number of seconds, got ${typeof seconds}`)
  if (Number.isNaN(seconds)) throw new RangeError('timeout must not be NaN')
  if (seconds < 0) throw new RangeError('timeout must be non-negative')
  if (seconds === Infinity) return -1
  return Math.ceil(seconds * 1e6)
}
