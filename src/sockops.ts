/**
 * The awaitable socket operations of `IOLoop` (asyncio's `loop.sock_recv` and kin). Each makes
 * its system call at once and waits on the loop only when that would block (BlockingIOError):
 * then it becomes the socket's reader (or writer) until the call succeeds or fails, is aborted
 * through its `signal`, or the socket or the loop closes. The call is retried during the loop's
 * dispatch, so level-triggered readiness is consumed before the next wait.
 */
import binding = require('./native.js')
import { integer } from './args.js'
import type { Address } from './socket.js'
import { EPOLLIN, EPOLLOUT, SOL_SOCKET, SO_ERROR } from './constants.js'
import { BlockingIOError, OSError, ValueError, errno, osError } from './errors.js'
import { type Direction, type Readiness, type Waiter, busyError } from './readiness.js'
import { Socket, check } from './socket.js'

const { socketRecv, socketSend } = binding

/** Options of every awaitable socket operation. */
export interface OperationOptions {
  /** Aborts the wait: the promise rejects with an AbortError and the interest goes. */
  signal?: AbortSignal
}

/** What an attempt returns while it has more to do (a partial sendall, a connect in progress). */
export const AGAIN: unique symbol = Symbol('again')

/**
 * One kind of operation: its name, its system call, the slot it waits in, and one try of it,
 * which reads the socket and the argument from the operation (and may keep its progress there).
 * IOStream's reads are kinds too (src/iostream.ts).
 */
export interface Kind<A, T> {
  readonly op: string
  readonly syscall: string
  readonly direction: Direction
  attempt(operation: Operation<A, T>): T | typeof AGAIN
  /** What the promise rejects with when `error` ends the operation (by default `error` itself). */
  failed?(arg: A, error: unknown): unknown
}

/** The AbortError of an aborted operation, as Node's own APIs reject: DOMException named 'AbortError'. */
function abortError(signal: AbortSignal): DOMException {
  return new DOMException('The operation was aborted', { name: 'AbortError', cause: signal.reason })
}

/** Runs `operation`'s attempt; a BlockingIOError means AGAIN. */
function tryOnce<A, T>(operation: Operation<A, T>): T | typeof AGAIN {
  try {
    return operation.kind.attempt(operation)
  } catch (e) {
    if (e instanceof BlockingIOError) return AGAIN
    throw e
  }
}

/**
 * The native calls' EAGAIN result. recv and send, a connection's every turn, test for it instead
 * of catching a BlockingIOError: creating an Error (its stack trace) costs more than the call.
 */
const EAGAIN = -errno.EAGAIN

/** `sock.recvInto(buf)`, with AGAIN for "would block". */
function recvNow(sock: Socket, buf: Uint8Array): number | typeof AGAIN {
  const got = socketRecv(sock.fileno(), buf, 0)
  return got === EAGAIN ? AGAIN : check(got, 'recv')
}

/** Sends what the socket takes of `data` now, until it would block: the rest (empty once all is sent). */
export function sendWhatFits(sock: Socket, data: Uint8Array): Uint8Array {
  const fd = sock.fileno()
  while (data.length > 0) {
    const sent = socketSend(fd, data, 0)
    if (sent === EAGAIN) break
    data = data.subarray(check(sent, 'send'))
  }
  return data
}

/**
 * Where `sockRecv` receives up to 64 KiB before it copies out what came: an attempt that would
 * block allocates nothing, and the Buffer returned is the size of the data, so a small message
 * kept (a coroutine's last read, while it waits for the next) keeps no larger buffer alive.
 */
const SCRATCH = Buffer.allocUnsafeSlow(64 * 1024)
/** SCRATCH's first n bytes, for the last n asked (a server asks the same n every time). */
let scratchView = SCRATCH

/** `sock.recv(n)`, with AGAIN for "would block": a Buffer of the bytes received (empty at end of stream). */
export function recvCopy(sock: Socket, n: number): Buffer | typeof AGAIN {
  if (n > SCRATCH.length) {
    const buf = Buffer.allocUnsafe(n)
    const got = recvNow(sock, buf)
    return got === AGAIN ? AGAIN : got === n ? buf : Buffer.from(buf.subarray(0, got))
  }
  if (scratchView.length !== n) scratchView = SCRATCH.subarray(0, n)
  const got = recvNow(sock, scratchView)
  if (got === AGAIN) return AGAIN
  const data = Buffer.allocUnsafe(got)
  data.set(new Uint8Array(SCRATCH.buffer, SCRATCH.byteOffset, got)) // half the cost of Buffer#copy's checks for a short message
  return data
}

/** The resolve function `captureResolve` was last given, until `wait` takes it. */
let captured: ((value: never) => void) | undefined

/** The executor of every operation's promise: one function for all, so a wait makes no closure for it. */
function captureResolve(resolve: (value: never) => void): void {
  captured = resolve
}

