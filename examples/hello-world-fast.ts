/**
 * The "Hello, world!" server built for speed: HTTP/1.1 keep-alive and pipelining on fdpoll's
 * fast paths. Each loop turn crosses into native code twice, whatever the number of ready
 * connections: one `fastpath.pollRecv` that waits (epoll_wait) and reads every readable
 * connection into its own slot of one buffer, and one `fastpath.sendMany` that answers all of
 * them. Connections are plain fds (errno returns, no exceptions, no object per
 * connection); requests are counted by a byte scan with per-fd state in a typed array; responses
 * are ranges of one precomputed batch buffer: nothing is allocated per request. Level-triggered,
 * so a wakeup costs no extra recv to reach EAGAIN. TCP_CORK wraps a batch only when it takes
 * more than one send (deep pipelines), where it saves a segment; TCP_NODELAY is set once per
 * connection.
 *
 * It answers every request that ends with CRLF CRLF (a GET) with the same 76 bytes, and
 * closes on EOF or error. Run: `npm run start:fast` (PORT=8080; REUSE_PORT=1 sets
 * SO_REUSEPORT, so several processes can share the port: see examples/cluster.ts).
 */
import {
  AF_INET, EPOLLIN, EPOLLOUT, Epoll, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, Socket,
  errno, fastpath, setCork, setNoDelay,
} from 'fdpoll'

const RESPONSE = Buffer.from('HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, world!')
const MAX_BATCH = 64
const BATCH = Buffer.concat(Array.from({ length: MAX_BATCH }, () => RESPONSE))
/** BATCH_VIEWS[k]: the first k responses, made once so a send allocates nothing. */
const BATCH_VIEWS = Array.from({ length: MAX_BATCH + 1 }, (_, k) => BATCH.subarray(0, k * RESPONSE.length))
const MAX_FDS = 1 << 20
const MAX_EVENTS = 1024
/** Bytes read from one connection per loop turn: a level-triggered fd with more is ready again. */
const SLOT = 16 * 1024
const CR = 13
const LF = 10
const EAGAIN = -errno.EAGAIN

const server = new Socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
if (process.env.REUSE_PORT === '1') server.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
server.bind(['0.0.0.0', Number(process.env.PORT ?? 8080)])
server.listen(4096)
server.setblocking(false)
const listener = server.fileno()
console.log(`Serving on http://127.0.0.1:${server.getsockname()[1]}/`)

const ep = new Epoll()
ep.register(listener, EPOLLIN)
const epfd = ep.fileno()
/** pollRecv's output, [fd, events, bytes received or -errno] per event, and its slots. */
const events = new Int32Array(3 * MAX_EVENTS)
const input = Buffer.allocUnsafe(MAX_EVENTS * SLOT)
/** sendMany's plan, [fd, offset in BATCH, length → bytes sent or -errno], and each length asked. */
const sends = new Int32Array(3 * MAX_EVENTS)
const asked = new Int32Array(MAX_EVENTS)
/** How much of CR LF CR LF the end of each connection's input has matched so far (0-3). */
const matched = new Uint8Array(MAX_FDS)
/** Responses not yet written because the socket's send buffer was full. */
const unsent = new Map<number, Buffer>()

/**
 * Counts the requests (CR LF CR LF terminators) completed by `n` new bytes of `fd`'s input, at
 * `input[base]`.
 * A terminator that began in an earlier read is finished byte by byte; the rest of the input
 * is searched the way Boyer-Moore-Horspool does, testing where a terminator could end: a byte
 * that is neither CR nor LF there rules out the next four ends at once, so a typical request
 * costs about a quarter of a look per byte.
 */
function countRequests(fd: number, base: number, n: number): number {
  let state = matched[fd]
  let count = 0
  let end = -1 // where the last terminator counted ends: the next one starts after it
  for (let i = 0; i < n && i < 3 && state > 0; i++) {
    const c = input[base + i]
    if (c === (state & 1 ? LF : CR)) state++
    else state = c === CR ? 1 : 0
    if (state === 4) {
      count++
      state = 0
      end = i
    }
  }
  for (let j = end + 4 > 3 ? end + 4 : 3; j < n;) {
    const c = input[base + j]
    if (c === LF) {
      if (input[base + j - 1] === CR && input[base + j - 2] === LF && input[base + j - 3] === CR) {
        count++
        end = j
        j += 4
      } else j += 2 // this LF can only be a terminator's second byte
    } else j += c === CR ? 1 : 4
  }
  matched[fd] = n > 3 || state === 0 ? tail(base, n, end) : state
  return count
}

