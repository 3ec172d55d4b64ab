/**
 * The socket host's table (it runs in the host worker): Node's `net` and `dgram` sockets behind
 * virtual fds numbered by the caller, with the calls of the BSD socket API over them, answered
 * as Linux answers a non-blocking socket (a count, a value or -errno; waiting is the caller's).
 * Received bytes and datagrams wait here until `recv`; each change of a socket's readiness is
 * published with the key Linux's wakeup would carry (see ring.ts), computed as Linux's
 * `tcp_poll` and `datagram_poll` compute it.
 *
 * Where Node has a single step for two of Linux's, a stream `bind` already listens (so the port
 * is reserved and EADDRINUSE comes from `bind`), and the connections it gets before `listen` are
 * reset, as Linux refuses them. Connections accepted past the backlog stay queued: Node has
 * taken them already, and a reset would turn a client's wait into an error.
 */
import * as dgram from 'node:dgram'
import * as net from 'node:net'
import { randomBytes } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { threadId } from 'node:worker_threads'
import { type Address, inet, noAddress, resolve, unix } from './address.js'
import {
  AF_INET, AF_INET6, AF_UNIX, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLRDNORM,
  EPOLLWRBAND, EPOLLWRNORM, IPPROTO_IPV6, IPPROTO_TCP, IPPROTO_UDP, IPV6_V6ONLY,
  MSG_OOB, MSG_PEEK, READ_KEY, SHUT_RD, SHUT_RDWR, SHUT_WR, SOCK_CLOEXEC, SOCK_DGRAM, SOCK_NONBLOCK,
  SOCK_STREAM, SOL_SOCKET, SO_ACCEPTCONN, SO_BROADCAST, SO_DOMAIN, SO_ERROR, SO_KEEPALIVE,
  SO_PROTOCOL, SO_RCVBUF, SO_REUSEADDR, SO_SNDBUF, SO_TYPE, TCP_CORK, TCP_NODELAY, WAKE_ALL,
  WRITE_KEY, errno, errnoOf,
} from './linux.js'

/** Where the table publishes `(fd, readiness, key)`. */
export type Publish = (fd: number, readiness: number, key: number) => void

/** Linux's default receive buffer (SO_RCVBUF reads it back); past it a stream pauses. */
const DEFAULT_RCVBUF = 131072
/** The default send buffer: bytes queued in Node past which `send` takes less or EAGAIN. */
const DEFAULT_SNDBUF = 262144
/** Linux's floors for SO_SNDBUF and SO_RCVBUF (after doubling). */
const MIN_SNDBUF = 4608
const MIN_RCVBUF = 2304
/** How long a closed stream may take to flush what Node still holds before it is reset. */
const LINGER_MS = 30_000

/** Options set with setsockopt, kept to apply when the Node object exists. */
interface Options {
  reuseAddr: boolean
  keepAlive: boolean
  noDelay: boolean
  cork: boolean
  v6Only: boolean
  broadcast: boolean
  rcvbuf: number
  sndbuf: number
}

type StreamState = 'fresh' | 'bound' | 'listening' | 'connecting' | 'connected' | 'closed'

/** A stream socket (TCP, or Unix stream). */
class Stream {
  fd: number
  readonly family: number
  state: StreamState = 'fresh'
  opts: Options
  /** The reserving server from `bind` on (listening from `listen` on). */
  server: net.Server | null = null
  /** Connections not yet accepted (listening). */
  readonly queue: Stream[] = []
  sock: net.Socket | null = null
  local: Address | null = null
  peer: Address | null = null
  /** The other end of a socketpair (whose close, unlike a shutdown, hangs this end up, and fails a send). */
  partner: Stream | null = null
  readonly chunks: Buffer[] = []
  bytes = 0
  peerFin = false
  rdShut = false
  wrShut = false
  /**
   * `send` filled the send buffer; OUT returns once a write is flushed and Node holds less than
   * it (a write's callback: Node's 'drain' does not come when the buffer is below Node's own mark).
   */
  blocked = false
  soError = 0
  published = -1

