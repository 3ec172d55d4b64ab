/**
 * The calling thread's side of the socket host: Node's sockets, owned by a worker thread
 * (host-worker.ts), reached synchronously. Each call writes a request to shared memory, wakes
 * the worker and blocks in `Atomics.wait` for the answer, which is what Linux's non-blocking
 * call would return: a count or value, or -errno (Linux's numbers, linux.ts; GAI_NOT_FOUND for a
 * host name that does not resolve). Nothing here blocks for a socket: a caller that wants to
 * wait calls `wait` (readiness changed) and tries again.
 *
 * Readiness reaches the caller through `sink(fd, readiness, key)`, the in-memory engine's
 * `notify`: after every call the ring is drained into it, so when a call returns the sink has
 * every change up to that call's answer; `drain` hands over later ones. Fd numbers are the
 * caller's (the engine's): `socket` and `accept` name the fd they fill.
 *
 * The worker never keeps the process alive; `ref(true)` makes it (for a loop that waits on it).
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import type { Address } from './address.js'
import { ARGS, CONTROL_SLOTS, DATA_BYTES, OP, OUT, Op, READY, REP, REQ, RESULT } from './protocol.js'
import { RingReader, ringMemory } from './ring.js'

/** Where readiness goes: the in-memory engine's `notify(fd, readiness, key)` (key unsigned). */
export type Sink = (fd: number, readiness: number, key: number) => void

/** A socket address; for AF_UNIX `host` is the path. */
export type SockAddress = Address

/** What `recvfrom` gives: the count and the sender (null for a stream). */
export interface Received {
  nbytes: number
  address: SockAddress | null
}

/** Bytes set aside in the data buffer for a host name or path. */
const HOST_BYTES = 1024
/** The most `send`/`recvInto` move in one call. */
export const MAX_TRANSFER = DATA_BYTES - HOST_BYTES

/**
 * The longest a blocked call waits before it looks again whether the worker still serves: a
 * stopping worker wakes it at once (host-worker.ts), this covers a wake that came just before.
 */
const LIVENESS_MS = 1000
/** The most the constructor waits for the worker to serve. */
const BOOT_TIMEOUT_MS = 10_000

/** The worker script: the dist bundle beside this one, or the source under tsx. */
function workerScript(): { file: string; tsx: string | null } {
  if (__filename.endsWith('.ts')) {
    return { file: join(__dirname, 'host-worker.ts'), tsx: createRequire(__filename).resolve('tsx/cjs') }
  }
  const file = join(__dirname, 'host-worker.cjs')
  if (!existsSync(file)) throw new Error(`fdpoll: the WebAssembly backend's socket host ${file} is missing from the package`)
  return { file, tsx: null }
}

/** Loads the worker script; a failure to load marks the host dead at once instead of a hang. */
const BOOT = `
const { workerData } = require('node:worker_threads')
try {
  if (workerData.tsx) require(workerData.tsx)
  require(workerData.file)
} catch (err) {
  const control = new Int32Array(workerData.control)
  Atomics.store(control, ${READY}, -1)
  Atomics.notify(control, ${READY})
  throw err
}`

/** The synchronous client of one socket host worker. */
export class SocketHost {
  readonly #control: Int32Array
  readonly #data: Uint8Array
  /** The data buffer as int32s: the lists of `recvMany` and `sendMany`. */
  readonly #ints: Int32Array
  readonly #ring: RingReader
  readonly #worker: Worker
  readonly #sink: Sink
  readonly #encoder = new TextEncoder()
  readonly #decoder = new TextDecoder()
  #onWake: (() => void) | null = null
  #failure: Error | null = null