/**
 * One call of an operation: made for every call (the first try reads it too), and the waiter in
 * the socket's reader or writer slot if that try would block. Its members are TypeScript-private,
 * not #private: a class with #methods gives each instance a slot for its brand (8 bytes per wait).
 */
export class Operation<A, T> implements Waiter {
  /** The promise's resolve function: the one it keeps (see reject). */
  private resolve: ((value: T | Promise<never>) => void) | undefined

  constructor(
    readonly kind: Kind<A, T>,
    private readonly readiness: Readiness,
    readonly sock: Socket,
    /** The argument of the call (n, buf, data, address), or the progress kept between tries. */
    public arg: A,
    private readonly signal: AbortSignal | undefined,
  ) {}

  /** The operation's name ('sockRecv'), as a busy error names it. */
  get op(): string {
    return this.kind.op
  }

  /** The system call, for the EBADF of a socket closed under the wait. */
  get syscall(): string {
    return this.kind.syscall
  }

  /** Takes the socket's slot until a try succeeds or fails (or the wait is aborted); settles the promise then. */
  wait(): Promise<T> {
    this.readiness.add(this.sock, this.kind.direction, this)
    const promise = new Promise<T>(captureResolve)
    this.resolve = captured as (value: T | Promise<never>) => void
    captured = undefined
    this.signal?.addEventListener('abort', this, { once: true }) // the operation is the listener: no closure
    return promise
  }

  /** The signal aborted the wait: the slot and the interest go, and the promise rejects. */
  handleEvent(): void {
    if (this.readiness.remove(this.sock.fileno(), this.kind.direction, this, true)) this.reject(abortError(this.signal!))
  }

  ready(): void {
    let result: T | typeof AGAIN
    try {
      result = tryOnce(this)
    } catch (error) {
      this.leave(true)
      this.reject(error)
      return
    }
    if (result === AGAIN) return
    this.leave(false)
    this.resolve!(result)
  }

  fail(error: Error): void {
    this.signal?.removeEventListener('abort', this)
    this.reject(error)
  }

  /**
   * Rejects the promise (with what its kind makes of `error`) by resolving it with a rejected
   * one, which it adopts: with no reject function kept, a waiting operation holds one resolving
   * function less (56 bytes).
   */
  private reject(error: unknown): void {
    this.resolve!(Promise.reject(failure(this.kind, this.arg, error)))
  }

  /** Leaves the slot: the interest goes at once after a failure, lazily after a success. */
  private leave(failed: boolean): void {
    this.signal?.removeEventListener('abort', this)
    this.readiness.remove(this.sock.fileno(), this.kind.direction, this, failed)
  }
}

/** What an operation of `kind` rejects with when `error` ends it. */
function failure<A, T>(kind: Kind<A, T>, arg: A, error: unknown): unknown {
  return kind.failed === undefined ? error : kind.failed(arg, error)
}

/**
 * Tries `kind` on `sock` with `arg` now, and if it would block, again whenever `sock` is ready
 * in its direction, until it completes. Every error, bad input included, rejects the promise.
 */
export function operate<A, T>(readiness: Readiness, kind: Kind<A, T>, sock: Socket, arg: A, options: OperationOptions | undefined): Promise<T> {
  const { op, syscall, direction } = kind
  try {
    readiness.checkOpen()
    if (!(sock instanceof Socket)) throw new TypeError(`${op}: sock must be an fdpoll Socket`)
    const signal = options?.signal
    if (signal !== undefined && !(signal instanceof AbortSignal)) throw new TypeError(`${op}: signal must be an AbortSignal`)
    const fd = sock.fileno()
    if (fd < 0) throw osError(errno.EBADF, syscall) // as Python's closed socket
    if (sock.getblocking()) throw new ValueError(`${op}: the socket must be non-blocking (fd ${fd})`, 'ERR_SOCKET_BLOCKING')
    if (signal?.aborted) throw abortError(signal)
    const held = readiness.holder(fd, direction)
    if (held !== undefined) throw busyError(op, fd, direction, held) // before the call, which would take its data
    const operation = new Operation(kind, readiness, sock, arg, signal)
    const result = tryOnce(operation)
    return result === AGAIN ? operation.wait() : Promise.resolve(result)
  } catch (error) {
    return Promise.reject(failure(kind, arg, error))
  }
}

/** `sockAccept`; its argument says whether it has waited (see sockAccept). */
const ACCEPT: Kind<boolean, [Socket, Address]> = {
  op: 'sockAccept', syscall: 'accept', direction: EPOLLIN,
  attempt(operation) {
    const waited = operation.arg
    operation.arg = true
    let conn: Socket, address: Address
    try {
      [conn, address] = operation.sock.accept()
    } catch (e) {
      if (!waited && e instanceof OSError && (e.code === 'EMFILE' || e.code === 'ENFILE')) return AGAIN
      throw e
    }
    try {
      conn.setblocking(false)
    } catch (e) {
      conn.close()
      throw e
    }
    return [conn, address]
  },
}

