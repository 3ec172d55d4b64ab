/**
 * `IOLoop`: Tornado's PollIOLoop on fdpoll's Epoll, in TypeScript naming. Each turn runs the
 * callbacks queued before it, then the due timeouts, then waits for fd events (not at all if
 * callbacks are pending, else until the next deadline, at most an hour) and dispatches them.
 * ERROR (EPOLLERR | EPOLLHUP) is always watched; events for fds removed earlier in the same
 * batch are dropped; an exception in a handler or callback goes to `onError` and the loop
 * keeps going. Two kinds are no error: EPIPE from a callback is ignored, as in Tornado; and a
 * handler's connection whose peer is gone (ECONNRESET, EPIPE, ... see `peerGone`) is closed
 * with its handler removed, as Tornado's IOStream closes its stream. `start()` runs on Node's
 * own loop (readiness through `Epoll.watch`, timeouts through Node timers); `runSync()` blocks
 * in `poll()`, for scripts and worker threads.
 *
 * Coroutines (asyncio's and gevent's API): `addReader`/`addWriter` callbacks, awaitable socket
 * operations (`sockRecv`, `sockSendall`, ...) and tasks (`spawn`) run under `start()`: an
 * `await` resumes between Node's turns, never inside `runSync()`.
 */
import { MessageChannel, type MessagePort, receiveMessageOnPort } from 'node:worker_threads'
import binding = require('./native.js')
import { eventMask, fileno } from './args.js'
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT } from './constants.js'
import { Epoll, type FileLike, backend } from './epoll.js'
import { ConnectionError, OSError, RuntimeError, osError } from './errors.js'
import { Readiness, type Watch } from './readiness.js'
import type { Address, Socket } from './socket.js'
import * as ops from './sockops.js'
import type { OperationOptions } from './sockops.js'
import { Task } from './tasks.js'
import { type Timeout, TimeoutQueue } from './timeouts.js'
import { doorbell, ringDoorbell } from './wasm/doorbell.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { fdClose, wakerClose, wakerCreate, wakerReset, wakerSignal } = binding

/** Closes the waker of a loop collected without `close()` (with `wakerClose`: a pipe has two fds). */
const wakers = new FinalizationRegistry<number>((fd) => wakerClose(fd))

export { Timeout } from './timeouts.js'

/** Called with the object given to `addHandler` and the events that occurred. */
export type Handler<F extends FileLike = FileLike> = (fileobj: F, events: number) => void

/** What `remote()` hands to another thread (post it with `port` in the transfer list). */
export interface RemoteHandle {
  /** Where the other thread posts its messages. */
  readonly port: MessagePort
  /** The loop's waker fd, which the other thread signals to wake a blocked loop. */
  readonly waker: number
  /**
   * On the WebAssembly backend, where the waker fd means nothing to another thread's engine:
   * the shared memory the other thread rings instead (src/wasm/doorbell.ts).
   */
  readonly doorbell?: SharedArrayBuffer
}

/** The most a turn waits without a timeout due (Tornado's _POLL_TIMEOUT). */
const MAX_WAIT_SECONDS = 3600
/** The most events a turn dispatches (as `Epoll.poll`'s default); more wait for the next turn. */
const MAX_EVENTS = 1023

/** IOLoop's #readiness, read (assigned in the class's static block). */
let readinessOfLoop: (loop: IOLoop) => Readiness

/** The readers and writers of `loop`: IOStream's reads are socket operations of their own kind on them. */
export function readinessOf(loop: IOLoop): Readiness {
  return readinessOfLoop(loop)
}

/** An event loop over an Epoll, with callbacks and timeouts (Tornado's IOLoop). */
export class IOLoop implements Disposable {
  /** Readable: EPOLLIN. */
  static readonly READ = EPOLLIN
  /** Writable: EPOLLOUT. */
  static readonly WRITE = EPOLLOUT
  /** Error or hang-up: always watched. */
  static readonly ERROR = EPOLLERR | EPOLLHUP

