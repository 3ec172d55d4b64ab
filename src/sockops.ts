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
const AGAIN: unique symbol = Symbol('again')
type Attempt<T> = () => T | typeof AGAIN

/** The AbortError of an aborted operation, as Node's own APIs reject: DOMException named 'AbortError'. */
function abortError(signal: AbortSignal): DOMException {
  return new DOMException('The operation was aborted', { name: 'AbortError', cause: signal.reason })
}

/** Runs `attempt`; a BlockingIOError means AGAIN. */
function tryOnce<T>(attempt: Attempt<T>): T | typeof AGAIN {
  try {
    return attempt()
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

/**
 * Where `sockRecv` receives up to 64 KiB before it copies out what came: an attempt that would
 * block allocates nothing, and the Buffer returned is the size of the data, so a small message
 * kept (a coroutine's last read, while it waits for the next) keeps no larger buffer alive.
 */
const SCRATCH = Buffer.allocUnsafeSlow(64 * 1024)
/** SCRATCH's first n bytes, for the last n asked (a server asks the same n every time). */
let scratchView = SCRATCH

/** `sock.recv(n)`, with AGAIN for "would block": a Buffer of the bytes received (empty at end of stream). */
function recvCopy(sock: Socket, n: number): Buffer | typeof AGAIN {
  if (n > SCRATCH.length) {
    const buf = Buffer.allocUnsafe(n)
    const got = recvNow(sock, buf)
    return got === AGAIN ? AGAIN : got === n ? buf : Buffer.from(buf.subarray(0, got))
  }
  if (scratchView.length !== n) scratchView = SCRATCH.subarray(0, n)
  const got = recvNow(sock, scratchView)
  if (got === AGAIN) return AGAIN
  const data = Buffer.allocUnsafe(got)
  SCRATCH.copy(data, 0, 0, got)
  return data
}

/** An operation waiting in a socket's reader or writer slot. */
class Operation<T> implements Waiter {
  readonly #onAbort: (() => void) | undefined

  constructor(
    readonly op: string,
    readonly syscall: string,
    private readonly readiness: Readiness,
    private readonly fd: number,
    private readonly direction: Direction,
    private readonly attempt: Attempt<T>,
    private readonly resolve: (value: T) => void,
    private readonly reject: (error: unknown) => void,
    private readonly signal: AbortSignal | undefined,
  ) {
    if (signal !== undefined) {
      this.#onAbort = () => {
        if (this.readiness.remove(this.fd, this.direction, this, true)) this.reject(abortError(signal))
      }
      signal.addEventListener('abort', this.#onAbort, { once: true })
    }
  }

  ready(): void {
    let result: T | typeof AGAIN
    try {
      result = tryOnce(this.attempt)
    } catch (error) {
      this.#end(true)
      this.reject(error)
      return
    }
    if (result === AGAIN) return
    this.#end(false)
    this.resolve(result)
  }

  fail(error: Error): void {
    this.#unlisten()
    this.reject(error)
  }

  /** Leaves the slot: the interest goes at once after a failure, lazily after a success. */
  #end(failed: boolean): void {
    this.#unlisten()
    this.readiness.remove(this.fd, this.direction, this, failed)
  }

  #unlisten(): void {
    if (this.#onAbort !== undefined) this.signal!.removeEventListener('abort', this.#onAbort)
  }
}

/**
 * Runs `attempt` on `sock` now, and if it would block, again whenever `sock` is ready in
 * `direction`, until it completes. Every error, bad input included, rejects the promise.
 */
function operate<T>(
  readiness: Readiness, op: string, syscall: string, direction: Direction, sock: Socket,
  options: OperationOptions | undefined, attempt: Attempt<T>,
): Promise<T> {
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
    const result = tryOnce(attempt)
    if (result !== AGAIN) return Promise.resolve(result)
    return new Promise<T>((resolve, reject) => {
      readiness.add(sock, direction, new Operation(op, syscall, readiness, fd, direction, attempt, resolve, reject, signal))
    })
  } catch (error) {
    return Promise.reject(error)
  }
}

