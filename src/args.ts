/** Argument checks shared by the API: TypeError for a wrong type, RangeError for a bad value. */

const INT32_MAX = 2 ** 31 - 1

/** Python's default for `maxevents = -1`: FD_SETSIZE - 1. */
export const DEFAULT_MAXEVENTS = 1023
/** The core's cap on events per poll; more stay on the kernel's ready list for the next one. */
const MAX_EVENTS_PER_POLL = 65_536

/** An integer argument, or a TypeError naming it. */
export function integer(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new TypeError(`${name} must be an integer, got ${describe(value)}`)
  }
  return value
}

/** An integer that fits a C int, as Python's int arguments must: else a TypeError or RangeError naming it. */
export function cInt(value: unknown, name: string): number {
  if (integer(value, name) < -(2 ** 31) || (value as number) > INT32_MAX) {
    throw new RangeError(`${name} does not fit in a C int: ${value}`)
  }
  return value as number
}

/** The fd of a number or of an object with `fileno()`, as Python's `PyObject_AsFileDescriptor`. */
export function fileno(value: unknown): number {
  let fd = value
  if (typeof value === 'object' && value !== null && typeof (value as { fileno?: unknown }).fileno === 'function') {
    fd = (value as { fileno(): unknown }).fileno()
    if (typeof fd !== 'number' || !Number.isInteger(fd)) {
      throw new TypeError(`fileno() returned a non-integer: ${describe(fd)}`)
    }
  } else if (typeof value !== 'number') {
    throw new TypeError(`fd must be an integer or have a fileno() method, got ${describe(value)}`)
  }
  integer(fd, 'fd')
  if ((fd as number) < 0) throw new RangeError(`file descriptor cannot be a negative integer (${fd})`)
  if ((fd as number) > INT32_MAX) throw new RangeError(`file descriptor is too large (${fd})`)
  return fd as number
}

/** An event mask as an unsigned 32-bit value; signed results of JS bitwise operators are accepted. */
export function eventMask(value: unknown): number {
  integer(value, 'eventmask')
  if ((value as number) < -(2 ** 31) || (value as number) > 2 ** 32 - 1) {
    throw new RangeError(`eventmask does not fit in 32 bits: ${value}`)
  }
  return (value as number) >>> 0
}

/**
 * A timeout in seconds as epoll_wait's milliseconds: undefined, null, a negative number or
 * Infinity block (-1); any other wait is rounded up to the next millisecond, never down to 0.
 */
export function timeoutMs(seconds: unknown): number {
  if (seconds === undefined || seconds === null) return -1
  if (typeof seconds !== 'number') throw new TypeError(`timeout must be a number of seconds, got ${describe(seconds)}`)
  if (Number.isNaN(seconds)) throw new RangeError('timeout must not be NaN')
  if (seconds < 0 || seconds === Infinity) return -1
  const ms = Math.ceil(seconds * 1000)
  if (ms > INT32_MAX) throw new RangeError(`timeout is too large: ${seconds} s`)
  return ms
}

/** `maxevents` of a poll or a watch: -1 (Python's default, 1023) or positive, capped at the core's limit. */
export function maxEvents(maxevents: unknown): number {
  if (cInt(maxevents, 'maxevents') === -1) return DEFAULT_MAXEVENTS
  if ((maxevents as number) < 1) throw new RangeError(`maxevents must be greater than 0, got ${maxevents}`)
  return Math.min(maxevents as number, MAX_EVENTS_PER_POLL)
}

/** `out` of `pollInto`/`watchInto`: an Int32Array or Uint32Array with room for one pair. */
export function checkOut(out: unknown): asserts out is Int32Array | Uint32Array {
  if (!(out instanceof Int32Array || out instanceof Uint32Array)) {
    throw new TypeError('out must be an Int32Array or a Uint32Array')
  }
  if (out.length < 2) throw new RangeError('out must have room for at least one [fd, events] pair')
}

function describe(value: unknown): string {
  if (typeof value === 'object' && value !== null) return value.constructor?.name ?? 'object'
  return typeof value === 'string' ? `'${value}'` : String(value)
}
