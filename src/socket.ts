/**
 * `Socket`: Python's `socket.socket` on an fd that fdpoll owns. Blocking unless
 * `setblocking(false)`; a non-blocking call that would wait throws BlockingIOError (EAGAIN,
 * or EINPROGRESS for connect), exactly as in Python. Sends never raise SIGPIPE.
 */
import binding = require('./native.js')
import { cInt, fileno as toFd, integer } from './args.js'
import {
  AF_INET, AF_INET6, AF_UNIX, SO_DOMAIN, SO_PROTOCOL, SO_REUSEADDR, SO_REUSEPORT, SO_TYPE,
  SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET,
} from './constants.js'
import { OSError, errno, hostNotFound, osError } from './errors.js'
import { own, release } from './owner.js'
import { holdSpare, refuseAll } from './spare.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const {
  GAI_NOT_FOUND, fdClose, socketAccept, socketBind, socketConnect, socketCreate, socketGetBlocking,
  socketGetsockopt, socketListen, socketName, socketPair, socketRecv, socketRecvfrom, socketSend,
  socketSendto, socketSetBlocking, socketSetsockopt, socketShutdown,
} = binding
type SockAddress = binding.SockAddress

/** `[host, port]` (AF_INET), `[host, port, flowinfo?, scopeId?]` (AF_INET6) or a path (AF_UNIX). */
export type Address = [host: string, port: number, flowinfo?: number, scopeId?: number] | string

/** Python's default `listen()` backlog: min(SOMAXCONN, 128). */
const DEFAULT_BACKLOG = 128
const intOption = new Int32Array(1)
const intOptionBytes = Buffer.from(intOption.buffer)

/** Throws the OSError (or gaierror) for a negative native result; returns it otherwise. */
export function check(ret: number, syscall: string): number {
  if (ret >= 0) return ret
  if (ret === GAI_NOT_FOUND) throw hostNotFound(syscall)
  throw osError(-ret, syscall)
}

/** `setsockopt` of an int (or boolean) option on a raw fd. */
export function setIntOption(fd: number, level: number, name: number, value: number | boolean): void {
  intOption[0] = Number(value)
  check(socketSetsockopt(fd, level, name, intOptionBytes), 'setsockopt')
}

/** `getsockopt` of an int option on a raw fd. */
export function getIntOption(fd: number, level: number, name: number): number {
  check(socketGetsockopt(fd, level, name, intOptionBytes), 'getsockopt')
  return intOption[0]
}

/** What `detach()` calls first: how the IOLoop waiting on a socket learns that it goes. */
type DetachHook = (sock: Socket) => void
/** Socket's #detachHook, read and set (assigned in the class's static block). */
let hookOf: (sock: Socket) => DetachHook | undefined
let setHook: (sock: Socket, hook: DetachHook | undefined) => void

/** The fd `accept` or `socketpair` is wrapping: a socket for sure, which the constructor need not check. */
let made = -1

/** A socket that owns its fd (Python's `socket.socket`). */
export class Socket implements Disposable {
  /** AF_INET, AF_INET6 or AF_UNIX. */
  readonly family: number
  /** SOCK_STREAM or SOCK_DGRAM (without SOCK_NONBLOCK / SOCK_CLOEXEC). */
  readonly type: number
  /** The protocol, usually 0. */
  readonly proto: number
  #fd: number
  /** O_NONBLOCK as last set or read, so that a loop's check per operation costs no fcntl (Python caches it too). */
  #blocking: boolean | undefined
  /** What `detach()` (and so `close()`) calls first: the IOLoop waiting on it (see setDetachHook). A field, not a WeakMap entry: 8 bytes, not 40. */
  #detachHook: DetachHook | undefined

