/**
 * `Watcher`: an Epoll's handle on Node's event loop, kept apart from the Epoll the way libuv
 * keeps its `uv_poll_t` apart from the fd it polls. It delivers readiness without blocking the
 * loop: Node's own libuv loop watches the epoll fd (no thread), or, where libuv is not found
 * or FDPOLL_WATCH=thread asks for it, a waiting thread does. Like a Node handle it can be
 * ref'd or unref'd. Each Epoll has one, `ep.watcher`; `ep.watch()` and the rest delegate to it.
 */
import binding = require('./native.js')
import { checkOut, maxEvents } from './args.js'
import type { Epoll } from './epoll.js'
import { type OSError, ValueError, errno, osError } from './errors.js'

// Bound once as a plain constant: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { watchStart } = binding
type NativeWatch = binding.Watcher

/**
 * How often a watch checks that its epoll fd was not closed behind its back (it also checks
 * whenever a wakeup finds nothing to poll).
 */
const CHECK_MS = 1000

/** Where the error of a failed watch goes. */
type OnError = (error: OSError) => void

/**
 * Epoll's channel to its watcher, outside the public API: a registration was added (+1) or
 * removed (-1). A watch keeps the process alive only while there are some.
 */
export const registrationChange = Symbol('fdpoll.registrationChange')

/** Readiness of one Epoll delivered on Node's event loop. Made by the Epoll: use `ep.watcher`. */
export class Watcher {
  readonly #epoll: Epoll
  /** Called when the epoll fd was closed behind the watch's back: the Epoll forgets the number. */
  readonly #forgetFd: () => void
  /** The running native watch: a uv_poll handle or a waiting thread. */
  #native: NativeWatch | undefined
  /** Whether watching keeps the process alive (`ref()`, the default) or not (`unref()`). */
  #keepAlive = true
  /**
   * Registrations made through the Epoll and not yet removed: a watch keeps the process alive
   * only while there are some (fds closed without unregister still count).
   */
  #registered = 0
  /** Wakes a `for await` waiting for the next batch, so that `stop()` ends it. */
  #onStop: (() => void) | undefined
  /** While active: checks now and then that the epoll fd was not closed behind the watch's back. */
  #checkTimer: NodeJS.Timeout | undefined

  /** For `Epoll` only, which passes how to forget its fd number without closing it. */
  constructor(epoll: Epoll, forgetFd: () => void) {
    this.#epoll = epoll
    this.#forgetFd = forgetFd
  }

  /**
   * Starts delivering: whenever registered fds are ready, `callback(events)` runs on the JS
   * thread with the `[fd, events]` pairs `poll(0)` returns (at most `maxevents`). The next wait
   * starts only after `callback` returns, so a level-triggered fd that `callback` services never
   * spins. One watch at a time.
   *
   * A watch that fails ends, and its error goes to `onError`, or else is thrown as an
   * 'uncaughtException'. The one to expect: the epoll fd closed behind the Epoll's back
   * (`fs.closeSync(ep.fileno())`, its number perhaps reused since), found within about a second,
   * is an OSError EBADF; the Epoll is then closed, leaving that fd number alone.
   */
  start(callback: (events: [number, number][]) => void, maxevents = -1, onError?: OnError): void {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function')
    const max = maxEvents(maxevents)
    let events: [number, number][] = []
    this.#start(() => (events = this.#epoll.poll(0, max)).length, () => callback(events), onError)
  }

  /** `start` on the allocation-free path: fills `out` as `pollInto` does and calls `callback(count)`. */
  startInto(out: Int32Array | Uint32Array, callback: (count: number) => void, onError?: OnError): void {
    if (typeof callback !== 'function') throw new TypeError('callback must be a function')
    this.#epoll.fileno() // a closed Epoll's error first
    checkOut(out) // without polling: that would consume edge-triggered events before the watch
    this.#start(() => this.#epoll.pollInto(out, 0), callback, onError)
  }