/** How much of CR LF CR LF the input ends with, after the last terminator (which ended at `end`). */
function tail(base: number, n: number, end: number): number {
  const last = base + n - 1
  if (n - 3 > end && input[last - 2] === CR && input[last - 1] === LF && input[last] === CR) return 3
  if (n - 2 > end && input[last - 1] === CR && input[last] === LF) return 2
  return n - 1 > end && input[last] === CR ? 1 : 0
}

/** Closing the connection's only fd also removes it from the Epoll. */
function close(fd: number): void {
  unsent.delete(fd)
  fastpath.close(fd)
}

/** Sends `count` responses, in order; what the kernel does not take waits for EPOLLOUT. */
function respond(fd: number, count: number): void {
  if (unsent.has(fd)) return queue(fd, Buffer.alloc(count * RESPONSE.length, RESPONSE))
  if (count <= MAX_BATCH) {
    write(fd, BATCH_VIEWS[count])
    return
  }
  setCork(fd, true) // several sends: let the kernel fill whole segments
  let left = count
  for (; left > 0 && !unsent.has(fd); left -= MAX_BATCH) {
    if (!write(fd, BATCH_VIEWS[Math.min(left, MAX_BATCH)])) return // closed: nothing to uncork
  }
  if (left > 0) queue(fd, Buffer.alloc(left * RESPONSE.length, RESPONSE))
  setCork(fd, false) // flush
}

/**
 * Sends what the kernel takes of `data` and queues the rest, reading no more until it is sent.
 * Returns false when the client is gone (EPIPE, ECONNRESET...) and the connection was closed.
 */
function write(fd: number, data: Buffer): boolean {
  return settle(fd, data, fastpath.send(fd, data))
}

/** `write`'s second half: `sent` is what sending `data` returned. */
function settle(fd: number, data: Buffer, sent: number): boolean {
  if (sent === EAGAIN) sent = 0
  else if (sent < 0) {
    close(fd)
    return false
  }
  if (sent < data.length) {
    unsent.set(fd, data.subarray(sent))
    ep.modify(fd, EPOLLOUT) // stop reading until the client reads what it asked for
  }
  return true
}

/** Appends `data` behind the responses already waiting for EPOLLOUT. */
function queue(fd: number, data: Buffer): void {
  unsent.set(fd, Buffer.concat([unsent.get(fd)!, data]))
}

/**
 * Accepts until accept() fails: EAGAIN, or EMFILE, for which fastpath.accept has closed every
 * pending connection already (so the level-triggered listener does not stay ready and spin).
 */
function acceptAll(): void {
  for (let fd = fastpath.accept(listener); fd >= 0; fd = fastpath.accept(listener)) {
    setNoDelay(fd)
    matched[fd] = 0
    ep.register(fd, EPOLLIN)
  }
}

/** Writes what waited for EPOLLOUT, and reads again once it is all sent. */
function flush(fd: number): void {
  const rest = unsent.get(fd)!
  unsent.delete(fd)
  ep.modify(fd, EPOLLIN)
  write(fd, rest)
}

while (true) {
  const ready = fastpath.pollRecv(epfd, events, -1, input, SLOT, listener)
  if (ready < 0) throw new Error(`epoll_wait failed: errno ${-ready}`) // EINTR is retried inside
  let sending = 0
  for (let i = 0; i < ready; i++) {
    const fd = events[3 * i]
    const n = events[3 * i + 2]
    if (fd === listener) acceptAll()
    else if (events[3 * i + 1] & EPOLLOUT) flush(fd)
    else if (n <= 0) {
      if (n !== EAGAIN) close(fd) // end of stream, or an error (EPOLLERR/EPOLLHUP)
    } else {
      const count = countRequests(fd, i * SLOT, n)
      if (count > MAX_BATCH) respond(fd, count) // a deep pipeline: corked sends of its own
      else if (count > 0) {
        sends[3 * sending] = fd
        sends[3 * sending + 1] = 0
        sends[3 * sending + 2] = asked[sending] = count * RESPONSE.length
        sending++
      }
    }
  }
  fastpath.sendMany(sends, sending, BATCH)
  for (let i = 0; i < sending; i++) {
    const sent = sends[3 * i + 2]
    if (sent !== asked[i]) settle(sends[3 * i], BATCH.subarray(0, asked[i]), sent) // short, or failed
  }
}
