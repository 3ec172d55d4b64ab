/**
 * `IOStream`: Tornado's IOStream over a non-blocking fdpoll Socket and an IOLoop, in camelCase.
 * Reads take what the socket has through `loop.sockRecv` (so a read that can be served from the
 * socket at once never waits on the loop) and keep what is not yet returned in one buffer, none
 * while nothing is (a stream waiting for its next request holds no buffer); writes queue, go out
 * together, and each resolves once its bytes are sent. One read at a time (a second rejects with
 * a RuntimeError naming the socket); writes may overlap. The peer closing, or a connection
 * error, closes the stream and rejects with a StreamClosedError carrying the bytes read and not
 * yet returned.
 */
import { ConnectionError, OSError, PythonError, RuntimeError, ValueError } from './errors.js'
import type { IOLoop } from './ioloop.js'
import { Socket } from './socket.js'

/** Tornado's StreamClosedError: the stream is closed, by its owner, by the peer or by a connection error. */
export class StreamClosedError extends PythonError {
  /** The bytes read but not returned when the stream closed (asyncio's `IncompleteReadError.partial`). */
  readonly partial: Buffer
  /** The connection error that closed the stream, if one did (Tornado's `real_error`). */
  readonly realError: Error | undefined

  constructor(partial: Buffer = Buffer.alloc(0), realError?: Error) {
    super(realError === undefined ? 'Stream is closed' : `Stream is closed: ${realError.message}`, 'ERR_STREAM_CLOSED')
    this.partial = partial
    this.realError = realError
  }
}

/** Tornado's UnsatisfiableReadError: `readUntil` found no delimiter within `maxBytes`. */
export class UnsatisfiableReadError extends PythonError {
  constructor(message: string) {
    super(message, 'ERR_UNSATISFIABLE_READ')
  }
}

/** Options of `readUntil`. */
export interface ReadUntilOptions {
  /** The most bytes the result (the delimiter included) may have; past it the read rejects. */
  maxBytes?: number
}

/** Options of the IOStream constructor. */
export interface IOStreamOptions {
  /** The most bytes the read buffer may hold (Tornado's `max_buffer_size`, default 100 MiB). */
  maxBufferSize?: number
}

/** The most one read takes from the socket (Tornado's read_chunk_size). */
const READ_CHUNK = 64 * 1024
const DEFAULT_MAX_BUFFER_SIZE = 100 * 1024 * 1024
const EMPTY = Buffer.alloc(0)
const noop = () => {}

/** A buffered stream over a non-blocking socket (Tornado's IOStream). */
export class IOStream {
  readonly #sock: Socket
  readonly #loop: IOLoop
  readonly #maxBufferSize: number
  /** Bytes read and not yet returned: `#buf[#start, #end)`. */
  #buf: Buffer = EMPTY
  #start = 0
  #end = 0
  #reading = false
  /** Data written and not yet handed to a send, with the settlers of the writes it holds (undefined while none: an idle stream keeps no arrays). */
  #queue: Buffer[] | undefined
  #writers: { resolve: () => void, reject: (error: unknown) => void }[] | undefined
  #flushing = false
  #closed = false

  /** Wraps `sock`, which must be a non-blocking fdpoll Socket, on `loop`. */
  constructor(sock: Socket, loop: IOLoop, { maxBufferSize = DEFAULT_MAX_BUFFER_SIZE }: IOStreamOptions = {}) {
    if (!(sock instanceof Socket)) throw new TypeError('IOStream: sock must be an fdpoll Socket')
    if (typeof loop?.sockRecv !== 'function') throw new TypeError('IOStream: loop must be an IOLoop')
    if (sock.getblocking()) throw new ValueError(`IOStream: the socket must be non-blocking (fd ${sock.fileno()})`, 'ERR_SOCKET_BLOCKING')
    if (!Number.isInteger(maxBufferSize) || maxBufferSize < 1) throw new RangeError('maxBufferSize must be a positive integer')
    this.#sock = sock
    this.#loop = loop
    this.#maxBufferSize = maxBufferSize
  }

