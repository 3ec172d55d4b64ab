/**
 * `Epoll`: CPython's `select.epoll`, same methods, defaults, units (seconds) and errors.
 * `poll()` blocks the JS thread while it waits, as Python's does.
 */
import binding = require('./native.js')
import { eventMask, fileno, integer, timeoutMs } from './args.js'
import { EPOLL_CLOEXEC, EPOLLIN, EPOLLOUT, EPOLLPRI } from './constants.js'
import { OSError, ValueError, closedError, errno, osError } from './errors.js'
import { own, release } from './owner.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const {
  BACKEND, epollCreate, epollModify, epollPollInto, epollRegister, epollUnregister, fdClose, watchStart,
} = binding
type Watcher = binding.Watcher

/**
 * The poller backend in this build: 'epoll' (raw epoll, Linux), 'mio' (the mio crate over
 * kqueue on macOS and FreeBSD; on Linux when built with the `mio` feature) or 'wasm' (the
 * WebAssembly build, `FDPOLL_BACKEND=wasm`). They differ where the README's "mio backend" section
 * says: ask this to tell.
 */
export const backend = BACKEND as 'epoll' | 'mio' | 'wasm'

/** Python's default for `maxevents = -1`: FD_SETSIZE - 1. */
const DEFAULT_MAXEVENTS = 1023
/** The core's cap on events per poll; more stay on the kernel's ready list for the next one. */
const MAX_EVENTS_PER_POLL = 65_536

/** Anything `register` accepts: an fd, or an object with a `fileno()` method. */
export type FileLike = number | { fileno(): number }

/** The packed `[fd, events, ...]` array every `poll()` fills, grown to the largest maxevents. */
let scratch = new Uint32Array(2 * DEFAULT_MAXEVENTS)

/** Set by `fromfd` for the constructor call it makes. */
let adopted: number | undefined

/** An edge- or level-triggered epoll instance (Python's `select.epoll`). */
export class Epoll implements Disposable {
  /** The epoll fd this object owns; -1 once closed. */
  #fd: number
  /** Delivers readiness on Node's loop while watched: a uv_poll handle or a waiting thread. */
  #watcher: Watcher | undefined
  /** Whether watching keeps the process alive (`ref()`, the default) or not (`unref()`). */
  #keepAlive = true
  /**
   * Registrations made through this object and not yet removed: a watch keeps the process
   * alive only while there are some (fds closed without unregister still count).
   */
  #registered = 0
  /** Wakes a `for await` waiting for the next batch, so that `unwatch()`/`close()` ends it. */
  #onUnwatch: (() => void) | undefined