  /** Stops delivering. Idempotent; closing the Epoll does it too. */
  stop(): void {
    const native = this.#native
    const onStop = this.#onStop
    this.#native = undefined
    this.#onStop = undefined
    clearInterval(this.#checkTimer)
    this.#checkTimer = undefined
    native?.stop()
    onStop?.()
  }

  /** True while started. */
  get active(): boolean {
    return this.#native !== undefined
  }

  /**
   * How readiness reaches Node while active: 'loop' (Node's own libuv loop polls the epoll fd,
   * no thread) or 'thread' (a waiting thread: where libuv is not found, or when the environment
   * variable FDPOLL_WATCH=thread asks for it); undefined when stopped.
   */
  get mode(): 'loop' | 'thread' | undefined {
    if (this.#native === undefined) return undefined
    return this.#native.onLoop ? 'loop' : 'thread'
  }

  /** Makes a watch keep the process alive while fds are registered (the default), like a Node handle's `ref()`. */
  ref(): this {
    this.#keepAlive = true
    this.#applyRef()
    return this
  }

  /** Lets the process exit while watched, like a Node handle's `unref()`. */
  unref(): this {
    this.#keepAlive = false
    this.#applyRef()
    return this
  }

  /** Whether a watch keeps the process alive (while fds are registered), like a Node handle's `hasRef()`. */
  hasRef(): boolean {
    return this.#keepAlive
  }

  /**
   * `for await (const events of watcher)`: the batches `start` delivers, until `stop()`, the
   * Epoll's `close()` or a `break`; the error of a watch that fails (see `start`) is thrown by
   * the loop once the batches before it are out. Batches queue up while the loop body awaits
   * other work, so with level-triggered fds service each batch before awaiting anything else.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<[number, number][], void, undefined> {
    const batches: [number, number][][] = []
    let wake: (() => void) | undefined
    let failure: { error: OSError } | undefined
    this.start((events) => {
      batches.push(events)
      wake?.()
    }, -1, (error) => {
      failure = { error }
      wake?.()
    })
    const native = this.#native
    this.#onStop = () => wake?.()
    try {
      while (true) {
        while (batches.length > 0) yield batches.shift()!
        if (failure !== undefined) throw failure.error
        if (this.#native !== native) return
        await new Promise<void>((resolve) => (wake = resolve))
        wake = undefined
      }
    } finally {
      if (this.#native === native) this.stop()
    }
  }

  /** See `registrationChange`. */
  [registrationChange](change: 1 | -1): void {
    const before = this.#registered
    this.#registered = Math.max(0, before + change)
    if ((before === 0) !== (this.#registered === 0)) this.#applyRef()
  }

  /** A watch holds the process only while ref'd and something is registered. */
  #applyRef(): void {
    this.#native?.setRef(this.#keepAlive && this.#registered > 0)
  }

  /**
   * Watches with `poll()` (how many events it took) and `deliver(count)` (the user's callback,
   * called when there are some). The native side waits on a dup of the epoll fd, so the fd's
   * number can be closed or reused without the wait noticing: `native.check()` asks, from a
   * slow unref'd timer and after a wakeup that found nothing, never on the hot path.
   */
  #start(poll: () => number, deliver: (count: number) => void, onError: OnError | undefined): void {
    const epfd = this.#epoll.fileno()
    if (this.#native !== undefined) throw new ValueError('this Epoll is already watched: unwatch() first', 'ERR_WATCHED')
    if (onError !== undefined && typeof onError !== 'function') throw new TypeError('onError must be a function')
    const thread = process.env.FDPOLL_WATCH === 'thread'
    const native: NativeWatch | number = watchStart(epfd, (status: number) => {
      if (this.#native !== native) return // a dispatch queued before stop() is dropped
      let count: number
      try {
        if (status < 0) throw osError(-status, 'watch')
        count = poll()
      } catch (e) {
        return this.#fail(native, e as OSError, onError)
      }
      if (count === 0) return this.#check(native, onError)
      try {
        deliver(count)
      } catch (e) {
        queueMicrotask(() => { throw e }) // an 'uncaughtException', as from any Node callback
      }
    }, thread)
    if (typeof native === 'number') throw osError(-native, 'watch')
    this.#native = native
    this.#checkTimer = setInterval(() => this.#check(native, onError), CHECK_MS).unref()
    this.#applyRef()
  }

  /** Ends `native`'s watch with EBADF if the epoll fd was closed behind its back. */
  #check(native: NativeWatch, onError: OnError | undefined): void {
    if (this.#native === native && native.check() < 0) this.#fail(native, osError(errno.EBADF, 'watch'), onError)
  }

  /**
   * Stops `native`'s watch and reports `error` to `onError` (else as an 'uncaughtException').
   * If the epoll fd was closed behind the Epoll's back, the error says so, and the Epoll is
   * closed without closing the fd number, which may belong to another file by now.
   */
  #fail(native: NativeWatch, error: OSError, onError: OnError | undefined): void {
    const gone = native.check() < 0
    const epfd = this.#epoll.fileno()
    this.stop()
    if (gone) {
      error = osError(errno.EBADF, 'watch')
      error.message += ` (epoll fd ${epfd} was closed behind the watch's back)`
      this.#forgetFd()
    }
    if (onError === undefined) {
      queueMicrotask(() => { throw error })
      return
    }
    try {
      onError(error)
    } catch (e) {
      queueMicrotask(() => { throw e })
    }
  }
}