  /** The socket this stream reads and writes. */
  get socket(): Socket {
    return this.#sock
  }

  /** True once `close()` ran, or the peer or an error closed the stream. */
  get closed(): boolean {
    return this.#closed
  }

  /**
   * Reads up to and including `delimiter` (a Buffer, or a string taken as UTF-8). With
   * `maxBytes`, rejects with an UnsatisfiableReadError once that many bytes hold no delimiter;
   * the stream stays open (to answer, then `close()`).
   */
  async readUntil(delimiter: Uint8Array | string, { maxBytes }: ReadUntilOptions = {}): Promise<Buffer> {
    const delim = typeof delimiter === 'string' ? Buffer.from(delimiter) : delimiter
    if (!(delim instanceof Uint8Array) || delim.length === 0) throw new TypeError('readUntil: delimiter must be a non-empty Buffer or string')
    if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes < 1)) throw new RangeError('readUntil: maxBytes must be a positive integer')
    this.#beginRead('readUntil')
    try {
      let from = 0
      while (true) {
        const at = this.#find(delim, from)
        const size = this.#end - this.#start
        const needed = at >= 0 ? at + delim.length : size + 1
        if (maxBytes !== undefined && needed > maxBytes) {
          throw new UnsatisfiableReadError(`delimiter not found within maxBytes (${maxBytes})`)
        }
        if (at >= 0) return this.#take(needed)
        from = Math.max(0, size - delim.length + 1)
        this.#filled(await this.#recv())
      }
    } catch (error) {
      throw this.#closedBy(error)
    } finally {
      this.#reading = false
    }
  }

  /** Reads exactly `n` bytes. */
  async readBytes(n: number): Promise<Buffer> {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`readBytes: n must be a non-negative integer, got ${n}`)
    this.#beginRead('readBytes')
    try {
      while (this.#end - this.#start < n) this.#filled(await this.#recv())
      return this.#take(n)
    } catch (error) {
      throw this.#closedBy(error)
    } finally {
      this.#reading = false
    }
  }

  /**
   * Queues `data` (a Buffer, or a string written as UTF-8) and sends what the socket takes now;
   * resolves once all of it is sent. A failed write closes the stream and rejects with a
   * StreamClosedError; a write left unawaited never becomes an unhandled rejection.
   */
  write(data: Uint8Array | string): Promise<void> {
    let promise: Promise<void>
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      promise = Promise.reject(new TypeError('write: data must be a Buffer, a Uint8Array or a string'))
    } else if (this.#closed) {
      promise = Promise.reject(new StreamClosedError())
    } else {
      (this.#queue ??= []).push(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength))
      promise = new Promise<void>((resolve, reject) => (this.#writers ??= []).push({ resolve, reject }))
      if (!this.#flushing) void this.#flush()
    }
    promise.catch(noop)
    return promise
  }

  /** Closes the stream and its socket: reads and writes still waiting reject with a StreamClosedError. Idempotent. */
  close(): void {
    if (this.#closed) return
    this.#closed = true
    this.#sock.close() // what waits on it rejects with EBADF, which the read or the flush turns into a StreamClosedError
  }

  #beginRead(op: string): void {
    if (this.#reading) throw new RuntimeError(`${op}: socket fd ${this.#sock.fileno()} already has a read waiting on this IOStream; one at a time`, 'ERR_BUSY')
    if (this.#closed) throw new StreamClosedError(this.#takeAll())
    this.#reading = true
  }

  /**
   * Receives what the socket has, waiting for some: what a read awaits itself, with no promise
   * chained on it, so that a stream waiting for data keeps no reaction or closure of its own
   * beside the reader's await. The reader hands what came to `#filled`, and an error to `#closedBy`.
   */
  #recv(): Promise<Buffer> {
    if (this.#end - this.#start >= this.#maxBufferSize) {
      return Promise.reject(new UnsatisfiableReadError(`read buffer full (maxBufferSize ${this.#maxBufferSize})`))
    }
    return this.#loop.sockRecv(this.#sock, READ_CHUNK)
  }

  /** Buffers what `#recv` received; at end of stream (no data), closes and throws. */
  #filled(data: Buffer): void {
    if (data.length === 0) throw this.#closedBy(undefined)
    this.#append(data)
  }

  /**
   * Adds `data` (a Buffer of its own, from sockRecv) after the buffered bytes: with none, it
   * becomes the buffer; else it is copied in, the buffered bytes first moved to the front, or
   * into a larger buffer, when the room after them is short.
   */
  #append(data: Buffer): void {
    if (this.#start === this.#end) {
      this.#buf = data
      this.#start = 0
      this.#end = data.length
      return
    }
    if (this.#buf.length - this.#end < data.length) {
      const size = this.#end - this.#start
      const buf = this.#buf.length - size >= data.length ? this.#buf : Buffer.allocUnsafe(Math.max(2 * this.#buf.length, size + data.length))
      this.#buf.copy(buf, 0, this.#start, this.#end)
      this.#buf = buf
      this.#start = 0
      this.#end = size
    }
    this.#end += data.copy(this.#buf, this.#end)
  }

  /**
   * Where `delim` starts first in the buffered bytes, at or after `from` (both counted from
   * `#start`), or -1. The search runs on the buffer itself (no view made per search): a match
   * that ends past `#end` is none.
   */
  #find(delim: Uint8Array, from: number): number {
    const found = this.#buf.indexOf(delim.length === 1 ? delim[0] : delim, this.#start + from)
    return found >= 0 && found + delim.length <= this.#end ? found - this.#start : -1
  }

  /** The first `n` buffered bytes, as a Buffer of their own; the buffer goes once all are taken. */
  #take(n: number): Buffer {
    const out = Buffer.allocUnsafe(n)
    this.#buf.copy(out, 0, this.#start, this.#start + n)
    this.#start += n
    if (this.#start === this.#end) {
      this.#buf = EMPTY
      this.#start = this.#end = 0
    }
    return out
  }

  #takeAll(): Buffer {
    return this.#take(this.#end - this.#start)
  }

  /**
   * The error a read or write ends with when `error` (or, if undefined, the end of the stream)
   * stops it: a StreamClosedError, after closing the stream, unless the loop itself closed.
   */
  #closedBy(error: unknown): unknown {
    const gone = error === undefined || error instanceof ConnectionError || (error instanceof OSError && (error.code === 'EBADF' || error.code === 'ENOTCONN'))
    if (!gone) return error
    const closedHere = this.#closed
    this.close()
    const real = closedHere || error === undefined || (error as OSError).code === 'EBADF' ? undefined : (error as Error)
    return new StreamClosedError(this.#takeAll(), real)
  }

  /** Sends the queue until it is empty, in one piece per round; on failure, closes the stream. */
  async #flush(): Promise<void> {
    this.#flushing = true
    try {
      while (this.#queue !== undefined) {
        const queue = this.#queue
        const writers = this.#writers!
        const data = queue.length === 1 ? queue[0] : Buffer.concat(queue)
        this.#queue = this.#writers = undefined
        try {
          await this.#loop.sockSendall(this.#sock, data)
        } catch (error) {
          const failure = this.#closedBy(error)
          for (const writer of writers) writer.reject(failure)
          this.#failWrites(failure)
          return
        }
        for (const writer of writers) writer.resolve()
      }
    } finally {
      this.#flushing = false
    }
  }

  #failWrites(error: unknown): void {
    const writers = this.#writers ?? []
    this.#queue = this.#writers = undefined
    for (const writer of writers) writer.reject(error)
  }
}