  /** Receives each exception a handler, callback or timeout throws; by default it is logged. */
  onError: (error: unknown) => void = (error) => console.error('fdpoll IOLoop: exception in callback', error)
  /** Receives, on the loop's turn, each message another thread sent with `RemoteIOLoop.addCallback`. */
  onMessage: (message: unknown) => void = () => {}

  readonly #epoll = new Epoll()
  readonly #handlers = new Map<number, Watch>()
  /** Where each turn's events are polled: `[fd, events]` pairs, at most MAX_EVENTS. */
  readonly #events = new Uint32Array(2 * MAX_EVENTS)
  /** The fds unregistered since the batch being dispatched was polled: their events in it are dropped. */
  readonly #dropped = new Set<number>()
  #callbacks: (() => void)[] = []
  readonly #timeouts = new TimeoutQueue()
  readonly #waker: number
  readonly #ports: MessagePort[] = []
  #running = false
  #closed = false
  /** Set while `start()` runs: Node timers for the next turn, and the promise to settle. */
  #immediate: NodeJS.Immediate | undefined
  #timer: NodeJS.Timeout | undefined
  #finish: (() => void) | undefined
  /** The readers and writers: addReader/addWriter and the awaitable socket operations. */
  readonly #readiness = new Readiness({
    watch: (fd) => this.#handlers.get(fd),
    watches: () => this.#handlers.values(),
    register: (fd, watch, events) => {
      this.#epoll.register(fd, events | IOLoop.ERROR)
      this.#handlers.set(fd, watch)
    },
    modify: (fd, events) => this.#epoll.modify(fd, events | IOLoop.ERROR),
    unregister: (fd) => this.#unregister(fd),
    report: (error) => this.#report(error),
  })
  /** `#report`, bound once for the tasks. */
  readonly #reportError = (error: unknown) => this.#report(error)

  static {
    readinessOfLoop = (loop) => loop.#readiness
  }

  constructor() {
    const waker = wakerCreate()
    if (waker < 0) {
      this.#epoll.close()
      throw osError(-waker, process.platform === 'linux' ? 'eventfd' : 'pipe')
    }
    this.#waker = waker
    wakers.register(this, waker, this)
    this.#epoll.register(waker, EPOLLIN)
  }

  /** The loop's clock, in seconds (monotonic), for `callAt` deadlines. */
  time(): number {
    return performance.now() / 1000
  }

  /**
   * Calls `handler(fileobj, events)` when `fileobj` has any of `events` (ERROR always). If the
   * handler throws a ConnectionError (ECONNRESET, EPIPE, ...) or ENOTCONN, other than from
   * accept(), the connection is gone: the loop removes the handler and closes `fileobj` (an fd,
   * or an object with `close()`), so that a handler need not catch them to free the fd.
   */
  addHandler<F extends FileLike>(fileobj: F, handler: Handler<F>, events: number): void {
    callable(handler, 'handler')
    const fd = fileno(fileobj)
    this.#readiness.release(fd) // interest that finished socket operations left gives way
    this.#epoll.register(fd, eventMask(events) | IOLoop.ERROR)
    this.#handlers.set(fd, new HandlerWatch(fileobj, handler))
  }

  /** Changes the events a handler waits for (ERROR always). */
  updateHandler(fileobj: FileLike, events: number): void {
    this.#epoll.modify(fileno(fileobj), eventMask(events) | IOLoop.ERROR)
  }

  /**
   * Stops watching `fileobj`; its events still pending in this batch are dropped. (Readers and
   * writers are removed with `removeReader`/`removeWriter`; this leaves them.)
   */
  removeHandler(fileobj: FileLike): void {
    const fd = this.#fdOf(fileobj)
    if (fd === undefined || this.#readiness.has(fd)) return
    this.#unregister(fd)
  }

  /**
   * Calls `callback(...args)` whenever `fileobj` (an fd, or an object with `fileno()`) is readable,
   * until `removeReader` (asyncio's `add_reader`); replaces its earlier reader callback, but not
   * an operation waiting on it (a RuntimeError). An exception it throws goes to `onError`.
   */
  addReader<A extends unknown[]>(fileobj: FileLike, callback: (...args: A) => void, ...args: A): void {
    this.#readiness.add(fileobj, IOLoop.READ, callbackWaiter(callback, args))
  }

  /** Removes `fileobj`'s reader callback: true if there was one (asyncio's `remove_reader`). */
  removeReader(fileobj: FileLike): boolean {
    const fd = this.#fdOf(fileobj)
    return fd !== undefined && this.#readiness.removeCallback(fd, IOLoop.READ)
  }

  /** Calls `callback(...args)` whenever `fileobj` is writable, until `removeWriter` (asyncio's `add_writer`). */
  addWriter<A extends unknown[]>(fileobj: FileLike, callback: (...args: A) => void, ...args: A): void {
    this.#readiness.add(fileobj, IOLoop.WRITE, callbackWaiter(callback, args))
  }

  /** Removes `fileobj`'s writer callback: true if there was one (asyncio's `remove_writer`). */
  removeWriter(fileobj: FileLike): boolean {
    const fd = this.#fdOf(fileobj)
    return fd !== undefined && this.#readiness.removeCallback(fd, IOLoop.WRITE)
  }

  /**
   * Accepts a connection on a non-blocking listening socket: `[conn, address]`, with `conn`
   * non-blocking (asyncio's `sock_accept`). Like every `sock*` operation: the system call is
   * made at once, and only if it would block does the promise wait for the loop (under
   * `start()`); a blocking socket rejects with a ValueError, a second read (or write) while one
   * waits on the same socket with a RuntimeError naming it, `signal` aborting with an AbortError,
   * the socket closing with EBADF, the loop closing with a RuntimeError.
   */
  sockAccept(sock: Socket, options?: OperationOptions): Promise<[Socket, Address]> {
    return ops.sockAccept(this.#readiness, sock, options)
  }

  /** Receives up to `n` bytes: a Buffer, empty at end of stream (asyncio's `sock_recv`). */
  sockRecv(sock: Socket, n: number, options?: OperationOptions): Promise<Buffer> {
    return ops.sockRecv(this.#readiness, sock, n, options)
  }

  /** Receives into `buf`: the byte count, 0 at end of stream (asyncio's `sock_recv_into`). */
  sockRecvInto(sock: Socket, buf: Uint8Array, options?: OperationOptions): Promise<number> {
    return ops.sockRecvInto(this.#readiness, sock, buf, options)
  }

  /** Sends all of `data`, waiting while the socket's buffer is full (asyncio's `sock_sendall`). */
  sockSendall(sock: Socket, data: Uint8Array, options?: OperationOptions): Promise<void> {
    return ops.sockSendall(this.#readiness, sock, data, options)
  }

  /** Connects to `address`, resolved synchronously if a host name (asyncio's `sock_connect`). */
  sockConnect(sock: Socket, address: Address, options?: OperationOptions): Promise<void> {
    return ops.sockConnect(this.#readiness, sock, address, options)
  }

  /** Receives a datagram of up to `n` bytes: `[data, sender]` (asyncio's `sock_recvfrom`). */
  sockRecvfrom(sock: Socket, n: number, options?: OperationOptions): Promise<[Buffer, Address]> {
    return ops.sockRecvfrom(this.#readiness, sock, n, options)
  }

  /** Sends a datagram to `address`: the byte count (asyncio's `sock_sendto`). */
  sockSendto(sock: Socket, data: Uint8Array, address: Address, options?: OperationOptions): Promise<number> {
    return ops.sockSendto(this.#readiness, sock, data, address, options)
  }

  /**
   * Starts `fn(...args)` as a task (gevent's `spawn`) once the current code yields; what it
   * throws goes to `onError`. Wait for tasks with `joinAll`, or `await` one for its value.
   */
  spawn<A extends unknown[], T>(fn: (...args: A) => T | PromiseLike<T>, ...args: A): Task<T> {
    if (this.#closed) throw new RuntimeError('IOLoop is closed', 'ERR_CLOSED')
    return new Task<T>(fn as (...args: unknown[]) => T | PromiseLike<T>, args, this.#reportError)
  }

  /**
   * The fds this loop watches, each with its fileobj: handlers, readers, writers, and sockets
   * whose finished operations left their interest (a new Map, for inspection).
   */
  watched(): Map<number, FileLike> {
    return new Map([...this.#handlers].map(([fd, { fileobj }]) => [fd, fileobj]))
  }

  /** Runs `callback(...args)` on the next turn. (From another thread: `remote()`.) */
  addCallback<A extends unknown[]>(callback: (...args: A) => void, ...args: A): void {
    callable(callback, 'callback')
    this.#callbacks.push(() => callback(...args))
    this.#reschedule()
  }

  /** Runs `callback(...args)` in `delay` seconds. */
  callLater<A extends unknown[]>(delay: number, callback: (...args: A) => void, ...args: A): Timeout {
    if (typeof delay !== 'number') throw new TypeError('delay must be a number of seconds')
    return this.callAt(this.time() + delay, callback, ...args)
  }

  /** Runs `callback(...args)` at `deadline`, in `time()` seconds. */
  callAt<A extends unknown[]>(deadline: number, callback: (...args: A) => void, ...args: A): Timeout {
    if (typeof deadline !== 'number' || Number.isNaN(deadline)) throw new TypeError('deadline must be a number of seconds')
    callable(callback, 'callback')
    const timeout = this.#timeouts.add(deadline, () => callback(...args))
    this.#reschedule()
    return timeout
  }

  /** Cancels a timeout from `callLater`/`callAt` (a no-op once it ran). */
  removeTimeout(timeout: Timeout): void {
    this.#timeouts.cancel(timeout)
  }

  /**
   * A handle another thread can use to queue work on this loop (post it to a worker with
   * `handle.port` in the transfer list, then `new RemoteIOLoop(handle)` there). Functions
   * cannot cross threads, so remote callbacks are messages, delivered to `onMessage`.
   */
  remote(): RemoteHandle {
    const { port1, port2 } = new MessageChannel()
    port1.unref()
    this.#ports.push(port1)
    if (backend === 'wasm') return { port: port2, waker: this.#waker, doorbell: doorbell(this.#waker) }
    return { port: port2, waker: this.#waker }
  }

  /**
   * Runs the loop on Node's event loop until `stop()`; the promise settles then. If the loop's
   * watch fails (its epoll fd closed behind its back), the error goes to `onError` and the loop
   * stops.
   */
  start(): Promise<void> {
    this.#begin()
    const stopped = new Promise<void>((resolve) => (this.#finish = resolve))
    this.#epoll.watchInto(this.#events, (count) => {
      this.#dispatch(count)
      this.#reschedule()
    }, (error) => {
      // The watch has failed (its epoll fd closed behind its back): the loop cannot go on.
      this.stop()
      this.#run(() => {
        throw error
      })
    })
    this.#reschedule()
    return stopped
  }

  /** Runs the loop on this thread, blocking it, until `stop()` (from a handler or callback). */
  runSync(): void {
    this.#begin()
    try {
      while (this.#running) {
        this.#runDue()
        if (!this.#running) break
        this.#dispatch(this.#epoll.pollInto(this.#events, this.#waitSeconds()))
      }
    } finally {
      this.#running = false
    }
  }

  /** Stops the loop after the work in hand; `start()`'s promise settles. */
  stop(): void {
    this.#running = false
    this.#epoll.unwatch()
    clearImmediate(this.#immediate)
    clearTimeout(this.#timer)
    this.#immediate = this.#timer = undefined
    const finish = this.#finish
    this.#finish = undefined
    finish?.()
  }

  /**
   * Stops and closes the loop: every socket operation still waiting rejects with a RuntimeError.
   * With `allFds`, also closes every fd it watches.
   */
  close(options: { allFds?: boolean } | null = {}): void {
    const { allFds = false } = options ?? {}
    if (this.#closed) return
    this.stop()
    this.#closed = true
    this.#readiness.close(new RuntimeError('IOLoop is closed', 'ERR_CLOSED'))
    if (allFds) {
      for (const [fd, { fileobj }] of this.#handlers) {
        const closable = fileobj as { close?: () => void }
        if (typeof closable.close === 'function') closable.close()
        else fdClose(fd)
      }
    }
    this.#handlers.clear()
    this.#callbacks = []
    this.#timeouts.clear()
    this.#epoll.close()
    for (const port of this.#ports) port.close()
    wakers.unregister(this)
    wakerClose(this.#waker)
  }

  /** Closes, so `using loop = new IOLoop()` works. */
  [Symbol.dispose](): void {
    this.close()
  }

  #begin(): void {
    if (this.#closed) throw new RuntimeError('IOLoop is closed', 'ERR_CLOSED')
    if (this.#running) throw new RuntimeError('IOLoop is already running', 'ERR_RUNNING')
    this.#running = true
  }

  /** The callbacks queued before this turn, then the due timeouts. */
  #runDue(): void {
    const callbacks = this.#callbacks
    this.#callbacks = []
    const due = this.#timeouts.popDue(this.time())
    for (const callback of callbacks) this.#run(callback)
    for (const timeout of due) if (timeout.callback !== null) this.#run(timeout.callback)
  }

  /** How long the next wait may last: 0 with callbacks pending, else until the next deadline. */
  #waitSeconds(): number {
    if (this.#callbacks.length > 0) return 0
    const deadline = this.#timeouts.nextDeadline()
    if (deadline === undefined) return MAX_WAIT_SECONDS
    return Math.max(0, Math.min(deadline - this.time(), MAX_WAIT_SECONDS))
  }

  /** Runs the handlers of the `count` events just polled into `#events`. */
  #dispatch(count: number): void {
    const events = this.#events
    this.#dropped.clear()
    for (let i = 0; i < 2 * count; i += 2) {
      const fd = events[i]
      if (fd === this.#waker) this.#receiveRemote()
      else if (!this.#dropped.has(fd)) {
        const watch = this.#handlers.get(fd)
        if (watch !== undefined) this.#runWatch(fd, watch, events[i + 1])
      }
    }
  }

  #receiveRemote(): void {
    wakerReset(this.#waker)
    for (const port of this.#ports) {
      for (let got = receiveMessageOnPort(port); got !== undefined; got = receiveMessageOnPort(port)) {
        const { message } = got
        this.#callbacks.push(() => this.onMessage(message))
      }
    }
  }

  /** Under `start()`: arranges the next turn with Node timers (at once if callbacks wait). */
  #reschedule(): void {
    if (this.#finish === undefined || this.#immediate !== undefined) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    const turn = () => {
      this.#immediate = this.#timer = undefined
      this.#runDue()
      this.#reschedule()
    }
    const wait = this.#waitSeconds()
    if (wait === 0) this.#immediate = setImmediate(turn)
    else if (this.#timeouts.nextDeadline() !== undefined) this.#timer = setTimeout(turn, Math.ceil(wait * 1000))
  }

  /** Runs `fn`; an exception goes to `onError` (see `#failed`). */
  #run(fn: () => void): void {
    try {
      fn()
    } catch (e) {
      this.#failed(e)
    }
  }

  /** Runs `fd`'s `watch` for `events`; if it throws because the peer is gone, `fd` is dropped. */
  #runWatch(fd: number, watch: Watch, events: number): void {
    try {
      watch.run(events)
    } catch (e) {
      if (peerGone(e)) this.#drop(fd, watch)
      else this.#failed(e)
    }
  }

  /** An exception of a callback or handler goes to `onError`, except EPIPE. */
  #failed(error: unknown): void {
    if (error instanceof OSError && error.code === 'EPIPE') return // the client went away: not an error
    this.#report(error)
  }

  /** Hands `error` to `onError`. */
  #report(error: unknown): void {
    try {
      this.onError(error)
    } catch (hookError) {
      console.error('fdpoll IOLoop: onError threw', hookError)
    }
  }

  /** Forgets `fd`'s handler and its pending events, and unregisters it. */
  #unregister(fd: number): void {
    this.#dropped.add(fd)
    if (!this.#handlers.delete(fd)) return // not watched (or the loop is closed): nothing to unregister
    try {
      this.#epoll.unregister(fd)
    } catch (e) {
      if (!(e instanceof OSError)) throw e // the fd may have been closed already
    }
  }

  /** Removes the `watch` of `fd` and closes its fileobj, unless the handler has been replaced or removed. */
  #drop(fd: number, watch: Watch): void {
    if (this.#handlers.get(fd) !== watch) return // removed by the handler: what is left is its owner's
    this.removeHandler(watch.fileobj)
    const closable = watch.fileobj as { close?: () => void }
    this.#run(() => (typeof closable.close === 'function' ? closable.close() : fdClose(fd)))
  }

  #fdOf(fileobj: FileLike): number | undefined {
    try {
      return fileno(fileobj)
    } catch {
      for (const [fd, watch] of this.#handlers) if (watch.fileobj === fileobj) return fd
      return undefined
    }
  }
}

/** A TypeError now, rather than in the loop's turn, unless `fn` is a function. */
function callable(fn: unknown, name: string): void {
  if (typeof fn !== 'function') throw new TypeError(`${name} must be a function`)
}

/**
 * Whether `error` says that a connection's peer is gone: a ConnectionError (EPIPE, ESHUTDOWN,
 * ECONNRESET, ECONNABORTED, ECONNREFUSED) or ENOTCONN, except from accept(), where it concerns a
 * connection not yet accepted, not the listener.
 */
function peerGone(error: unknown): boolean {
  if (!(error instanceof OSError) || error.syscall === 'accept') return false
  return error instanceof ConnectionError || error.code === 'ENOTCONN'
}

/** A handler from `addHandler`, as the loop keeps it. */
class HandlerWatch implements Watch {
  constructor(readonly fileobj: FileLike, readonly handler: Handler<any>) {}

  run(events: number): void {
    this.handler(this.fileobj, events)
  }
}

/** A reader or writer callback as the readiness slots hold it. */
function callbackWaiter<A extends unknown[]>(callback: (...args: A) => void, args: A) {
  if (typeof callback !== 'function') throw new TypeError('callback must be a function')
  return { op: undefined, syscall: 'epoll_ctl', ready: () => callback(...args), fail() {} }
}

/** The other-thread side of `IOLoop.remote()`. */
export class RemoteIOLoop {
  readonly #port: MessagePort
  readonly #waker: number
  readonly #doorbell: SharedArrayBuffer | undefined

  /** Wraps a handle received from the loop's thread. */
  constructor(handle: RemoteHandle) {
    this.#port = handle.port
    this.#waker = handle.waker
    this.#doorbell = handle.doorbell
  }

  /** Queues `message` for the loop's `onMessage` and wakes it, even inside `runSync()`. */
  addCallback(message: unknown): void {
    this.#port.postMessage(message)
    if (this.#doorbell !== undefined) return ringDoorbell(this.#doorbell)
    const ret = wakerSignal(this.#waker)
    if (ret < 0) throw osError(-ret, 'write')
  }

  /** Closes this side of the channel. */
  close(): void {
    this.#port.close()
  }
}