  /**
   * Starts the worker and waits (at most BOOT_TIMEOUT_MS) until it serves. `bell` is the wake
   * cell `wait` blocks on (doorbell.ts: this thread's, so that a doorbell ends the wait too).
   */
  constructor(sink: Sink, bell = new SharedArrayBuffer(4)) {
    this.#sink = sink
    const control = new SharedArrayBuffer(CONTROL_SLOTS * 4)
    const data = new SharedArrayBuffer(DATA_BYTES)
    const ring = ringMemory()
    this.#control = new Int32Array(control)
    this.#data = new Uint8Array(data)
    this.#ints = new Int32Array(data)
    this.#ring = new RingReader(ring, bell)
    const script = workerScript()
    this.#worker = new Worker(BOOT, { eval: true, workerData: { control, data, ring, bell, ...script } })
    this.#worker.on('error', (err) => {
      this.#failure = err
    })
    this.#worker.on('exit', () => Atomics.store(this.#control, READY, -1))
    this.#worker.on('message', () => {
      this.drain()
      this.#onWake?.()
    })
    this.#worker.unref() // after the listeners: a 'message' listener refs the port again
    Atomics.wait(this.#control, READY, 0, BOOT_TIMEOUT_MS)
    const ready = Atomics.load(this.#control, READY)
    if (ready !== 1) {
      void this.#worker.terminate()
      const why = ready === -1 ? `failed to load ${script.file}` : `did not start within ${BOOT_TIMEOUT_MS} ms`
      throw new Error(`fdpoll: the WebAssembly backend's socket host ${why}`)
    }
  }

  /** A request that does nothing: its cost is the round trip. */
  noop(): number {
    return this.#call(Op.Noop)
  }

  /** `socket(2)` as fd `fd`: 0 or -errno. `type` may carry SOCK_NONBLOCK/SOCK_CLOEXEC (ignored). */
  socket(fd: number, family: number, type: number, proto = 0): number {
    return this.#call(Op.Socket, fd, family, type, proto)
  }

  /** `socketpair(2)` as fds `fd0` and `fd1` (AF_UNIX, SOCK_STREAM only): 0 or -errno. */
  socketpair(fd0: number, fd1: number, type: number): number {
    return this.#call(Op.Pair, fd0, fd1, type)
  }

  /**
   * `bind(2)` (a stream's port is reserved from here on): 0, -errno or GAI_NOT_FOUND. Node sets
   * no IPv6 flow label: `flowinfo` is ignored, here and in `connect` and `sendto`.
   */
  bind(fd: number, host: string, port: number, flowinfo = 0, scopeId = 0): number {
    return this.#call(Op.Bind, fd, port, flowinfo, scopeId, this.#putHost(host, 0))
  }

  /**
   * `listen(2)`: 0 or -errno. No backlog: Node accepts connections before the caller does, and
   * the host queues them all (resetting those past a backlog would fail clients Linux makes wait).
   */
  listen(fd: number): number {
    return this.#call(Op.Listen, fd)
  }

  /** `accept(2)` into fd `newFd`: the peer's address, or -errno (-EAGAIN with none pending). */
  accept(fd: number, newFd: number): SockAddress | number {
    const result = this.#call(Op.Accept, fd, newFd)
    return result < 0 ? result : this.#address()!
  }

  /** `connect(2)`: -EINPROGRESS for TCP (the outcome is a wakeup, then SO_ERROR), 0, -errno or GAI_NOT_FOUND. */
  connect(fd: number, host: string, port: number, flowinfo = 0, scopeId = 0): number {
    return this.#call(Op.Connect, fd, port, flowinfo, scopeId, this.#putHost(host, 0))
  }

  /** `recv(2)` into `buf` (at most MAX_TRANSFER): the count (0 at end of stream) or -errno. */
  recvInto(fd: number, buf: Uint8Array, flags = 0): number {
    const result = this.#call(Op.Recv, fd, Math.min(buf.length, MAX_TRANSFER), flags, 0)
    if (result > 0) buf.set(this.#data.subarray(0, result))
    return result
  }

  /** `recvfrom(2)` into `buf`: the count and the sender, or -errno. */
  recvfrom(fd: number, buf: Uint8Array, flags = 0): Received | number {
    const result = this.#call(Op.Recv, fd, Math.min(buf.length, MAX_TRANSFER), flags, 1)
    if (result < 0) return result
    buf.set(this.#data.subarray(0, result))
    return { nbytes: result, address: this.#address() }
  }

  /** `send(2)` of at most MAX_TRANSFER bytes: the count taken, or -errno (-EAGAIN when full). */
  send(fd: number, buf: Uint8Array, flags = 0): number {
    const n = Math.min(buf.length, MAX_TRANSFER)
    this.#data.set(buf.subarray(0, n))
    return this.#call(Op.Send, fd, n, flags, 0)
  }

  /** `sendto(2)`: the count sent, -errno or GAI_NOT_FOUND (a stream ignores the address, as TCP does). */
  sendto(fd: number, buf: Uint8Array, flags: number, host: string, port: number, flowinfo = 0, scopeId = 0): number {
    const n = Math.min(buf.length, MAX_TRANSFER)
    this.#data.set(buf.subarray(0, n))
    return this.#call(Op.Send, fd, n, flags, 1, port, flowinfo, scopeId, this.#putHost(host, n))
  }

  /** `shutdown(2)`: 0 or -errno. */
  shutdown(fd: number, how: number): number {
    return this.#call(Op.Shutdown, fd, how)
  }

  /**
   * `close(2)`: 0 or -EBADF. The fd's last readiness changes reach the sink before this returns.
   * `reset` (SO_LINGER on with 0 seconds) resets a connection instead of closing it gracefully.
   */
  close(fd: number, reset = false): number {
    return this.#call(Op.Close, fd, reset ? 1 : 0)
  }

  /** `getsockname(2)`, or `getpeername(2)` with `peer`: the address, or -errno. */
  name(fd: number, peer: boolean): SockAddress | number {
    const result = this.#call(Op.Name, fd, peer ? 1 : 0)
    return result < 0 ? result : this.#address()!
  }

  /** `setsockopt(2)` of an int option: 0 or -errno (-ENOPROTOOPT for what Node cannot honour). */
  setsockopt(fd: number, level: number, name: number, value: number): number {
    return this.#call(Op.SetOption, fd, level, name, value)
  }

  /** `getsockopt(2)` of an int option: its value (never negative), or -errno. */
  getsockopt(fd: number, level: number, name: number): number {
    return this.#call(Op.GetOption, fd, level, name)
  }

  /**
   * `recv(2)` on `fds[0..count)` in as few round trips as the data buffer allows: fd k's bytes go
   * to slot `slots[k]` of `slotSize` bytes in `area`, its result (a count, 0 at end of stream, or
   * -errno) to `results[k]`. `slotSize` is at most MAX_TRANSFER.
   */
  recvMany(fds: Int32Array, slots: Int32Array, count: number, area: Uint8Array, slotSize: number, results: Int32Array): void {
    const perTrip = Math.floor(DATA_BYTES / (4 + slotSize))
    for (let first = 0; first < count; first += perTrip) {
      const n = Math.min(perTrip, count - first)
      this.#ints.set(fds.subarray(first, first + n))
      this.#call(Op.RecvMany, n, slotSize)
      for (let k = 0; k < n; k++) {
        const got = (results[first + k] = this.#ints[k])
        if (got > 0) {
          const from = 4 * n + k * slotSize
          area.set(this.#data.subarray(from, from + got), slots[first + k] * slotSize)
        }
      }
    }
  }

  /**
   * `send(2)` of `payloads[k]` on `fds[k]` for k in `[0, count)`, in as few round trips as the data
   * buffer allows (a payload that does not fit whole is cut to what does, as a short send): each
   * result (the count taken, or -errno) to `results[k]`.
   */
  sendMany(fds: Int32Array, payloads: Uint8Array[], count: number, results: Int32Array): void {
    for (let first = 0; first < count;) {
      // The entries that fit (8 bytes of list each, and their payloads); a first one too large is cut.
      let [n, bytes] = [1, payloads[first].length]
      while (first + n < count && 8 * (n + 1) + bytes + payloads[first + n].length <= DATA_BYTES) bytes += payloads[first + n++].length
      let at = 8 * n
      for (let k = 0; k < n; k++) {
        const payload = payloads[first + k].subarray(0, DATA_BYTES - at)
        this.#ints[2 * k] = fds[first + k]
        this.#ints[2 * k + 1] = payload.length
        this.#data.set(payload, at)
        at += payload.length
      }
      this.#call(Op.SendMany, n)
      for (let k = 0; k < n; k++) results[first + k] = this.#ints[2 * k + 1]
      first += n
    }
  }

  /** The worker's open fds and the Node sockets it still holds (for leak checks). */
  count(): { open: number; alive: number } {
    const open = this.#call(Op.Count)
    return { open, alive: this.#control[OUT] }
  }

  /**
   * Blocks this thread until readiness changes are published, the wake cell moves from `seen`
   * (by default its value now) or `timeoutMs` passes (negative: no limit), then drains the
   * changes into the sink: whether any came. Throws if the worker stops.
   */
  wait(timeoutMs: number, seen = this.#ring.bellNow()): boolean {
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs
    for (;;) {
      if (Atomics.load(this.#control, READY) !== 1) throw this.#gone()
      const left = deadline - performance.now()
      const woken = this.#ring.wait(Math.max(0, Math.min(left, LIVENESS_MS)), seen)
      if (this.#ring.pending()) return this.drain() > 0
      if (Atomics.load(this.#control, READY) !== 1) throw this.#gone()
      if (woken || left <= LIVENESS_MS) return false
    }
  }

  /** Hands the published readiness changes to the sink: how many. */
  drain(): number {
    return this.#ring.drain(this.#sink)
  }

  /**
   * Calls `listener` (after draining into the sink) from this thread's event loop whenever
   * changes are published while the thread is not blocked; null stops it. Arming drains what
   * was published while disarmed, which no message announces.
   */
  onWake(listener: (() => void) | null): void {
    this.#onWake = listener
    this.#ring.armWake(listener !== null)
    if (listener !== null) this.drain()
  }

  /** Whether the worker keeps the process alive (false at first). */
  ref(keepAlive: boolean): void {
    if (keepAlive) this.#worker.ref()
    else this.#worker.unref()
  }

  #call(op: Op, ...args: number[]): number {
    const control = this.#control
    if (Atomics.load(control, READY) !== 1) throw this.#gone()
    control[OP] = op
    for (let i = 0; i < args.length; i++) control[ARGS + i] = args[i]
    const seq = (Atomics.load(control, REQ) + 1) | 0
    Atomics.store(control, REQ, seq)
    Atomics.notify(control, REQ)
    while (Atomics.load(control, REP) !== seq) {
      if (Atomics.load(control, READY) !== 1) throw this.#gone()
      Atomics.wait(control, REP, (seq - 1) | 0, LIVENESS_MS)
    }
    const result = control[RESULT]
    this.drain()
    return result
  }

  #gone(): Error {
    return new Error("fdpoll: the WebAssembly backend's socket host has stopped", { cause: this.#failure ?? undefined })
  }

  /** Puts a host string at `offset` in the data buffer: its byte length. */
  #putHost(host: string, offset: number): number {
    if (typeof host !== 'string') throw new TypeError('host must be a string')
    const bytes = this.#encoder.encode(host)
    if (bytes.length > HOST_BYTES) throw new RangeError(`host name or path longer than ${HOST_BYTES} bytes`)
    this.#data.set(bytes, offset)
    return bytes.length
  }

  /** The address in OUT, or null when none (family 0). */
  #address(): SockAddress | null {
    const c = this.#control
    if (c[OUT] === 0) return null
    const at = c[OUT + 5]
    const host = this.#decoder.decode(this.#data.slice(at, at + c[OUT + 4]))
    return { family: c[OUT], host, port: c[OUT + 1], flowinfo: c[OUT + 2], scopeId: c[OUT + 3] }
  }
}