  constructor(fd: number, family: number, opts: Options) {
    this.fd = fd
    this.family = family
    this.opts = opts
  }

  /**
   * Linux's `tcp_poll` over this socket's state; for a Unix stream its `unix_poll`, which adds
   * EPOLLWRBAND to writable and hangs up once a socketpair's other end is closed (the close
   * shut both directions of this end; its end of stream came after the last byte).
   */
  readiness(): number {
    if (this.state === 'listening') return this.queue.length > 0 ? EPOLLIN | EPOLLRDNORM : 0
    const closed = this.state === 'closed'
    const rcvShut = this.rdShut || this.peerFin || closed
    const sndShut = this.wrShut || closed || (this.peerFin && this.partner?.state === 'closed')
    const writable = this.family === AF_UNIX ? EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND : EPOLLOUT | EPOLLWRNORM
    let bits = 0
    if ((rcvShut && sndShut) || this.state === 'fresh' || this.state === 'bound') bits |= EPOLLHUP
    if (rcvShut) bits |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP
    if (this.state !== 'connecting') {
      if (this.bytes > 0) bits |= EPOLLIN | EPOLLRDNORM
      if (sndShut || !this.blocked) bits |= writable
    }
    if (this.soError !== 0) bits |= EPOLLERR
    return bits
  }
}

/** A UDP socket. */
class Datagram {
  fd: number
  readonly family: number
  opts: Options
  readonly sock: dgram.Socket
  bound = false
  peer: Address | null = null
  readonly queue: { data: Buffer; from: Address }[] = []
  bytes = 0
  rdShut = false
  wrShut = false
  soError = 0
  published = -1

  constructor(fd: number, family: number, opts: Options) {
    this.fd = fd
    this.family = family
    this.opts = opts
    this.sock = dgram.createSocket({ type: family === AF_INET6 ? 'udp6' : 'udp4', reuseAddr: false })
  }

  /** Linux's `udp_poll` over this socket's state. */
  readiness(): number {
    let bits = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND
    if (this.soError !== 0) bits |= EPOLLERR
    if (this.rdShut) bits |= EPOLLIN | EPOLLRDNORM | EPOLLRDHUP
    if (this.rdShut && this.wrShut) bits |= EPOLLHUP
    if (this.queue.length > 0) bits |= EPOLLIN | EPOLLRDNORM
    return bits
  }
}

type HostSocket = Stream | Datagram

/** What `recv` gives: the byte count and the sender (a datagram's; null for a stream). */
export interface Received {
  nbytes: number
  from: Address | null
}

/** The table of virtual fds and their Node sockets. */
export class SocketTable {
  readonly #fds = new Map<number, HostSocket>()
  readonly #publish: Publish
  /** Closed streams still flushing what Node holds. */
  readonly #closing = new Set<net.Socket>()

  constructor(publish: Publish) {
    this.#publish = publish
  }