  static {
    hookOf = (sock) => sock.#detachHook
    setHook = (sock, hook) => (sock.#detachHook = hook)
  }

  /**
   * Creates a socket (defaults AF_INET, SOCK_STREAM, 0), or wraps `fileno`, an existing socket
   * fd that the new object then owns; -1 arguments are then read from the fd, as in Python
   * (where the platform has no SO_DOMAIN or SO_PROTOCOL, as on macOS: the family from the fd's
   * address, the protocol 0). An fd that is not an open socket is an OSError (EBADF, ENOTSOCK).
   */
  constructor(family = -1, type = -1, proto = -1, fileno: number | null = null) {
    if (fileno === null) {
      family = cInt(family, 'family') === -1 ? AF_INET : family
      type = cInt(type, 'type') === -1 ? SOCK_STREAM : type
      proto = cInt(proto, 'proto') === -1 ? 0 : proto
      this.#fd = check(socketCreate(family, type, proto), 'socket')
    } else {
      this.#fd = toFd(fileno)
      const known = this.#fd === made
      made = -1
      if (cInt(family, 'family') === -1) {
        family = SO_DOMAIN >= 0 ? getIntOption(this.#fd, SOL_SOCKET, SO_DOMAIN) : this.nativeName(false).family
      }
      if (cInt(type, 'type') === -1) type = getIntOption(this.#fd, SOL_SOCKET, SO_TYPE)
      else if (!known) getIntOption(this.#fd, SOL_SOCKET, SO_TYPE) // checks that it is a socket, as Python does
      if (cInt(proto, 'proto') === -1) proto = SO_PROTOCOL >= 0 ? getIntOption(this.#fd, SOL_SOCKET, SO_PROTOCOL) : 0
    }
    this.family = family
    this.type = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
    this.proto = proto
    own(this, this.#fd)
  }

  /** The fd, or -1 once closed or detached (Python returns -1 too). */
  fileno(): number {
    return this.#fd
  }

  /** True once closed or detached. */
  get closed(): boolean {
    return this.#fd < 0
  }

  /** Sets O_NONBLOCK (`false`) or clears it (`true`). */
  setblocking(flag: boolean): void {
    check(socketSetBlocking(this.openFd(), Boolean(flag)), 'fcntl')
    this.#blocking = Boolean(flag)
  }

  /** True unless the socket is non-blocking (read from the fd once, then as `setblocking` sets it). */
  getblocking(): boolean {
    const fd = this.openFd()
    this.#blocking ??= check(socketGetBlocking(fd), 'fcntl') === 1
    return this.#blocking
  }

  /** Binds to `address` ('' is the wildcard host; host names are resolved). */
  bind(address: Address): void {
    this.withAddress(address, 'bind', socketBind)
  }

  /**
   * Listens with `backlog` pending connections (default 128, as Python). The first listen also
   * sets aside the spare fd that `accept` needs once the process is out of fds.
   */
  listen(backlog = DEFAULT_BACKLOG): void {
    check(socketListen(this.openFd(), Math.max(0, cInt(backlog, 'backlog'))), 'listen')
    holdSpare()
  }

  /**
   * Accepts a connection: `[conn, address]`; the new socket is blocking, as in Python. Out of
   * fds (EMFILE, ENFILE), it first closes every pending connection (through a spare fd), so that
   * the listener does not stay ready while no fd is free, then throws: a server catches the
   * OSError, as it does ECONNABORTED, and goes on.
   */
  accept(): [Socket, Address] {
    const fd = this.openFd()
    const accepted = socketAccept(fd, false)
    if (typeof accepted === 'number') throw osError(-refuseAll(fd, accepted), 'accept')
    made = accepted.fd
    return [new Socket(this.family, this.type, this.proto, accepted.fd), fromNative(accepted.address)]
  }

  /** Connects; non-blocking sockets throw BlockingIOError (EINPROGRESS) while connecting. */
  connect(address: Address): void {
    this.withAddress(address, 'connect', socketConnect)
  }

  /** Like `connect`, but returns the errno (0 on success) instead of throwing an OSError. */
  connectEx(address: Address): number {
    try {
      this.connect(address)
      return 0
    } catch (e) {
      if (e instanceof OSError && e.errno > 0) return e.errno
      throw e
    }
  }

  /** Receives up to `bufsize` bytes: a Buffer, empty at end of stream. */
  recv(bufsize: number, flags = 0): Buffer {
    const buf = Buffer.allocUnsafe(nonNegative(bufsize, 'bufsize'))
    return buf.subarray(0, this.recvInto(buf, 0, flags))
  }

  /** Receives into `buffer` (up to `nbytes`, 0 = its length): the byte count, 0 at end of stream. */
  recvInto(buffer: Uint8Array, nbytes = 0, flags = 0): number {
    const fd = this.openFd()
    const target = nbytes === 0 ? bytes(buffer) : bytes(buffer).subarray(0, nonNegative(nbytes, 'nbytes'))
    if (target.length < nbytes) throw new RangeError('nbytes is greater than the length of the buffer')
    return check(socketRecv(fd, target, cInt(flags, 'flags')), 'recv')
  }

  /** Receives a datagram: `[data, sender]`. */
  recvfrom(bufsize: number, flags = 0): [Buffer, Address] {
    const buf = Buffer.allocUnsafe(nonNegative(bufsize, 'bufsize'))
    const got = socketRecvfrom(this.openFd(), buf, cInt(flags, 'flags'))
    if (typeof got === 'number') throw osError(-got, 'recvfrom')
    return [buf.subarray(0, got.nbytes), fromNative(got.address)]
  }

  /** Sends what the kernel takes of `data` now: the byte count. */
  send(data: Uint8Array, flags = 0): number {
    return check(socketSend(this.openFd(), bytes(data), cInt(flags, 'flags')), 'send')
  }

  /** Sends all of `data`, looping over partial sends (a non-blocking socket may throw EAGAIN). */
  sendall(data: Uint8Array, flags = 0): void {
    let rest = bytes(data)
    while (rest.length > 0) rest = rest.subarray(this.send(rest, flags))
  }

  /** Sends a datagram to `address`: `sendto(data, address)` or `sendto(data, flags, address)`. */
  sendto(data: Uint8Array, flagsOrAddress: number | Address, address?: Address): number {
    const [flags, to] = address === undefined ? [0, flagsOrAddress as Address] : [flagsOrAddress as number, address]
    const fd = this.openFd()
    const [host, port, flowinfo, scopeId] = toNative(this.family, to)
    return check(socketSendto(fd, bytes(data), cInt(flags, 'flags'), this.family, host, port, flowinfo, scopeId), 'sendto')
  }

  /** Shuts down reading (SHUT_RD), writing (SHUT_WR) or both (SHUT_RDWR). */
  shutdown(how: number): void {
    check(socketShutdown(this.openFd(), cInt(how, 'how')), 'shutdown')
  }

  /** The local address. */
  getsockname(): Address {
    return this.nameOf(false)
  }

  /** The peer's address. */
  getpeername(): Address {
    return this.nameOf(true)
  }

  /** Sets an option: an int (or boolean) value, or raw bytes for struct options. */
  setsockopt(level: number, optname: number, value: number | boolean | Uint8Array): void {
    const fd = this.openFd()
    cInt(level, 'level')
    cInt(optname, 'optname')
    if (value instanceof Uint8Array) check(socketSetsockopt(fd, level, optname, value), 'setsockopt')
    else if (typeof value === 'number') setIntOption(fd, level, optname, cInt(value, 'value'))
    else if (typeof value === 'boolean') setIntOption(fd, level, optname, value)
    else throw new TypeError('setsockopt value must be a number, a boolean or a Uint8Array')
  }

  /** Reads an option: an int, or with `buflen` the raw bytes (Python's getsockopt). */
  getsockopt(level: number, optname: number, buflen?: number): number | Buffer {
    const fd = this.openFd()
    cInt(level, 'level')
    cInt(optname, 'optname')
    if (buflen === undefined) return getIntOption(fd, level, optname)
    if (nonNegative(buflen, 'buflen') > 1024) throw new RangeError(`getsockopt buflen out of range: ${buflen}`) // as Python
    const buf = Buffer.alloc(buflen)
    return buf.subarray(0, check(socketGetsockopt(fd, level, optname, buf), 'getsockopt'))
  }

  /** Gives up the fd without closing it and returns it. */
  detach(): number {
    const hook = this.#detachHook
    if (hook !== undefined) {
      this.#detachHook = undefined
      hook(this) // while the fd is still open
    }
    const fd = this.#fd
    this.#fd = -1
    release(this)
    return fd
  }

  /** Closes the socket. Idempotent; ECONNRESET is ignored, as in Python. */
  close(): void {
    if (this.#fd < 0) return
    const ret = fdClose(this.detach())
    if (ret < 0 && ret !== -errno.ECONNRESET) throw osError(-ret, 'close')
  }

  /** Closes, so `using sock = new Socket()` works like Python's `with socket.socket() as sock`. */
  [Symbol.dispose](): void {
    this.close()
  }

  // The helpers below are TypeScript-private, not #private: a class with #methods gives each
  // instance a slot for its brand (8 bytes per socket).

  private openFd(): number {
    if (this.#fd < 0) throw osError(errno.EBADF, 'socket') // as Python raises on a closed socket
    return this.#fd
  }

  private nameOf(peer: boolean): Address {
    return fromNative(this.nativeName(peer))
  }

  private nativeName(peer: boolean): SockAddress {
    const name = socketName(this.openFd(), peer)
    if (typeof name === 'number') throw osError(-name, peer ? 'getpeername' : 'getsockname')
    return name
  }

  private withAddress(
    address: Address,
    syscall: string,
    call: (fd: number, family: number, host: string, port: number, flowinfo: number, scopeId: number) => number,
  ): void {
    const fd = this.openFd()
    const [host, port, flowinfo, scopeId] = toNative(this.family, address)
    check(call(fd, this.family, host, port, flowinfo, scopeId), syscall)
  }
}

/**
 * Makes `sock.detach()` and `sock.close()` call `hook(sock)` first, once, while the fd is still
 * open (undefined removes it). One hook per socket: the IOLoop that waits on it.
 */
export function setDetachHook(sock: Socket, hook: DetachHook | undefined): void {
  setHook(sock, hook)
}

/** The hook `setDetachHook` set on `sock`, if any. */
export function detachHook(sock: Socket): DetachHook | undefined {
  return hookOf(sock)
}

/** A connected pair of sockets (default AF_UNIX, SOCK_STREAM), Python's `socket.socketpair`. */
export function socketpair(family = AF_UNIX, type = SOCK_STREAM, proto = 0): [Socket, Socket] {
  const fds = socketPair(cInt(family, 'family'), cInt(type, 'type'), cInt(proto, 'proto'))
  if (typeof fds === 'number') throw osError(-fds, 'socketpair')
  made = fds[0]
  const first = new Socket(family, type, proto, fds[0])
  made = fds[1]
  return [first, new Socket(family, type, proto, fds[1])]
}

/** Options of `createServer`. */
export interface ServerOptions {
  /** AF_INET (default) or AF_INET6. */
  family?: number
  /** `listen` backlog (default 128). */
  backlog?: number | null
  /** Set SO_REUSEPORT, so several processes can serve the port. */
  reusePort?: boolean
}

/** A listening TCP socket bound to `address`, with SO_REUSEADDR (Python's `socket.create_server`). */
export function createServer(address: Address, { family = AF_INET, backlog = null, reusePort = false }: ServerOptions = {}): Socket {
  const sock = new Socket(family, SOCK_STREAM)
  try {
    sock.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
    if (reusePort) sock.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
    sock.bind(address)
    sock.listen(backlog ?? DEFAULT_BACKLOG)
    return sock
  } catch (e) {
    sock.close()
    throw e
  }
}

/** A TCP socket connected to `[host, port]` (Python's `socket.create_connection`), blocking. */
export function createConnection(address: [host: string, port: number], family = AF_INET): Socket {
  const sock = new Socket(family, SOCK_STREAM)
  try {
    sock.connect(address)
    return sock
  } catch (e) {
    sock.close()
    throw e
  }
}

function toNative(family: number, address: Address): [string, number, number, number] {
  if (family === AF_UNIX) {
    if (typeof address !== 'string') throw new TypeError('an AF_UNIX address must be a path string')
    return [address, 0, 0, 0]
  }
  if (!Array.isArray(address) || typeof address[0] !== 'string' || address.length < 2) {
    throw new TypeError(`an ${family === AF_INET6 ? 'AF_INET6' : 'AF_INET'} address must be [host, port${family === AF_INET6 ? ', flowinfo?, scopeId?' : ''}]`)
  }
  if (family === AF_INET && address.length !== 2) throw new TypeError('an AF_INET address must be [host, port]')
  const [host, port, flowinfo = 0, scopeId = 0] = address
  if (integer(port, 'port') < 0 || port > 65535) throw new RangeError(`port must be 0-65535, got ${port}`)
  if (integer(flowinfo, 'flowinfo') < 0 || flowinfo > 0xfffff) throw new RangeError('flowinfo must be 0-1048575')
  if (integer(scopeId, 'scopeId') < 0 || scopeId > 2 ** 32 - 1) throw new RangeError('scopeId must fit in 32 bits')
  return [host, port, flowinfo, scopeId]
}

function fromNative(a: SockAddress): Address {
  if (a.family === AF_INET) return [a.host, a.port]
  if (a.family === AF_INET6) return [a.host, a.port, a.flowinfo, a.scopeId]
  return a.host
}

function bytes(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data
  throw new TypeError('data must be a Buffer or Uint8Array (use Buffer.from(text) for a string)')
}

function nonNegative(value: unknown, name: string): number {
  if (integer(value, name) < 0) throw new RangeError(`negative ${name}: ${value}`)
  return value as number
}
