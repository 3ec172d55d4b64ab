/**
 * `Epoll`: CPython's `select.epoll`, same methods, defaults, units (seconds) and errors.
 * `poll()` blocks the JS thread while it waits, as Python's does. Delivery on Node's event loop
 * (`watch`, `ref`/`unref`, `for await`) is the Epoll's handle, `ep.watcher` (./watcher.ts);
 * the methods here that reach it are thin delegates.
 */
import binding = require('./native.js')
import { DEFAULT_MAXEVENTS, cInt, checkOut, eventMask, fileno, integer, maxEvents, timeoutMs } from './args.js'
import { EPOLL_CLOEXEC, EPOLLIN, EPOLLOUT, EPOLLPRI } from './constants.js'
import { type OSError, closedError, errno, osError } from './errors.js'
import { own, release } from './owner.js'
import { Watcher, registrationChange } from './watcher.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { BACKEND, epollCreate, epollModify, epollPollInto, epollRegister, epollUnregister, fdClose } = binding

/**
 * The poller backend in this build: 'epoll' (raw epoll, Linux), 'mio' (the mio crate over
 * kqueue on macOS and FreeBSD; on Linux when built with the `mio` feature) or 'wasm' (the
 * WebAssembly build, `FDPOLL_BACKEND=wasm`). They differ where the README's "mio backend" section
 * says: ask this to tell.
 */
export const backend = BACKEND as 'epoll' | 'mio' | 'wasm'

/**
 * The error of a failed register. The WebAssembly backend's epolls watch its own fds only (its
 * sockets, epolls and wakers, in its in-memory engine): its EBADF says so.
 */
function registerError(errnum: number, fd: number): OSError {
  const error = osError(errnum, 'epoll_ctl')
  if (backend === 'wasm' && errnum === errno.EBADF) {
    error.message += `: fd ${fd} is not one of fdpoll's own (its sockets, Epolls and wakers), the only fds ` +
      'the WebAssembly backend (FDPOLL_BACKEND=wasm) can watch'
  }
  return error
}

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
  /** This Epoll's handle on Node's event loop: `watch`, `ref`/`unref` and `for await` go through it. */
  readonly watcher: Watcher = new Watcher(this, () => {
    this.#fd = -1 // closed behind our back: the number is not ours to close any more
    release(this)
  })

  /**
   * Creates an epoll fd (always close-on-exec). `sizehint` is -1 or positive and otherwise
   * ignored, as in Python; `flags` may be 0 or EPOLL_CLOEXEC.
   */
  constructor(sizehint = -1, flags = 0) {
    if (adopted !== undefined) {
      this.#fd = adopted
      adopted = undefined
    } else {
      if (cInt(sizehint, 'sizehint') === 0 || sizehint < -1) throw new RangeError(`negative sizehint: ${sizehint}`)
      if (cInt(flags, 'flags') !== 0 && flags !== EPOLL_CLOEXEC) throw osError(errno.EINVAL, 'epoll_create1')
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
    const target = fileno(fd)
    const mask = eventMask(eventmask) // both before the closed check, as in CPython
    const ret = epollRegister(this.#open(), target, mask)
    if (ret < 0) throw registerError(-ret, target)
    this.watcher[registrationChange](+1)
  }

  /** Replaces the event mask of a registered fd (re-arms EPOLLONESHOT). ENOENT if not registered. */
  modify(fd: FileLike, eventmask: number): void {
    const target = fileno(fd)
    const mask = eventMask(eventmask)
    const ret = epollModify(this.#open(), target, mask)
    if (ret < 0) throw osError(-ret, 'epoll_ctl')
  }

  /** Stops watching `fd`. ENOENT if not registered, EBADF if it was closed meanwhile. */
  unregister(fd: FileLike): void {
    const target = fileno(fd)
    const ret = epollUnregister(this.#open(), target)
    if (ret !== 0 && ret !== -errno.EBADF) throw osError(-ret, 'epoll_ctl')
    this.watcher[registrationChange](-1) // a closed fd's registration is gone from the kernel too
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

  /** `ep.watcher.start(...)`: delivers readiness on Node's own event loop (see `Watcher.start`). */
  watch(callback: (events: [number, number][]) => void, maxevents = -1, onError?: (error: OSError) => void): void {
    this.watcher.start(callback, maxevents, onError)
  }

  /** `ep.watcher.startInto(...)`: `watch` on the allocation-free path (see `Watcher.startInto`). */
  watchInto(out: Int32Array | Uint32Array, callback: (count: number) => void, onError?: (error: OSError) => void): void {
    this.watcher.startInto(out, callback, onError)
  }

  /** `ep.watcher.stop()`: stops `watch`/`watchInto`. Idempotent; `close()` does it too. */
  unwatch(): void {
    this.watcher.stop()
  }

  /** `ep.watcher.active`: true while watched. */
  get watching(): boolean {
    return this.watcher.active
  }

  /** `ep.watcher.mode`: 'loop' or 'thread' while watched (see `Watcher.mode`), else undefined. */
  get watchMode(): 'loop' | 'thread' | undefined {
    return this.watcher.mode
  }

  /** `ep.watcher.ref()`: watching keeps the process alive while fds are registered (the default). */
  ref(): this {
    this.watcher.ref()
    return this
  }

  /** `ep.watcher.unref()`: lets the process exit while this Epoll is watched. */
  unref(): this {
    this.watcher.unref()
    return this
  }

  /** `for await (const events of ep)`: the batches a watch delivers (see `Watcher`'s iterator). */
  [Symbol.asyncIterator](): AsyncGenerator<[number, number][], void, undefined> {
    return this.watcher[Symbol.asyncIterator]()
  }

  /** Closes the epoll fd (and stops watching). Idempotent; registered fds stay open. */
  close(): void {
    const fd = this.#fd
    if (fd < 0) return
    this.watcher.stop()
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