  /**
   * Creates an epoll fd (always close-on-exec). `sizehint` is -1 or positive and otherwise
   * ignored, as in Python; `flags` may be 0 or EPOLL_CLOEXEC.
   */
  constructor(sizehint = -1, flags = 0) {
    if (adopted !== undefined) {
      this.#fd = adopted
      adopted = undefined
    } else {
      if (integer(sizehint, 'sizehint') === 0 || sizehint < -1) throw new RangeError(`negative sizehint: ${sizehint}`)
      if (integer(flags, 'flags') !== 0 && flags !== EPOLL_CLOEXEC) throw osError(errno.EINVAL, 'epoll_create1')
      this.#fd = epollCreate()
      if (this.#fd < 0) throw osError(-this.#fd, 'epoll_create1')
    }
    own(this, this.#fd)
  }

  /**
   * Wraps an existing epoll fd, which the new object owns: closing it closes `fd`. With the mio
   * backend only the fd of an `Epoll` of this process works; any other fd fails with EBADF on
   * first use.
   */
  static fromfd(fd: number): Epoll {
    if (integer(fd, 'fd') < 0) throw new RangeError(`file descriptor cannot be a negative integer (${fd})`)
    adopted = fd
    return new Epoll()
  }

  /** True once `close()` has run. */
  get closed(): boolean {
    return this.#fd < 0
  }

  /** The epoll fd. */
  fileno(): number {
    return this.#open()
  }

  /** Watches `fd` for `eventmask` (default EPOLLIN | EPOLLPRI | EPOLLOUT). EEXIST if already there. */
  register(fd: FileLike, eventmask: number = EPOLLIN | EPOLLPRI | EPOLLOUT): void {
    const ret = epollRegister(this.#open(), fileno(fd), eventMask(eventmask))
    if (ret < 0) throw osError(-ret, 'epoll_ctl')
    this.#countRegistrations(+1)
  }

  /** Replaces the event mask of a registered fd (re-arms EPOLLONESHOT). ENOENT if not registered. */
  modify(fd: FileLike, eventmask: number): void {
    const ret = epollModify(this.#open(), fileno(fd), eventMask(eventmask))
    if (ret < 0) throw osError(-ret, 'epoll_ctl')
  }

  /** Stops watching `fd`. ENOENT if not registered, EBADF if it was closed meanwhile. */
  unregister(fd: FileLike): void {
    const ret = epollUnregister(this.#open(), fileno(fd))
    if (ret !== 0 && ret !== -errno.EBADF) throw osError(-ret, 'epoll_ctl')
    this.#countRegistrations(-1) // a closed fd's registration is gone from the kernel too
    if (ret < 0) throw osError(-ret, 'epoll_ctl')
  }

  /**
   * Waits up to `timeout` seconds (undefined, null or negative: forever) and returns the ready
   * fds as `[fd, events]` pairs, at most `maxevents` (-1: 1023). Blocks the JS thread.
   */
  poll(timeout?: number | null, maxevents = -1): [number, number][] {
    const epfd = this.#open()
    const ms = timeoutMs(timeout)
    const max = maxEvents(maxevents)
    if (scratch.length < 2 * max) scratch = new Uint32Array(2 * max)
    const count = epollPollInto(epfd, scratch, ms, max)
    if (count < 0) throw osError(-count, 'epoll_wait')
    const events = new Array<[number, number]>(count)
    for (let i = 0; i < count; i++) events[i] = [scratch[2 * i], scratch[2 * i + 1]]
    return events
  }

  /**
   * The allocation-free `poll`: writes `out[2i] = fd, out[2i+1] = events` for at most
   * `out.length / 2` ready fds and returns how many it wrote.
   */
  pollInto(out: Int32Array | Uint32Array, timeout?: number | null): number {
    const epfd = this.#open()
    checkOut(out)
    const count = epollPollInto(epfd, out, timeoutMs(timeout), out.length >>> 1)
    if (count < 0) throw osError(-count, 'epoll_wait')
    return count
  }

  /**
   * Delivers readiness on Node's own event loop, without blocking it: whenever registered fds
   * are ready, `callback(events)` runs on the JS thread with the `[fd, events]` pairs `poll(0)`
   * returns (at most `maxevents`). The next wait starts only after `callback` returns, so a
   * level-triggered fd that `callback` services never spins. One watch per Epoll.
   */
  watch(callback: (events: [number, number][]) => void, maxevents = -1): void {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function')
    const max = maxEvents(maxevents)
    this.#startWatch(() => {
      const events = this.poll(0, max)
      if (events.length > 0) callback(events)
    })
  }

  /** `watch` on the allocation-free path: fills `out` as `pollInto` does and calls `callback(count)`. */
  watchInto(out: Int32Array | Uint32Array, callback: (count: number) => void): void {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function')
    this.#open()
    checkOut(out) // without polling: that would consume edge-triggered events before the watch
    this.#startWatch(() => {
      const count = this.pollInto(out, 0)
      if (count > 0) callback(count)
    })
  }

  /** Stops `watch`/`watchInto`. Idempotent; `close()` does it too. */
  unwatch(): void {
    const watcher = this.#watcher
    const onUnwatch = this.#onUnwatch
    this.#watcher = undefined
    this.#onUnwatch = undefined
    watcher?.stop()
    onUnwatch?.()
  }

  /** True while watched. */
  get watching(): boolean {
    return this.#watcher !== undefined
  }

  /**
   * How readiness reaches Node while watched: 'loop' (Node's own libuv loop polls the epoll
   * fd, no thread) or 'thread' (a waiting thread: where libuv is not found, or when the
   * environment variable FDPOLL_WATCH=thread asks for it); undefined when not watched.
   */
  get watchMode(): 'loop' | 'thread' | undefined {
    if (this.#watcher === undefined) return undefined
    return this.#watcher.onLoop ? 'loop' : 'thread'
  }

  /**
   * Makes watching keep the process alive while fds are registered (the default), like a
   * Node handle's `ref()`.
   */
  ref(): this {
    this.#keepAlive = true
    this.#applyRef()
    return this
  }

  /** Lets the process exit while this Epoll is watched, like a Node handle's `unref()`. */
  unref(): this {
    this.#keepAlive = false
    this.#applyRef()
    return this
  }

  #countRegistrations(change: number): void {
    const before = this.#registered
    this.#registered = Math.max(0, before + change)
    if ((before === 0) !== (this.#registered === 0)) this.#applyRef()
  }

  /** A watch holds the process only while ref'd and something is registered. */
  #applyRef(): void {
    this.#watcher?.setRef(this.#keepAlive && this.#registered > 0)
  }

  /**
   * `for await (const events of ep)`: the batches `watch` delivers, until `unwatch()`/`close()`
   * or a `break`. Batches queue up while the loop body awaits other work, so with
   * level-triggered fds service each batch before awaiting anything else.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<[number, number][], void, undefined> {
    const batches: [number, number][][] = []
    let wake: (() => void) | undefined
    this.watch((events) => {
      batches.push(events)
      wake?.()
    })
    const watcher = this.#watcher
    this.#onUnwatch = () => wake?.()
    try {
      while (true) {
        while (batches.length > 0) yield batches.shift()!
        if (this.#watcher !== watcher) return
        await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
      }
    } finally {
      if (this.#watcher === watcher) this.unwatch()
    }
  }

  #startWatch(dispatch: () => void): void {
    const epfd = this.#open()
    if (watchStart === undefined) { // the WebAssembly build: no wakeups on Node's loop yet
      throw new OSError(errno.ENOSYS, 'watch', 'ENOSYS', `the '${BACKEND}' backend cannot watch an Epoll on Node's loop yet: use poll()`)
    }
    if (this.#watcher !== undefined) throw new ValueError('this Epoll is already watched: unwatch() first', 'ERR_WATCHED')
    const thread = process.env.FDPOLL_WATCH === 'thread'
    const watcher: Watcher | number = watchStart(epfd, () => {
      if (this.#watcher !== watcher) return // a dispatch queued before unwatch() is dropped
      try {
        dispatch()
      } catch (e) {
        queueMicrotask(() => { throw e }) // an 'uncaughtException', as from any Node callback
      }
    }, thread)
    if (typeof watcher === 'number') throw osError(-watcher, 'watch')
    this.#watcher = watcher
    this.#applyRef()
  }

  /** Closes the epoll fd (and stops watching). Idempotent; registered fds stay open. */
  close(): void {
    const fd = this.#fd
    if (fd < 0) return
    this.unwatch()
    this.#fd = -1
    release(this)
    const ret = fdClose(fd)
    if (ret < 0) throw osError(-ret, 'close')
  }

  /** Closes, so `using ep = new Epoll()` works like Python's `with select.epoll() as ep`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** The epoll fd, or the closed-object error. */
  #open(): number {
    if (this.#fd < 0) throw closedError('epoll')
    return this.#fd
  }
}

/** `out` of `pollInto`/`watchInto`: an Int32Array or Uint32Array with room for one pair. */
function checkOut(out: unknown): asserts out is Int32Array | Uint32Array {
  if (!(out instanceof Int32Array || out instanceof Uint32Array)) {
    throw new TypeError('out must be an Int32Array or a Uint32Array')
  }
  if (out.length < 2) throw new RangeError('out must have room for at least one [fd, events] pair')
}

function maxEvents(maxevents: unknown): number {
  if (integer(maxevents, 'maxevents') === -1) return DEFAULT_MAXEVENTS
  if ((maxevents as number) < 1) throw new RangeError(`maxevents must be greater than 0, got ${maxevents}`)
  return Math.min(maxevents as number, MAX_EVENTS_PER_POLL)
}