  /** Open fds, and the Node sockets alive (open fds' handles, unaccepted, still closing). */
  count(): [open: number, alive: number] {
    let alive = this.#closing.size
    for (const s of this.#fds.values()) {
      if (s instanceof Datagram) alive++
      else alive += Number(s.sock !== null) + Number(s.server !== null) + s.queue.length
    }
    return [this.#fds.size, alive]
  }

  /** `socket(2)` as fd `fd` (its number is the caller's). */
  socket(fd: number, family: number, type: number, proto: number): number {
    if (this.#fds.has(fd)) return -errno.EINVAL
    if (family !== AF_INET && family !== AF_INET6 && family !== AF_UNIX) return -errno.EAFNOSUPPORT
    const kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
    const opts = defaultOptions()
    let s: HostSocket
    if (kind === SOCK_STREAM) {
      if (proto !== 0 && !(proto === IPPROTO_TCP && family !== AF_UNIX)) return -errno.EPROTONOSUPPORT
      s = new Stream(fd, family, opts)
    } else if (kind === SOCK_DGRAM) {
      if (family === AF_UNIX) return -errno.ESOCKTNOSUPPORT // Node has no Unix datagram sockets
      if (proto !== 0 && proto !== IPPROTO_UDP) return -errno.EPROTONOSUPPORT
      s = this.#datagram(fd, family, opts)
    } else {
      return -errno.ESOCKTNOSUPPORT
    }
    this.#fds.set(fd, s)
    this.#changed(s, 0)
    return 0
  }

  /**
   * `socketpair(2)` as fds `fd0` and `fd1`: two connected Unix stream sockets (through a
   * listener on a temporary path, gone before this returns); other types EOPNOTSUPP.
   */
  async pair(fd0: number, fd1: number, type: number): Promise<number> {
    if (fd0 === fd1 || this.#fds.has(fd0) || this.#fds.has(fd1)) return -errno.EINVAL
    if ((type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) !== SOCK_STREAM) return -errno.EOPNOTSUPP
    const path = pairPath()
    const server = net.createServer({ allowHalfOpen: true })
    try {
      const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve))
      await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve))
      const client = net.connect({ path, allowHalfOpen: true })
      await new Promise<void>((resolve, reject) => client.once('error', reject).once('connect', resolve))
      const ends: [Stream, net.Socket][] = [
        [new Stream(fd0, AF_UNIX, defaultOptions()), client],
        [new Stream(fd1, AF_UNIX, defaultOptions()), await accepted],
      ]
      ends[0][0].partner = ends[1][0]
      ends[1][0].partner = ends[0][0]
      for (const [end, sock] of ends) {
        end.state = 'connected'
        end.local = unix('')
        end.peer = unix('')
        this.#attach(end, sock)
        this.#fds.set(end.fd, end)
        this.#changed(end, 0)
      }
      return 0
    } catch (err) {
      return -errnoOf(err)
    } finally {
      server.close()
    }
  }

  /** `bind(2)`; a stream starts listening in Node (see the module documentation). */
  async bind(fd: number, host: string, port: number, scopeId: number): Promise<number> {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if (s instanceof Datagram ? s.bound : s.state !== 'fresh') return -errno.EINVAL
    const address = await resolve(s.family, host, scopeId)
    if (typeof address === 'number') return address
    return s instanceof Datagram ? this.#bindDatagram(s, address, port) : this.#reserve(s, address, port)
  }

  /**
   * `listen(2)`; an unbound TCP socket is bound to an ephemeral port first, as Linux does. The
   * backlog bounds nothing here (see the module documentation).
   */
  async listen(fd: number): Promise<number> {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if (s instanceof Datagram) return -errno.EOPNOTSUPP
    if (s.state === 'fresh') {
      if (s.family === AF_UNIX) return -errno.EINVAL // Linux would bind an abstract name: Node has none
      const bound = await this.#reserve(s, s.family === AF_INET6 ? '::' : '0.0.0.0', 0)
      if (bound < 0) return bound
    }
    if (s.state !== 'bound' && s.state !== 'listening') return -errno.EINVAL
    s.state = 'listening'
    this.#changed(s, 0) // a bound socket's EPOLLHUP | EPOLLOUT goes: nothing until a connection comes
    return 0
  }

  /** `accept(2)` into fd `newFd`: the peer's address, or -errno (EAGAIN with none pending). */
  accept(fd: number, newFd: number): Address | number {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if (s instanceof Datagram) return -errno.EOPNOTSUPP
    if (s.state !== 'listening') return -errno.EINVAL
    if (this.#fds.has(newFd)) return -errno.EINVAL
    const conn = s.queue.shift()
    if (conn === undefined) return -errno.EAGAIN
    this.#changed(s, 0)
    conn.fd = newFd
    this.#fds.set(newFd, conn)
    this.#changed(conn, 0)
    return conn.peer ?? noAddress(s.family)
  }

  /**
   * `connect(2)`, non-blocking: -EINPROGRESS while a TCP connection is made (its end shows as a
   * wakeup, with SO_ERROR saying how it went); a Unix stream or a UDP socket connects at once.
   */
  async connect(fd: number, host: string, port: number, scopeId: number): Promise<number> {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if (s instanceof Stream) {
      if (s.state === 'connecting') return -errno.EALREADY
      if (s.state === 'connected' || s.state === 'listening') return -errno.EISCONN
      if (s.state === 'closed') {
        if (s.soError === 0) return -errno.EISCONN
        return -this.#takeError(s)
      }
    }
    const address = await resolve(s.family, host, scopeId)
    if (typeof address === 'number') return address
    return s instanceof Datagram ? this.#connectDatagram(s, address, port) : this.#connectStream(s, address, port)
  }

  /** `recv(2)` (MSG_PEEK honoured) into `into`: the count (0 at end of stream), or -errno. */
  recv(fd: number, into: Uint8Array, flags: number): Received | number {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if (s instanceof Datagram) return this.#recvDatagram(s, into, flags)
    if (s.state === 'listening' || s.state === 'fresh' || s.state === 'bound') return -errno.ENOTCONN
    if (s.bytes === 0) {
      if (s.soError !== 0) return -this.#takeError(s)
      if (s.peerFin || s.rdShut || s.state === 'closed') return { nbytes: 0, from: null }
      return -errno.EAGAIN
    }
    const nbytes = copyOut(s.chunks, into, (flags & MSG_PEEK) === 0)
    if ((flags & MSG_PEEK) === 0) {
      s.bytes -= nbytes
      if (s.sock !== null && s.sock.isPaused() && s.bytes < s.opts.rcvbuf) s.sock.resume()
      this.#changed(s, 0)
    }
    return { nbytes, from: null } // TCP's recvfrom names no sender, as on Linux
  }

  /**
   * `send(2)` (or `sendto(2)` with `to`): the bytes taken, or -errno. A stream takes what fits
   * under its send buffer and says EAGAIN when full; a datagram is sent before the answer.
   */
  async send(fd: number, data: Uint8Array, flags: number, to: { host: string; port: number; scopeId: number } | null): Promise<number> {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if ((flags & MSG_OOB) !== 0) return -errno.EOPNOTSUPP
    if (s instanceof Datagram) {
      if (s.wrShut) return -errno.EPIPE
      if (to === null) return s.peer === null ? -errno.EDESTADDRREQ : this.#sendDatagram(s, data, null, 0)
      const address = await resolve(s.family, to.host, to.scopeId)
      if (typeof address === 'number') return address
        return this.#sendDatagram(s, data, address, to.port)
    }
    return this.#sendStream(s, data)
  }

  /** `shutdown(2)`. */
  shutdown(fd: number, how: number): number {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if (how !== SHUT_RD && how !== SHUT_WR && how !== SHUT_RDWR) return -errno.EINVAL
    const connected = s instanceof Datagram ? s.peer !== null : s.state === 'connected' || s.state === 'connecting'
    if (!connected) return -errno.ENOTCONN
    if (how !== SHUT_WR) s.rdShut = true
    if (how !== SHUT_RD && !s.wrShut) {
      s.wrShut = true
      if (s instanceof Stream && s.sock !== null) s.sock.end()
    }
    this.#changed(s, WAKE_ALL)
    return 0
  }

  /**
   * `close(2)`: the fd is free at once. A stream's unsent bytes still go out (within
   * LINGER_MS), unless unread bytes were left or `abort` (SO_LINGER 0 s) asks, which resets the
   * connection as Linux does (except right after a write: Node then closes with a FIN).
   */
  close(fd: number, abort = false): number {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    this.#fds.delete(fd)
    s.fd = -1
    if (s instanceof Datagram) {
      s.sock.close()
      return 0
    }
    s.server?.close()
    for (const conn of s.queue.splice(0)) if (conn.sock !== null) reset(conn.sock)
    if (s.sock !== null) this.#release(s.sock, abort || s.bytes > 0)
    s.state = 'closed'
    if (s.partner !== null) this.#changed(s.partner, 0) // its hang-up, if its end of stream came already
    return 0
  }

  /** `getsockname(2)`, or `getpeername(2)` with `peer`. */
  name(fd: number, peer: boolean): Address | number {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    if (peer) return s.peer ?? -errno.ENOTCONN
    if (s instanceof Datagram) {
      if (!s.bound) return noAddress(s.family)
      const { address, port } = s.sock.address()
      return inet(s.family, address, port)
    }
    return s.local ?? noAddress(s.family)
  }

  /**
   * `setsockopt(2)` of an int option. Honoured: SO_REUSEADDR (kept; Node always reuses),
   * SO_KEEPALIVE, SO_BROADCAST (UDP), SO_RCVBUF and SO_SNDBUF (the host's buffers, doubled as
   * Linux does), TCP_NODELAY, TCP_CORK (Node's cork), IPV6_V6ONLY (a stream's, before bind); others ENOPROTOOPT.
   */
  setOption(fd: number, level: number, name: number, value: number): number {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    const on = value !== 0
    const stream = s instanceof Stream ? s : null
    const { opts } = s
    if (level === SOL_SOCKET && name === SO_REUSEADDR) opts.reuseAddr = on
    else if (level === SOL_SOCKET && name === SO_KEEPALIVE) {
      opts.keepAlive = on
      stream?.sock?.setKeepAlive(on)
    } else if (level === SOL_SOCKET && name === SO_BROADCAST && s instanceof Datagram) {
      opts.broadcast = on
      if (s.bound) s.sock.setBroadcast(on)
    } else if (level === SOL_SOCKET && name === SO_RCVBUF) {
      opts.rcvbuf = Math.max(MIN_RCVBUF, Math.min(2 * value, 2 ** 30))
      if (stream?.sock?.isPaused() && stream.bytes < opts.rcvbuf) stream.sock.resume()
    } else if (level === SOL_SOCKET && name === SO_SNDBUF) {
      opts.sndbuf = Math.max(MIN_SNDBUF, Math.min(2 * value, 2 ** 30))
    } else if (level === IPPROTO_TCP && stream !== null && stream.family !== AF_UNIX && name === TCP_NODELAY) {
      opts.noDelay = on
      stream.sock?.setNoDelay(on)
    } else if (level === IPPROTO_TCP && stream !== null && stream.family !== AF_UNIX && name === TCP_CORK) {
      if (on !== opts.cork) {
        if (on) stream.sock?.cork()
        else stream.sock?.uncork()
      }
      opts.cork = on
    } else if (level === IPPROTO_IPV6 && name === IPV6_V6ONLY && stream !== null && s.family === AF_INET6) {
      if (stream.state !== 'fresh') return -errno.EINVAL
      opts.v6Only = on
    } else {
      return -errno.ENOPROTOOPT
    }
    return 0
  }

  /** `getsockopt(2)` of an int option: the value (SO_ERROR is cleared by reading), or -errno. */
  getOption(fd: number, level: number, name: number): number {
    const s = this.#fds.get(fd)
    if (s === undefined) return -errno.EBADF
    const { opts } = s
    const stream = s instanceof Stream
    if (level === SOL_SOCKET) {
      switch (name) {
        case SO_ERROR: return this.#takeError(s)
        case SO_TYPE: return stream ? SOCK_STREAM : SOCK_DGRAM
        case SO_DOMAIN: return s.family
        case SO_PROTOCOL: return s.family === AF_UNIX ? 0 : stream ? IPPROTO_TCP : IPPROTO_UDP
        case SO_ACCEPTCONN: return Number(stream && s.state === 'listening')
        case SO_REUSEADDR: return Number(opts.reuseAddr)
        case SO_KEEPALIVE: return Number(opts.keepAlive)
        case SO_BROADCAST: return Number(opts.broadcast)
        case SO_RCVBUF: return opts.rcvbuf
        case SO_SNDBUF: return opts.sndbuf
      }
    } else if (level === IPPROTO_TCP && stream && s.family !== AF_UNIX) {
      if (name === TCP_NODELAY) return Number(opts.noDelay)
      if (name === TCP_CORK) return Number(opts.cork)
    } else if (level === IPPROTO_IPV6 && name === IPV6_V6ONLY && s.family === AF_INET6) {
      return Number(opts.v6Only)
    }
    return -errno.ENOPROTOOPT
  }

  /** Publishes `s`'s readiness if it changed, or any event with a key (nothing before accept). */
  #changed(s: HostSocket, key: number): void {
    if (s.fd < 0) return
    const readiness = s.readiness()
    if (key === 0 && readiness === s.published) return
    s.published = readiness
    this.#publish(s.fd, readiness, key)
  }

  /** Reads and clears the pending error (SO_ERROR). */
  #takeError(s: HostSocket): number {
    const e = s.soError
    s.soError = 0
    this.#changed(s, 0)
    return e
  }

  #datagram(fd: number, family: number, opts: Options): Datagram {
    const d = new Datagram(fd, family, opts)
    d.sock.on('message', (data, info) => {
      if (d.bytes + data.length > d.opts.rcvbuf) return // a full receive buffer drops, as in Linux
      d.queue.push({ data, from: inet(d.family, info.address, info.port) })
      d.bytes += data.length
      this.#changed(d, READ_KEY)
    })
    d.sock.on('error', (err) => {
      d.soError = errnoOf(err)
      this.#changed(d, EPOLLERR)
    })
    return d
  }

  #bindDatagram(d: Datagram, address: string, port: number): Promise<number> {
    return new Promise((done) => {
      const failed = (err: Error): void => done(-errnoOf(err))
      d.sock.once('error', failed)
      try {
        d.sock.bind({ address, port, exclusive: true }, () => {
          d.sock.off('error', failed)
          d.bound = true
          if (d.opts.broadcast) d.sock.setBroadcast(true)
          done(0)
        })
      } catch (err) {
        d.sock.off('error', failed)
        done(-errnoOf(err))
      }
    })
  }

  #connectDatagram(d: Datagram, address: string, port: number): Promise<number> {
    return new Promise((done) => {
      try {
        if (d.peer !== null) d.sock.disconnect()
        d.peer = null
        d.sock.connect(port, address, (err?: Error) => {
          if (err) return done(-errnoOf(err))
          d.bound = true
          d.peer = inet(d.family, address, port)
          done(0)
        })
      } catch (err) {
        done(-errnoOf(err))
      }
    })
  }

  #sendDatagram(d: Datagram, data: Uint8Array, address: string | null, port: number): Promise<number> {
    const copy = Buffer.from(data)
    return new Promise((done) => {
      const sent = (err: Error | null): void => {
        if (!err) d.bound = true
        done(err ? -errnoOf(err) : copy.length)
      }
      try {
        if (address === null) d.sock.send(copy, sent)
        else if (d.peer !== null) done(-errno.EISCONN)
        else d.sock.send(copy, port, address, sent)
      } catch (err) {
        done(-errnoOf(err))
      }
    })
  }

  #recvDatagram(d: Datagram, into: Uint8Array, flags: number): Received | number {
    const first = d.queue[0]
    if (first === undefined) {
      if (d.soError !== 0) return -this.#takeError(d)
      return d.rdShut ? { nbytes: 0, from: null } : -errno.EAGAIN
    }
    const nbytes = Math.min(first.data.length, into.length)
    into.set(first.data.subarray(0, nbytes))
    if ((flags & MSG_PEEK) === 0) {
      d.queue.shift()
      d.bytes -= first.data.length
      this.#changed(d, 0)
    }
    return { nbytes, from: first.from }
  }

  /** Starts a Node server on the address: the port is the socket's from now on. */
  #reserve(s: Stream, address: string, port: number): Promise<number> {
    const server = net.createServer({ allowHalfOpen: true })
    const options = s.family === AF_UNIX
      ? { path: address }
      : { host: address, port, exclusive: true, ipv6Only: s.opts.v6Only }
    return new Promise((done) => {
      const failed = (err: Error): void => done(-errnoOf(err))
      server.once('error', failed)
      server.on('connection', (sock) => this.#incoming(s, sock))
      server.listen(options, () => {
        server.off('error', failed)
        server.on('error', () => {}) // a listening server's later errors reach its connections
        s.server = server
        s.state = 'bound'
        const bound = server.address()
        s.local = typeof bound === 'string' || bound === null
          ? unix(address)
          : inet(s.family, bound.address, bound.port)
        this.#changed(s, 0)
        done(0)
      })
    })
  }

  /** A connection to a listener (reset unless listening, as Linux refuses it). */
  #incoming(listener: Stream, sock: net.Socket): void {
    if (listener.state !== 'listening') {
      reset(sock)
      return
    }
    const conn = new Stream(-1, listener.family, { ...listener.opts, cork: false })
    conn.state = 'connected'
    conn.local = listener.family === AF_UNIX ? listener.local : inet(listener.family, sock.localAddress ?? '', sock.localPort ?? 0)
    conn.peer = listener.family === AF_UNIX ? unix('') : inet(listener.family, sock.remoteAddress ?? '', sock.remotePort ?? 0)
    this.#attach(conn, sock)
    listener.queue.push(conn)
    this.#changed(listener, READ_KEY)
  }

  #connectStream(s: Stream, address: string, port: number): Promise<number> | number {
    const local = s.state === 'bound' && s.family !== AF_UNIX ? s.local : null
    if (s.server !== null) {
      s.server.close()
      s.server = null
    }
    s.state = 'connecting'
    if (s.family === AF_UNIX) {
      s.local = unix('')
      s.peer = unix(address)
    }
    const options: net.NetConnectOpts = s.family === AF_UNIX
      ? { path: address, allowHalfOpen: true }
      : {
          host: address, port, allowHalfOpen: true, autoSelectFamily: false,
          localAddress: local?.host, localPort: local?.port, noDelay: s.opts.noDelay, keepAlive: s.opts.keepAlive,
        }
    const sock = net.connect(options)
    this.#attach(s, sock)
    this.#changed(s, 0)
    if (s.family !== AF_UNIX) return -errno.EINPROGRESS
    // A Unix stream connects (or fails) at once on Linux: answer when Node knows.
    return new Promise((done) => {
      sock.once('connect', () => done(0))
      sock.once('error', () => done(-this.#takeError(s)))
    })
  }

  /** Wires a Node stream to `s`: buffers what arrives and publishes each event. */
  #attach(s: Stream, sock: net.Socket): void {
    s.sock = sock
    if (s.opts.noDelay) sock.setNoDelay(true)
    if (s.opts.keepAlive) sock.setKeepAlive(true)
    sock.on('connect', () => {
      s.state = 'connected'
      if (s.family !== AF_UNIX) {
        s.local = inet(s.family, sock.localAddress ?? '', sock.localPort ?? 0)
        s.peer = inet(s.family, sock.remoteAddress ?? '', sock.remotePort ?? 0)
      }
      this.#changed(s, WAKE_ALL)
    })
    sock.on('data', (chunk: Buffer) => {
      s.chunks.push(chunk)
      s.bytes += chunk.length
      if (s.bytes >= s.opts.rcvbuf) sock.pause()
      this.#changed(s, READ_KEY)
    })
    sock.on('end', () => {
      s.peerFin = true
      this.#changed(s, WAKE_ALL)
    })
    sock.on('error', (err) => {
      // Linux's tcp_reset: refused while connecting, EPIPE once the peer had closed, else the error.
      const e = errnoOf(err)
      s.soError = s.peerFin && (e === errno.ECONNRESET || e === errno.EPIPE) ? errno.EPIPE : e
    })
    sock.on('close', () => {
      if (s.state === 'closed') return
      s.state = 'closed'
      this.#changed(s, WAKE_ALL)
    })
  }

  #sendStream(s: Stream, data: Uint8Array): number {
    if (s.state === 'connecting') return -errno.EAGAIN
    if (s.state === 'closed' || s.wrShut) return s.soError !== 0 ? -this.#takeError(s) : -errno.EPIPE
    if (s.state !== 'connected' || s.sock === null) return -errno.EPIPE
    // Linux's unix_stream_sendmsg: EPIPE at once when the other end is closed or shut for reading.
    if (s.partner !== null && (s.partner.state === 'closed' || s.partner.rdShut)) return -errno.EPIPE
    if (s.blocked) return -errno.EAGAIN
    const room = s.opts.sndbuf - s.sock.writableLength
    const take = Math.min(room, data.length)
    if (take <= 0) {
      s.blocked = true
      this.#changed(s, 0)
      return -errno.EAGAIN
    }
    const sock = s.sock
    sock.write(Buffer.from(data.subarray(0, take)), () => {
      if (!s.blocked || sock !== s.sock || sock.writableLength >= s.opts.sndbuf) return
      s.blocked = false
      this.#changed(s, WRITE_KEY)
    })
    if (sock.writableLength >= s.opts.sndbuf) {
      s.blocked = true
      this.#changed(s, 0)
    }
    return take
  }

  /**
   * Lets a closed stream's Node socket go: reset at once if `abort` (bytes were left unread, as
   * Linux does, or SO_LINGER 0 s), else once what it holds is sent.
   */
  #release(sock: net.Socket, abort: boolean): void {
    sock.removeAllListeners('data')
    sock.on('error', () => {})
    if (sock.destroyed) return
    if (abort) {
      reset(sock)
      return
    }
    if (sock.writableLength === 0) {
      sock.destroy()
      return
    }
    this.#closing.add(sock)
    const timer = setTimeout(() => reset(sock), LINGER_MS)
    sock.once('close', () => {
      clearTimeout(timer)
      this.#closing.delete(sock)
    })
    sock.end(() => sock.destroy())
  }
}