const RECV: Kind<number, Buffer> = {
  op: 'sockRecv', syscall: 'recv', direction: EPOLLIN,
  attempt: (operation) => recvCopy(operation.sock, operation.arg),
}

const RECV_INTO: Kind<Uint8Array, number> = {
  op: 'sockRecvInto', syscall: 'recv', direction: EPOLLIN,
  attempt: (operation) => recvNow(operation.sock, operation.arg),
}

const RECVFROM: Kind<number, [Buffer, Address]> = {
  op: 'sockRecvfrom', syscall: 'recvfrom', direction: EPOLLIN,
  attempt: (operation) => operation.sock.recvfrom(operation.arg),
}

/** `sockSendall`; its argument is the data not sent yet (progress is kept when send would block). */
const SENDALL: Kind<Uint8Array, void> = {
  op: 'sockSendall', syscall: 'send', direction: EPOLLOUT,
  attempt(operation) {
    operation.arg = sendWhatFits(operation.sock, operation.arg)
    return operation.arg.length > 0 ? AGAIN : undefined
  },
}

const SENDTO: Kind<[Uint8Array, Address], number> = {
  op: 'sockSendto', syscall: 'sendto', direction: EPOLLOUT,
  attempt: (operation) => operation.sock.sendto(...operation.arg),
}

/** What `sockConnect` keeps in place of the address once the connect has started. */
const STARTED: unique symbol = Symbol('started')

/** `sockConnect`; its argument is the address until the connect has started, then STARTED. */
const CONNECT: Kind<Address | typeof STARTED, void> = {
  op: 'sockConnect', syscall: 'connect', direction: EPOLLOUT,
  attempt(operation) {
    const address = operation.arg
    if (address !== STARTED) {
      operation.arg = STARTED
      operation.sock.connect(address)
      return undefined
    }
    const error = operation.sock.getsockopt(SOL_SOCKET, SO_ERROR) as number
    if (error !== 0) throw osError(error, 'connect')
    return undefined
  },
}

/**
 * Accepts a connection: `[conn, address]`, `conn` non-blocking (asyncio's `sock_accept`). Out
 * of fds, Linux's accept fails (EMFILE, ENFILE) whether or not a connection waits, so the first
 * try takes that for "wait": the promise rejects with it only once a connection came and was
 * turned away (Socket.accept's spare fd), and a loop around sockAccept never spins.
 */
export function sockAccept(r: Readiness, sock: Socket, options?: OperationOptions): Promise<[Socket, Address]> {
  return operate(r, ACCEPT, sock, false, options)
}

/** Receives up to `n` bytes: a Buffer, empty at end of stream (asyncio's `sock_recv`). */
export function sockRecv(r: Readiness, sock: Socket, n: number, options?: OperationOptions): Promise<Buffer> {
  try {
    if (integer(n, 'n') < 0) throw new RangeError(`negative n: ${n}`) // as Socket.recv checks its bufsize
  } catch (error) {
    return Promise.reject(error)
  }
  return operate(r, RECV, sock, n, options)
}

/** Receives into `buf`: the byte count, 0 at end of stream (asyncio's `sock_recv_into`). */
export function sockRecvInto(r: Readiness, sock: Socket, buf: Uint8Array, options?: OperationOptions): Promise<number> {
  if (!(buf instanceof Uint8Array)) return Promise.reject(new TypeError('sockRecvInto: buf must be a Buffer or Uint8Array'))
  return operate(r, RECV_INTO, sock, buf, options)
}

/** Receives a datagram of up to `n` bytes: `[data, sender]` (asyncio's `sock_recvfrom`). */
export function sockRecvfrom(r: Readiness, sock: Socket, n: number, options?: OperationOptions): Promise<[Buffer, Address]> {
  return operate(r, RECVFROM, sock, n, options)
}

/** Sends all of `data`, waiting whenever the socket's buffer is full (asyncio's `sock_sendall`). */
export function sockSendall(r: Readiness, sock: Socket, data: Uint8Array, options?: OperationOptions): Promise<void> {
  if (!(data instanceof Uint8Array)) return Promise.reject(new TypeError('sockSendall: data must be a Buffer or Uint8Array'))
  return operate(r, SENDALL, sock, data, options)
}

/** Sends a datagram to `address`: the byte count (asyncio's `sock_sendto`). */
export function sockSendto(r: Readiness, sock: Socket, data: Uint8Array, address: Address, options?: OperationOptions): Promise<number> {
  return operate(r, SENDTO, sock, [data, address], options)
}

/**
 * Connects to `address` (asyncio's `sock_connect`): starts the connect, waits until the socket
 * is writable, then reads its outcome from SO_ERROR. A host name is resolved synchronously.
 */
export function sockConnect(r: Readiness, sock: Socket, address: Address, options?: OperationOptions): Promise<void> {
  return operate(r, CONNECT, sock, address, options)
}
