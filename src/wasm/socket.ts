/**
 * The socket functions of the WebAssembly binding: crates/node/src/socket.rs's, same signatures
 * and results, over one socket host (host.ts) started by the first socket. A socket's fd is a
 * virtual fd of the in-memory engine, opened here before the host fills it; the host's readiness
 * changes go to the engine (`vfdNotify`), and the host is the engine's wake source (wait.ts), so
 * an Epoll's blocking poll wakes on them.
 *
 * The host never blocks; a blocking socket does here, as on Linux: accept, recv, recvfrom, send,
 * sendto and connect wait in the host (`wait`, Atomics.wait) until the fd's readiness allows and
 * try again; a stream's send returns once all its bytes are queued, and connect once it has an
 * outcome. O_NONBLOCK is kept here, per fd (SOCK_NONBLOCK at creation, `socketSetBlocking`).
 *
 * The host answers with Linux's errno numbers; the binding speaks the host OS's
 * (`os.constants.errno`, as the WebAssembly build's own functions do): `hostResult` maps them.
 */
import { constants, endianness } from 'node:os'
import { getSystemErrorMap } from 'node:util'
import type * as Binding from '../binding.js'
import { wakeCell } from './doorbell.js'
import { MAX_TRANSFER, SocketHost } from './host.js'
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, GAI_NOT_FOUND, errno as linux } from './linux.js'
import { type WasmHost, useWakeSource } from './wait.js'

type Engine = typeof Binding & WasmHost

/** The socket functions this module adds to the WebAssembly binding. */
export type SocketFunctions = Pick<typeof Binding,
  | 'GAI_NOT_FOUND' | 'EAI_NONAME' | 'gaiMessage' | 'fdClose' | 'socketCreate' | 'socketPair' | 'socketBind'
  | 'socketConnect' | 'socketListen' | 'socketAccept' | 'socketAcceptFd' | 'socketRecv' | 'socketRecvfrom'
  | 'socketSend' | 'socketSendto' | 'socketShutdown' | 'socketName' | 'socketSetBlocking' | 'socketGetBlocking'
  | 'socketSetsockopt' | 'socketGetsockopt' | 'socketSetCork'>

/** The host OS's number for an errno name: Node's table, else libuv's (which names ESOCKTNOSUPPORT, EHOSTDOWN). */
function hostNumber(name: string): number {
  const known = (constants.errno as Record<string, number>)[name]
  if (known !== undefined) return known
  for (const [negative, [uvName]] of getSystemErrorMap()) if (uvName === name) return -negative
  return constants.errno.EIO
}

/** Linux errno → the host OS's. */
const HOST_ERRNO = new Map(Object.entries(linux).map(([name, n]) => [n as number, hostNumber(name)]))

/** A host result (count, value, Linux's -errno or GAI_NOT_FOUND) as the binding returns it. */
export function hostResult(result: number): number {
  if (result >= 0 || result === GAI_NOT_FOUND) return result
  return -(HOST_ERRNO.get(-result) ?? constants.errno.EIO)
}

/** glibc's EAI_NONAME and its message: the WebAssembly backend resolves as Linux does. */
const EAI_NONAME = -2
const EAI_NONAME_MESSAGE = 'Name or service not known'

/** What batch.ts needs of this module: the host, and which fds it may read and write in a batch. */
export interface BatchAccess {
  /** The socket host, once the first socket has started it. */
  host(): SocketHost | null
  /**
   * Whether `fd` is a non-blocking stream socket: its recv and send never wait here and may be
   * short, so one round trip may carry many (a datagram's send is whole or EMSGSIZE).
   */
  batchable(fd: number): boolean
}

/** What this side keeps of a socket. */
interface Fd {
  /** O_NONBLOCK is clear. */
  blocking: boolean
  /** SOCK_STREAM (sends may be split); else SOCK_DGRAM. */
  readonly stream: boolean
  /**
   * SO_LINGER's seconds while it is on, kept here (the host takes int options only): 0 makes
   * the close reset the connection; more is read back, but the close does not wait.
   */
  linger?: number
}

/** Readiness that ends a wait to read (or accept), to write (or connect). */
const READABLE = EPOLLIN | EPOLLERR | EPOLLHUP
const WRITABLE = EPOLLOUT | EPOLLERR | EPOLLHUP

/**
 * The binding's socket functions over `engine` (the WebAssembly binding, its waits blocking);
 * `started(host)` is told when the socket host starts.
 */
