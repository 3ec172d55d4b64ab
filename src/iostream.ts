/**
 * `IOStream`: Tornado's IOStream over a non-blocking fdpoll Socket and an IOLoop, in camelCase.
 * A read is served from the bytes already buffered when it can; else it is a socket operation
 * of its own kind on the loop (src/sockops.ts): it takes what the socket has at once and waits
 * on the loop only when the socket would block (or, after a receive that drained the socket,
 * waits for readiness first), so a waiting read is one Operation, with no async function frame
 * of its own. What is read and not yet returned stays in one buffer, none
 * while nothing is (a stream waiting for its next request holds no buffer); a read returns a
 * view of that buffer, whose bytes the stream never writes over. A write goes out at once when
 * nothing is queued before it (as Tornado's does); what the socket does not take queues, later
 * writes join it and go out together, and each write resolves once its bytes are sent. One read
 * at a time (a second rejects with a RuntimeError naming the socket); writes may overlap. The
 * peer closing, or a connection error, closes the stream and rejects with a StreamClosedError
 * carrying the bytes read and not yet returned.
 */
import { EPOLLIN } from './constants.js'
import { ConnectionError, OSError, PythonError, RuntimeError, ValueError } from './errors.js'
import { type IOLoop, readinessOf } from './ioloop.js'
import { Socket } from './socket.js'
import type { Readiness } from './readiness.js'
import { AGAIN, type Kind, type Operation, operate, recvCopy, sendWhatFits, sockSendall } from './sockops.js'

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
/** The most bytes `#find` looks through in a loop for a one-byte delimiter (see there). */
const SHORT_SPAN = 256
const EMPTY = Buffer.alloc(0)
const noop = () => {}
/** What a read's attempt throws at the end of the stream (the read's failure makes it a StreamClosedError). */
const END_OF_STREAM = Symbol('end of stream')