/**
 * Accepts a connection: `[conn, address]`, `conn` non-blocking (asyncio's `sock_accept`). Out
 * of fds, Linux's accept fails (EMFILE, ENFILE) whether or not a connection waits, so the first
 * try takes that for "wait": the promise rejects with it only once a connection came and was
 * turned away (Socket.accept's spare fd), and a loop around sockAccept never spins.
 */
export function sockAccept(r: Readiness, sock: Socket, options?: OperationOptions): Promise<[Socket, Address]> {
  let first = true
  return operate(r, 'sockAccept', 'accept', EPOLLIN, sock, options, () => {
    const waited = !first
    first = false
    let conn: Socket, address: Address
    try {
      [conn, address] = sock.accept()
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
  })
}

/** Receives up to `n` bytes: a Buffer, empty at end of stream (asyncio's `sock_recv`). */
export function sockRecv(r: Readiness, sock: Socket, n: number, options?: OperationOptions): Promise<Buffer> {
  try {
    if (integer(n, 'n') < 0) throw new RangeError(`negative n: ${n}`) // as Socket.recv checks its bufsize
  } catch (error) {
    return Promise.reject(error)
  }
  return operate(r, 'sockRecv', 'recv', EPOLLIN, sock, options, () => recvCopy(sock, n))
}

/** Receives into `buf`: the byte count, 0 at end of stream (asyncio's `sock_recv_into`). */
export function sockRecvInto(r: Readiness, sock: Socket, buf: Uint8Array, options?: OperationOptions): Promise<number> {
  if (!(buf instanceof Uint8Array)) return Promise.reject(new TypeError('sockRecvInto: buf must be a Buffer or Uint8Array'))
  return operate(r, 'sockRecvInto', 'recv', EPOLLIN, sock, options, () => recvNow(sock, buf))
}

/** Receives a datagram of up to `n` bytes: `[data, sender]` (asyncio's `sock_recvfrom`). */
export function sockRecvfrom(r: Readiness, sock: Socket, n: number, options?: OperationOptions): Promise<[Buffer, Address]> {
  return operate(r, 'sockRecvfrom', 'recvfrom', EPOLLIN, sock, options, () => sock.recvfrom(n))
}

/** Sends all of `data`, waiting whenever the socket's buffer is full (asyncio's `sock_sendall`). */
export function sockSendall(r: Readiness, sock: Socket, data: Uint8Array, options?: OperationOptions): Promise<void> {
  if (!(data instanceof Uint8Array)) return Promise.reject(new TypeError('sockSendall: data must be a Buffer or Uint8Array'))
  let rest = data
  return operate(r, 'sockSendall', 'send', EPOLLOUT, sock, options, () => {
    while (rest.length > 0) { // progress is kept when send would block
      const sent = socketSend(sock.fileno(), rest, 0)
      if (sent === EAGAIN) return AGAIN
      rest = rest.subarray(check(sent, 'send'))
    }
    return undefined
  })
}

/** Sends a datagram to `address`: the byte count (asyncio's `sock_sendto`). */
export function sockSendto(r: Readiness, sock: Socket, data: Uint8Array, address: Address, options?: OperationOptions): Promise<number> {
  return operate(r, 'sockSendto', 'sendto', EPOLLOUT, sock, options, () => sock.sendto(data, address))
}

/**
 * Connects to `address` (asyncio's `sock_connect`): starts the connect, waits until the socket
 * is writable, then reads its outcome from SO_ERROR. A host name is resolved synchronously.
 */
export function sockConnect(r: Readiness, sock: Socket, address: Address, options?: OperationOptions): Promise<void> {
  let started = false
  return operate(r, 'sockConnect', 'connect', EPOLLOUT, sock, options, () => {
    if (!started) {
      started = true
      sock.connect(address)
      return undefined
    }
    const error = sock.getsockopt(SOL_SOCKET, SO_ERROR) as number
    if (error !== 0) throw osError(error, 'connect')
    return undefined
  })
}
