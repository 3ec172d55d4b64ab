/**
 * `watchStart` on the WebAssembly backend: an Epoll's readiness delivered on Node's loop, as
 * crates/node/src/watch.rs delivers it (same signature, a Watcher of the same shape, `onLoop`
 * true). The epoll is in the in-memory engine, so "readable" is `vfdReadiness(epfd)` having
 * EPOLLIN. What can make it readable:
 * - the socket host's changes, which reach this thread's loop while it is not blocked as a
 *   message from the host's worker (`SocketHost.onWake`, armed only while something is watched,
 *   so that a blocking program's loop never piles them up);
 * - this thread's own calls: a waker signalled, an fd registered or re-armed (`watchFunctions`
 *   wraps them), and the dispatch itself, after which a level-triggered epoll still readable is
 *   dispatched again on the next turn of the loop, as uv_poll re-fires.
 * The watch keeps the process alive (while ref'd) with a timer that never fires.
 */
import { constants } from 'node:os'
import type * as Binding from '../binding.js'
import type { SocketHost } from './host.js'
import { EPOLLIN } from './linux.js'
import type { WasmHost } from './wait.js'

/** The watch functions this module adds to the WebAssembly binding. */
export type WatchFunctions = Pick<typeof Binding, 'watchStart' | 'epollRegister' | 'epollModify' | 'wakerSignal'>

/** One Epoll's watch, as the native `Watcher` behaves. */
class Watch {
  #dispatch: ((status: number) => void) | null
  #keepAlive: NodeJS.Timeout | null
  readonly #epfd: number
  readonly #readiness: (fd: number) => number
  readonly #stopped: (watch: Watch) => void
  #queued = false

  constructor(epfd: number, dispatch: (status: number) => void, readiness: (fd: number) => number, stopped: (watch: Watch) => void) {
    this.#epfd = epfd
    this.#dispatch = dispatch
    this.#readiness = readiness
    this.#stopped = stopped
    this.#keepAlive = setInterval(() => {}, 2 ** 31 - 1)
  }

  /** Stops watching and lets the loop exit: 0 (a second call does nothing). */
  stop(): number {
    if (this.#dispatch === null) return 0
    this.#dispatch = null
    clearInterval(this.#keepAlive!)
    this.#keepAlive = null
    this.#stopped(this)
    return 0
  }

  /** 0 while the epoll fd is open (or once stopped), -EBADF once it was closed behind the watch's back. */
  check(): number {
    return this.#dispatch === null || this.#readiness(this.#epfd) >= 0 ? 0 : -constants.errno.EBADF
  }

  /** Node's loop delivers (no waiting thread). */
  get onLoop(): boolean {
    return true
  }

  /** Whether the watch keeps Node's loop alive. */
  setRef(keepAlive: boolean): void {
    if (keepAlive) this.#keepAlive?.ref()
    else this.#keepAlive?.unref()
  }

  /** Dispatches on the next turn of the loop if the epoll is readable (once, however often asked). */
  poke(): void {
    if (this.#queued || this.#dispatch === null) return
    const readiness = this.#readiness(this.#epfd)
    if (readiness >= 0 && (readiness & EPOLLIN) === 0) return
    this.#queued = true
    setImmediate(() => {
      this.#queued = false
      const dispatch = this.#dispatch
      if (dispatch === null) return
      const now = this.#readiness(this.#epfd)
      if (now < 0) dispatch(now) // closed behind the watch's back: the JS side checks and fails it
      else if ((now & EPOLLIN) !== 0) {
        dispatch(0)
        this.poke() // level-triggered and not yet serviced: again, as uv_poll re-fires
      }
    })
  }
}

/**
 * `watchStart`, and the calls of this thread that may make a watched epoll readable, wrapped to
 * look (`epollRegister`, `epollModify`, `wakerSignal` of `engine`). `hostStarted(host)` is
 * called once the socket host runs.
 */
export function watchFunctions(engine: typeof Binding & WasmHost): WatchFunctions & { hostStarted(host: SocketHost): void } {
  const { vfdReadiness, epollRegister, epollModify, wakerSignal } = engine
  const watches = new Set<Watch>()
  let host: SocketHost | null = null
  const pokeAll = (): void => watches.forEach((watch) => watch.poke())
  /** The host wakes this thread's loop only while something is watched. */
  const armHost = (): void => host?.onWake(watches.size > 0 ? pokeAll : null)

  const watchStart = (epfd: number, dispatch: (status: number) => void, _thread: boolean): Binding.Watcher | number => {
    const readiness = vfdReadiness(epfd)
    if (readiness < 0) return readiness
    const watch = new Watch(epfd, dispatch, vfdReadiness, (stopped) => {
      watches.delete(stopped)
      armHost()
    })
    watches.add(watch)
    armHost()
    watch.poke()
    return watch
  }

  /** `call`, then a look at every watch. */
  const thenPoke = <A extends unknown[]>(call: (...args: A) => number) => (...args: A): number => {
    const result = call(...args)
    if (watches.size > 0) pokeAll()
    return result
  }

  return {
    watchStart,
    epollRegister: thenPoke(epollRegister),
    epollModify: thenPoke(epollModify),
    wakerSignal: thenPoke(wakerSignal),
    hostStarted(started) {
      host = started
      armHost()
    },
  }
}