/** A buffered stream over a non-blocking socket (Tornado's IOStream). */
export class IOStream {
  readonly #sock: Socket
  /** The readers and writers of the stream's IOLoop, where its reads and flushes wait. */
  readonly #readiness: Readiness
  readonly #maxBufferSize: number
  /** Bytes read and not yet returned: `#buf[#start, #end)`. */
  #buf: Buffer = EMPTY
  #start = 0
  #end = 0
  #reading = false
  /**
   * Whether the last receive took less than it asked for: the socket had no more then, so the
   * next try that needs the socket waits for readiness before it receives (as libuv does),
   * rather than making a call that would block (in request-response traffic, nearly always).
   */
  #drained = false
  /** The read in progress: readUntil's delimiter, readUntilRegex's pattern, or undefined for readBytes. */
  #delim: Uint8Array | RegExp | undefined
  /** readUntil's or readUntilRegex's maxBytes (Infinity without one), or readBytes' n. */
  #limit = 0
  /** Where readUntil's next search for the delimiter starts, counted from `#start`. */
  #from = 0
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
    this.#readiness = readinessOf(loop)
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
  readUntil(delimiter: Uint8Array | string, { maxBytes }: ReadUntilOptions = {}): Promise<Buffer> {
    const delim = typeof delimiter === 'string' ? Buffer.from(delimiter) : delimiter
    if (!(delim instanceof Uint8Array) || delim.length === 0) return Promise.reject(new TypeError('readUntil: delimiter must be a non-empty Buffer or string'))
    if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes < 1)) return Promise.reject(new RangeError('readUntil: maxBytes must be a positive integer'))
    return this.#read(IOStream.#READ_UNTIL, delim, maxBytes ?? Infinity)
  }

  /**
   * Reads up to and including the first match of `pattern` (a RegExp, or a string made one),
   * Tornado's `read_until_regex`: the buffered bytes are matched as latin1 text, one character
   * per byte, so that a pattern of ASCII characters and `\xNN` escapes means bytes. A pattern's
   * `g` and `y` flags are ignored (each read matches from the first unreturned byte). `maxBytes`
   * bounds the result as in `readUntil`.
   */
  readUntilRegex(pattern: RegExp | string, { maxBytes }: ReadUntilOptions = {}): Promise<Buffer> {
    if (typeof pattern !== 'string' && !(pattern instanceof RegExp)) return Promise.reject(new TypeError('readUntilRegex: pattern must be a RegExp or a string'))
    if (maxBytes !== undefined && (!Number.isInteger(maxBytes) || maxBytes < 1)) return Promise.reject(new RangeError('readUntilRegex: maxBytes must be a positive integer'))
    let regex: RegExp
    try {
      regex = typeof pattern === 'string' ? new RegExp(pattern) : pattern.global || pattern.sticky ? new RegExp(pattern.source, pattern.flags.replace(/[gy]/g, '')) : pattern
    } catch (error) {
      return Promise.reject(error) // a string that is no valid pattern: its SyntaxError
    }
    return this.#read(IOStream.#READ_UNTIL_REGEX, regex, maxBytes ?? Infinity)
  }

  /** Reads exactly `n` bytes. */
  readBytes(n: number): Promise<Buffer> {
    if (!Number.isInteger(n) || n < 0) return Promise.reject(new RangeError(`readBytes: n must be a non-negative integer, got ${n}`))
    return this.#read(IOStream.#READ_BYTES, undefined, n)
  }

  /**
   * Sends `data` (a Buffer, or a string written as UTF-8): at once what the socket takes, when
   * nothing is queued before it; the rest is queued. Resolves once all of it is sent. A failed
   * write closes the stream and rejects with a StreamClosedError; a write left unawaited never
   * becomes an unhandled rejection.
   */
  write(data: Uint8Array | string): Promise<void> {
    let promise: Promise<void>
    if (typeof data !== 'string' && !(data instanceof Uint8Array)) {
      promise = Promise.reject(new TypeError('write: data must be a Buffer, a Uint8Array or a string'))
    } else if (this.#closed) {
      promise = Promise.reject(new StreamClosedError())
    } else {
      let buf = typeof data === 'string' ? Buffer.from(data) : data
      if (this.#queue === undefined && !this.#flushing) {
        try {
          buf = sendWhatFits(this.#sock, buf)
        } catch (error) {
          promise = Promise.reject(this.#closedBy(error))
          promise.catch(noop)
          return promise
        }
        if (buf.length === 0) return Promise.resolve()
      }
      (this.#queue ??= []).push(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength))
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

  /** The reads' kinds of socket operation (src/sockops.ts): their argument is the stream. */
  static readonly #READ_UNTIL: Kind<IOStream, Buffer> = IOStream.#readKind('readUntil')
  static readonly #READ_UNTIL_REGEX: Kind<IOStream, Buffer> = IOStream.#readKind('readUntilRegex')
  static readonly #READ_BYTES: Kind<IOStream, Buffer> = IOStream.#readKind('readBytes')

  static #readKind(op: string): Kind<IOStream, Buffer> {
    return {
      op, syscall: 'recv', direction: EPOLLIN,
      attempt: (operation: Operation<IOStream, Buffer>) => operation.arg.#attempt(),
      failed: (stream: IOStream, error: unknown) => stream.#failed(error),
    }
  }

  /**
   * Starts a read (`delim` and `limit` as the fields say): served at once from the buffer when
   * it holds the bytes, else a socket operation of `kind` on the loop.
   */
  #read(kind: Kind<IOStream, Buffer>, delim: Uint8Array | RegExp | undefined, limit: number): Promise<Buffer> {
    if (this.#reading) return Promise.reject(new RuntimeError(`${kind.op}: socket fd ${this.#sock.fileno()} already has a read waiting on this IOStream; one at a time`, 'ERR_BUSY'))
    if (this.#closed) return Promise.reject(new StreamClosedError(this.#takeAll()))
    this.#delim = delim
    this.#limit = limit
    this.#from = 0
    let done: Buffer | undefined
    try {
      done = this.#scan()
    } catch (error) {
      return Promise.reject(error)
    }
    if (done !== undefined) return Promise.resolve(done)
    this.#reading = true
    return operate(this.#readiness, kind, this.#sock, this, undefined)
  }

  /**
   * One try of the read in progress: receives what the socket has until the buffer holds what
   * the read wants (AGAIN when the socket would block first).
   */
  #attempt(): Buffer | typeof AGAIN {
    while (true) {
      const done = this.#scan()
      if (done !== undefined) {
        this.#reading = false
        return done
      }
      if (this.#end - this.#start >= this.#maxBufferSize) throw new UnsatisfiableReadError(`read buffer full (maxBufferSize ${this.#maxBufferSize})`)
      if (this.#drained) {
        this.#drained = false
        return AGAIN
      }
      const data = recvCopy(this.#sock, READ_CHUNK)
      if (data === AGAIN) return AGAIN
      if (data.length === 0) throw END_OF_STREAM
      this.#drained = data.length < READ_CHUNK
      this.#append(data)
    }
  }

  /**
   * What the read in progress returns, taken from the buffer, or undefined while the buffer
   * does not hold it yet; throws past readUntil's (or readUntilRegex's) maxBytes.
   */
  #scan(): Buffer | undefined {
    const size = this.#end - this.#start
    const delim = this.#delim
    if (delim === undefined) return size >= this.#limit ? this.#take(this.#limit) : undefined
    if (delim instanceof RegExp) return this.#scanRegex(delim, size)
    const at = this.#find(delim, this.#from)
    const needed = at >= 0 ? at + delim.length : size + 1
    if (needed > this.#limit) throw new UnsatisfiableReadError(`delimiter not found within maxBytes (${this.#limit})`)
    if (at >= 0) return this.#take(needed)
    this.#from = Math.max(0, size - delim.length + 1)
    return undefined
  }

  /**
   * `#scan` for readUntilRegex: matches the buffered bytes from the first one each time (a
   * match may begin anywhere before the new bytes), but no more of them than maxBytes allows.
   */
  #scanRegex(regex: RegExp, size: number): Buffer | undefined {
    if (size === 0) return undefined // nothing to match yet (Tornado's read_until_regex looks only in a non-empty buffer)
    const span = Math.min(size, this.#limit)
    const match = regex.exec(this.#buf.toString('latin1', this.#start, this.#start + span))
    if (match !== null) return this.#take(match.index + match[0].length)
    if (size >= this.#limit) throw new UnsatisfiableReadError(`pattern not matched within maxBytes (${this.#limit})`)
    return undefined
  }

  /** The read in progress ends with `error`: what it rejects with (see `#closedBy`). */
  #failed(error: unknown): unknown {
    this.#reading = false
    return this.#closedBy(error === END_OF_STREAM ? undefined : error)
  }

  /**
   * Adds `data` (a Buffer of its own, from recvCopy) after the buffered bytes: with none, it
   * becomes the buffer; else it is copied in after them, first moving them into a new buffer
   * (twice as large, or more) when the room after them is short. Bytes already returned are
   * never written over: they are views of the buffer (see `#take`).
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
      const buf = Buffer.allocUnsafe(Math.max(2 * this.#buf.length, size + data.length))
      this.#buf.copy(buf, 0, this.#start, this.#end)
      this.#buf = buf
      this.#start = 0
      this.#end = size
    }
    this.#buf.set(data, this.#end)
    this.#end += data.length
  }

  /**
   * Where `delim` starts first in the buffered bytes, at or after `from` (both counted from
   * `#start`), or -1. The search runs on the buffer itself (no view made per search): a match
   * that ends past `#end` is none. A one-byte delimiter in a short span (a line of a request) is
   * looked for in a loop, cheaper there than the native call of `indexOf`.
   */
  #find(delim: Uint8Array, from: number): number {
    const buf = this.#buf
    const end = this.#end
    let at = this.#start + from
    if (end - at < delim.length) return -1
    if (delim.length === 1 && end - at <= SHORT_SPAN) {
      const byte = delim[0]
      while (at < end && buf[at] !== byte) at++
      return at < end ? at - this.#start : -1
    }
    const found = buf.indexOf(delim.length === 1 ? delim[0] : delim, at)
    return found >= 0 && found + delim.length <= end ? found - this.#start : -1
  }

  /**
   * The first `n` buffered bytes, as a view of the buffer (no copy: nothing writes over bytes
   * before `#end`); the stream lets go of the buffer once all are taken.
   */
  #take(n: number): Buffer {
    const out = Buffer.from(this.#buf.buffer, this.#buf.byteOffset + this.#start, n) // cheaper than subarray's checks
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
          await sockSendall(this.#readiness, this.#sock, data)
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