/** Closes a connection with a reset (RST) where it is TCP; a Unix stream just closes. */
function reset(sock: net.Socket): void {
  if (sock.destroyed) return
  try {
    sock.resetAndDestroy()
  } catch {
    sock.destroy() // resetAndDestroy is for TCP handles only
  }
}

function defaultOptions(): Options {
  return {
    reuseAddr: false, keepAlive: false, noDelay: false, cork: false, v6Only: false, broadcast: false,
    rcvbuf: DEFAULT_RCVBUF, sndbuf: DEFAULT_SNDBUF,
  }
}

let pairs = 0

/** A fresh path for `pair`'s listener: a named pipe on Windows, a socket file elsewhere. */
function pairPath(): string {
  const name = `fdpoll-${process.pid}-${threadId}-${pairs++}-${randomBytes(4).toString('hex')}`
  return process.platform === 'win32' ? `\\\\.\\pipe\\${name}` : join(tmpdir(), `${name}.sock`)
}

/** Copies the front of `chunks` into `into` and returns the count; `consume` removes it. */
function copyOut(chunks: Buffer[], into: Uint8Array, consume: boolean): number {
  let n = 0
  let i = 0
  while (n < into.length && i < chunks.length) {
    const chunk = chunks[i]
    const take = Math.min(chunk.length, into.length - n)
    into.set(chunk.subarray(0, take), n)
    n += take
    if (take < chunk.length) {
      if (consume) chunks[i] = chunk.subarray(take)
      break
    }
    i++
  }
  if (consume) chunks.splice(0, i)
  return n
}