export function socketFunctions(engine: Engine, started: (host: SocketHost) => void): SocketFunctions & { batchAccess: BatchAccess } {
  const { vfdOpen, vfdReadiness, vfdNotify, fdClose: closeVfd, SOCK_NONBLOCK, SOCK_STREAM, MSG_DONTWAIT, MSG_NOSIGNAL, MSG_WAITALL } = engine
  const { SOL_SOCKET, SO_ERROR, SO_LINGER, IPPROTO_TCP, TCP_CORK, AF_UNIX } = engine
  const littleEndian = endianness() === 'LE'
  const sockets = new Map<number, Fd>()
  let running: SocketHost | null = null

  /** The socket host, started by the first socket. */
  function host(): SocketHost {
    if (running === null) {
      running = new SocketHost((fd, readiness, key) => vfdNotify(fd, readiness, key), wakeCell.buffer as SharedArrayBuffer)
      useWakeSource(running)
      started(running)
    }
    return running
  }

  /** The host's -errno for an fd that is not one of its sockets: ENOTSOCK for another fd of the engine's. */
  function notSocket(fd: number): number {
    return -(vfdReadiness(fd) >= 0 ? constants.errno.ENOTSOCK : constants.errno.EBADF)
  }

  /** Blocks until `fd`'s readiness has one of `bits` (or the fd is gone). */
  function waitFor(fd: number, bits: number): void {
    let readiness = vfdReadiness(fd)
    while (readiness >= 0 && (readiness & bits) === 0) {
      running!.wait(-1)
      readiness = vfdReadiness(fd)
    }
  }

  /** `call()` until it would not block (a non-blocking socket: once); its result, mapped. */
  function retry(fd: number, bits: number, blocking: boolean, call: () => number): number {
    for (;;) {
      const result = call()
      if (result !== -linux.EAGAIN || !blocking) return hostResult(result)
      waitFor(fd, bits)
    }
  }

  /** Opens a virtual fd and makes it a host socket with `make(fd)`: the fd, or -errno. */
  function open(make: (fd: number) => number, fd: Fd): number {
    const vfd = vfdOpen(0)
    if (vfd < 0) return vfd
    const result = make(vfd)
    if (result < 0) {
      closeVfd(vfd)
      return hostResult(result)
    }
    sockets.set(vfd, fd)
    return vfd
  }

  /** Accepts on `fd` (waiting while it is blocking): the new socket and its peer, or -errno. */
  function accept(fd: number, nonblocking: boolean): Binding.Accepted | number {
    const listener = sockets.get(fd)
    if (listener === undefined) return notSocket(fd)
    for (;;) {
      const conn = vfdOpen(0)
      if (conn < 0) return conn
      const peer = running!.accept(fd, conn)
      if (typeof peer !== 'number') {
        sockets.set(conn, { blocking: !nonblocking, stream: true })
        return { fd: conn, address: peer }
      }
      closeVfd(conn)
      if (peer !== -linux.EAGAIN || !listener.blocking) return hostResult(peer)
      waitFor(fd, READABLE)
    }
  }

  /**
   * `send` of `data` (all of it on a blocking stream, in pieces of MAX_TRANSFER; what the host
   * takes now on a non-blocking one): the count, or -errno if nothing was sent.
   */
  function sendStream(fd: number, blocking: boolean, data: Uint8Array, flags: number): number {
    let sent = 0
    for (;;) {
      const rest = data.subarray(sent)
      const result = running!.send(fd, rest, flags)
      if (result >= 0) {
        sent += result
        if (sent === data.length || (!blocking && result < Math.min(rest.length, MAX_TRANSFER))) return sent
      } else if (result === -linux.EAGAIN && blocking) {
        waitFor(fd, WRITABLE)
      } else {
        return sent > 0 ? sent : hostResult(result)
      }
    }
  }

  /** The flags the host understands (MSG_PEEK, MSG_OOB), and whether MSG_DONTWAIT made this call non-blocking. */
  function split(flags: number): [flags: number, dontWait: boolean] {
    return [flags & ~(MSG_DONTWAIT | MSG_NOSIGNAL | MSG_WAITALL), (flags & MSG_DONTWAIT) !== 0]
  }

  function socketCreate(family: number, ty: number, proto: number): number {
    const h = host()
    return open((fd) => h.socket(fd, family, ty, proto), {
      blocking: (ty & SOCK_NONBLOCK) === 0,
      stream: (ty & ~SOCK_NONBLOCK & ~engine.SOCK_CLOEXEC) === SOCK_STREAM,
    })
  }

  function socketPair(family: number, ty: number, proto: number): number[] | number {
    if (family !== AF_UNIX) return -constants.errno.EOPNOTSUPP // as Linux: only AF_UNIX pairs
    if (proto !== 0) return -constants.errno.EPROTONOSUPPORT
    const h = host()
    const first = vfdOpen(0) // the lower number first, as Linux gives them
    if (first < 0) return first
    const fd = { blocking: (ty & SOCK_NONBLOCK) === 0, stream: true }
    const second = open((vfd) => h.socketpair(first, vfd, ty), fd)
    if (second < 0) {
      closeVfd(first)
      return second
    }
    sockets.set(first, { ...fd })
    return [first, second]
  }

  function socketBind(fd: number, _family: number, address: string, port: number, flowinfo: number, scopeId: number): number {
    if (!sockets.has(fd)) return notSocket(fd)
    return hostResult(running!.bind(fd, address, port, flowinfo, scopeId))
  }

  function socketConnect(fd: number, _family: number, address: string, port: number, flowinfo: number, scopeId: number): number {
    const s = sockets.get(fd)
    if (s === undefined) return notSocket(fd)
    const result = running!.connect(fd, address, port, flowinfo, scopeId)
    if (result !== -linux.EINPROGRESS || !s.blocking) return hostResult(result)
    waitFor(fd, WRITABLE)
    const error = running!.getsockopt(fd, SOL_SOCKET, SO_ERROR)
    return hostResult(error > 0 ? -error : error)
  }

  function socketListen(fd: number, _backlog: number): number {
    return sockets.has(fd) ? hostResult(running!.listen(fd)) : notSocket(fd)
  }

  function socketAccept(fd: number, nonblocking: boolean): Binding.Accepted | number {
    return accept(fd, nonblocking)
  }

  function socketAcceptFd(fd: number): number {
    const accepted = accept(fd, true)
    return typeof accepted === 'number' ? accepted : accepted.fd
  }

  /** `recv`; MSG_WAITALL on a blocking stream goes on until `buf` is full, the stream ends or fails, as Linux's. */
  function socketRecv(fd: number, buf: Uint8Array, flags: number): number {
    const s = sockets.get(fd)
    if (s === undefined) return notSocket(fd)
    const [hostFlags, dontWait] = split(flags)
    const blocking = s.blocking && !dontWait
    const waitAll = blocking && s.stream && (flags & MSG_WAITALL) !== 0
    let total = 0
    do {
      const got = retry(fd, READABLE, blocking, () => running!.recvInto(fd, buf.subarray(total), hostFlags))
      if (got <= 0) return total > 0 ? total : got
      total += got
    } while (waitAll && total < buf.length)
    return total
  }

  function socketRecvfrom(fd: number, buf: Uint8Array, flags: number): Binding.Received | number {
    const s = sockets.get(fd)
    if (s === undefined) return notSocket(fd)
    const [hostFlags, dontWait] = split(flags)
    for (;;) {
      const got = running!.recvfrom(fd, buf, hostFlags)
      if (typeof got !== 'number') {
        // A stream names no sender: the native binding reads Linux's empty address as AF_UNIX ''.
        return { nbytes: got.nbytes, address: got.address ?? { family: AF_UNIX, host: '', port: 0, flowinfo: 0, scopeId: 0 } }
      }
      if (got !== -linux.EAGAIN || !s.blocking || dontWait) return hostResult(got)
      waitFor(fd, READABLE)
    }
  }

  function socketSend(fd: number, buf: Uint8Array, flags: number): number {
    const s = sockets.get(fd)
    if (s === undefined) return notSocket(fd)
    const [hostFlags, dontWait] = split(flags)
    if (s.stream) return sendStream(fd, s.blocking && !dontWait, buf, hostFlags)
    if (buf.length > MAX_TRANSFER) return -constants.errno.EMSGSIZE
    return retry(fd, WRITABLE, s.blocking && !dontWait, () => running!.send(fd, buf, hostFlags))
  }

  function socketSendto(
    fd: number, buf: Uint8Array, flags: number, _family: number, address: string, port: number, flowinfo: number, scopeId: number,
  ): number {
    const s = sockets.get(fd)
    if (s === undefined) return notSocket(fd)
    if (s.stream) return socketSend(fd, buf, flags) // TCP ignores the address
    const [hostFlags, dontWait] = split(flags)
    if (buf.length > MAX_TRANSFER) return -constants.errno.EMSGSIZE
    return retry(fd, WRITABLE, s.blocking && !dontWait, () => running!.sendto(fd, buf, hostFlags, address, port, flowinfo, scopeId))
  }

  function socketShutdown(fd: number, how: number): number {
    return sockets.has(fd) ? hostResult(running!.shutdown(fd, how)) : notSocket(fd)
  }

  function socketName(fd: number, peer: boolean): Binding.SockAddress | number {
    if (!sockets.has(fd)) return notSocket(fd)
    const name = running!.name(fd, peer)
    return typeof name === 'number' ? hostResult(name) : name
  }

  /** O_NONBLOCK of a socket; the engine's other fds (epolls, wakers) never block: 0, and nothing changes. */
  function socketSetBlocking(fd: number, blocking: boolean): number {
    const s = sockets.get(fd)
    if (s !== undefined) s.blocking = blocking
    return s !== undefined || vfdReadiness(fd) >= 0 ? 0 : -constants.errno.EBADF
  }

  function socketGetBlocking(fd: number): number {
    const s = sockets.get(fd)
    if (s !== undefined) return s.blocking ? 1 : 0
    return vfdReadiness(fd) >= 0 ? 0 : -constants.errno.EBADF
  }

  /** An int option, or SO_LINGER, kept here (the host has no struct options: those are ENOPROTOOPT there). */
  function socketSetsockopt(fd: number, level: number, name: number, value: Uint8Array): number {
    const socket = sockets.get(fd)
    if (socket === undefined) return notSocket(fd)
    const linger = level === SOL_SOCKET && name === SO_LINGER
    if (value.length < (linger ? 8 : 4)) return -constants.errno.EINVAL // as Linux for a short option
    const view = new DataView(value.buffer, value.byteOffset, value.length)
    const int = view.getInt32(0, littleEndian)
    if (!linger) return hostResult(running!.setsockopt(fd, level, name, int))
    // Linux keeps l_linger only when l_onoff is set.
    if (int === 0) delete socket.linger
    else socket.linger = Math.max(0, view.getInt32(4, littleEndian))
    return 0
  }

  function socketGetsockopt(fd: number, level: number, name: number, buf: Uint8Array): number {
    const socket = sockets.get(fd)
    if (socket === undefined) return notSocket(fd)
    const linger = level === SOL_SOCKET && name === SO_LINGER
    // An int option, or SO_LINGER's struct linger { l_onoff, l_linger }.
    const ints = linger ? [Number(socket.linger !== undefined), socket.linger ?? 0] : [running!.getsockopt(fd, level, name)]
    if (ints[0] < 0) return hostResult(ints[0])
    const bytes = new Uint8Array(4 * ints.length)
    ints.forEach((int, i) => new DataView(bytes.buffer).setInt32(4 * i, int, littleEndian))
    const length = Math.min(buf.length, bytes.length)
    buf.set(bytes.subarray(0, length))
    return length
  }

  function socketSetCork(fd: number, on: boolean): number {
    if (!sockets.has(fd)) return notSocket(fd)
    return hostResult(running!.setsockopt(fd, IPPROTO_TCP, TCP_CORK, on ? 1 : 0))
  }

  /** Closes the host's socket first (its last readiness reaches the engine), then the engine's fd. */
  function fdClose(fd: number): number {
    const socket = sockets.get(fd)
    if (socket !== undefined) {
      sockets.delete(fd)
      running!.close(fd, socket.linger === 0)
    }
    return closeVfd(fd)
  }

  return {
    GAI_NOT_FOUND, EAI_NONAME, gaiMessage: (code) => (code === EAI_NONAME ? EAI_NONAME_MESSAGE : 'Unknown error'), fdClose,
    socketCreate, socketPair, socketBind, socketConnect, socketListen, socketAccept, socketAcceptFd, socketRecv,
    socketRecvfrom, socketSend, socketSendto, socketShutdown, socketName, socketSetBlocking, socketGetBlocking,
    socketSetsockopt, socketGetsockopt, socketSetCork,
    batchAccess: { host: () => running, batchable: (fd) => sockets.get(fd)?.blocking === false && sockets.get(fd)!.stream },
  }
}
