/**
 * Real fds for the tests, and what differs between the platforms and backends the suites run on:
 * which tests run where, how an option reads back, how long loopback data takes to arrive.
 */
import test, { type ExecutionContext } from 'ava'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { AF_UNIX, BlockingIOError, MSG_DONTWAIT, MSG_PEEK, POLLHUP, POLLIN, POLLRDHUP, SOCK_STREAM, Socket, backend, poll, socketpair } from '../src/index.js'
import { LINUX } from './inspect.js'

/** Whether this host has the IPv6 loopback address ::1 (containers often have no IPv6). */
export const IPV6_LOOPBACK = Object.values(os.networkInterfaces()).some((addresses) => addresses?.some((a) => a.address === '::1'))

/**
 * `test` (or `test.serial`) where `runs`, else the same test registered as skipped, with `why`
 * in its title: how a test of one platform's behaviour, or one that needs a missing tool, is left
 * out of a run, so that the run lists it.
 */
export function testIf(runs: boolean, why: string, { serial = false } = {}) {
  const register = serial ? test.serial : test
  const where = WASM ? 'the WebAssembly backend' : process.platform
  return (title: string, impl: (t: ExecutionContext) => void | Promise<void>): void => {
    if (runs) register(title, impl)
    else register.skip(`${title} (skipped on ${where}: ${why})`, impl)
  }
}

/** Whether the suites run on the WebAssembly backend (`npm run test:wasm`: FDPOLL_BACKEND=wasm). */
export const WASM = backend === 'wasm'

/**
 * `test` (or `test.serial`), registered as skipped on the WebAssembly backend with `why`: for a
 * test of a kernel-only fact (an OS pipe or file, /proc, signals, fd numbers the OS gives), which
 * the README's list of the WebAssembly run's skips names.
 */
export function kernelOnly(why: string, options: { serial?: boolean } = {}) {
  return testIf(!WASM, why, options)
}

/**
 * Asserts that a flag option (SO_KEEPALIVE, TCP_NODELAY, ...) set to 1 reads back as set: as 1
 * on Linux; the BSD kernels (macOS, FreeBSD) answer with the option's own flag bit (SO_KEEPALIVE
 * 8, TCP_NODELAY 4), so there as any number but 0.
 */
export function isSet(t: ExecutionContext, value: unknown, message?: string): void {
  if (LINUX) t.is(value, 1, message)
  else t.true(typeof value === 'number' && value !== 0, `${message ?? 'set'}: read back ${String(value)}`)
}

/**
 * Both ends of a pipe, non-blocking; `close()` (or `using`) closes both. On the WebAssembly
 * backend an OS pipe's fd means nothing to the engine, so a socketpair stands in: its readiness
 * is a pipe's for what the tests ask (readable once written, writable, readable at the writer's
 * close). `write`, `read` and the two closes work on either; a test that uses the fds with
 * node:fs directly is a test of the OS pipe.
 */
export interface Pipe extends Disposable {
  readonly r: number
  readonly w: number
  /** Writes `text` to `w`; returns once it can be read at `r` (on the WebAssembly backend, a moment after the send). */
  write(text: string): void
  /** Reads at most `buffer.length` bytes from `r`: how many. */
  read(buffer: Uint8Array): number
  /** Closes `r` only. */
  closeReader(): void
  /** Closes `w` only. */
  closeWriter(): void
  close(): void
}

/** An OS pipe: a FIFO, unlinked as soon as both ends are open. */
function osPipe(): Pipe {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-'))
  const file = path.join(dir, 'fifo')
  execFileSync('mkfifo', [file])
  const r = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const w = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  fs.rmSync(dir, { recursive: true, force: true })
  const open = { r: true, w: true }
  const closeReader = () => {
    if (open.r) fs.closeSync(r)
    open.r = false
  }
  const closeWriter = () => {
    if (open.w) fs.closeSync(w)
    open.w = false
  }
  const close = () => {
    closeReader()
    closeWriter()
  }
  return {
    r,
    w,
    write: (text) => void fs.writeSync(w, text),
    read: (buffer) => fs.readSync(r, buffer),
    closeReader,
    closeWriter,
    close,
    [Symbol.dispose]: close,
  }
}

/** The WebAssembly backend's stand-in for a pipe: a socketpair, `r` reading and `w` writing. */
function socketPipe(): Pipe {
  const [reader, writer] = socketpair()
  reader.setblocking(false)
  writer.setblocking(false)
  const r = reader.fileno()
  const w = writer.fileno()
  const close = () => {
    reader.close()
    writer.close()
  }
  return {
    r,
    w,
    write(text) {
      const queued = pending(reader)
      writer.sendall(Buffer.from(text))
      arrived(reader, queued + Buffer.byteLength(text))
    },
    read: (buffer) => reader.recvInto(buffer),
    closeReader: () => reader.close(),
    closeWriter() {
      writer.close()
      if (!reader.closed) until(() => (pollOnce(r, 0) & POLLHUP) !== 0, "the writer's close to hang the reader up")
    },
    close,
    [Symbol.dispose]: close,
  }
}

/** An anonymous pipe; a socketpair on the WebAssembly backend (see `Pipe`). */
export function pipe(): Pipe {
  return WASM ? socketPipe() : osPipe()
}

/** A cell nobody notifies: `Atomics.wait` on it sleeps. */
const tick = new Int32Array(new SharedArrayBuffer(4))

/**
 * Waits (at most `timeoutMs`, checking every millisecond) until `done()`, else throws naming
 * `what`: for what a kernel has done when a call returns but the WebAssembly backend's host
 * delivers a moment later (loopback data, a peer's close), since it crosses Node's sockets in the
 * host's worker. On a kernel backend the condition holds at once.
 */
export function until(done: () => boolean, what: string, timeoutMs = 5000): void {
  const deadline = Date.now() + timeoutMs
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}`)
    Atomics.wait(tick, 0, 0, 1)
  }
}

/** The bytes waiting to be read on `sock` (peeked: they stay); 0 at end of stream or with none. */
export function pending(sock: Socket): number {
  try {
    return sock.recv(1 << 20, MSG_PEEK | MSG_DONTWAIT).length
  } catch (err) {
    if (err instanceof BlockingIOError) return 0
    throw err
  }
}

/** Waits until `sock` has at least `bytes` bytes to read (see `until`). */
export function arrived(sock: Socket, bytes = 1): void {
  until(() => pending(sock) >= bytes, `${bytes} bytes to arrive at fd ${sock.fileno()}`)
}

/** Waits until `sock`'s peer has closed or shut down writing: POLLRDHUP (see `until`). */
export function peerClosed(sock: Socket | number): void {
  const fd = typeof sock === 'number' ? sock : sock.fileno()
  until(() => (pollOnce(fd, POLLRDHUP) & POLLRDHUP) !== 0, `the peer of fd ${fd} to close`)
}

/** `fd`'s revents for `mask` now. */
function pollOnce(fd: number, mask: number): number {
  const p = poll()
  p.register(fd, mask)
  return p.poll(0)[0]?.[1] ?? 0
}

/** A child process that writes to the socket it was handed (see `writeLater`). */
export interface Writer {
  /** Resolves once the child has exited (or failed to start). */
  readonly exited: Promise<unknown>
  /** Kills the child if it is still running and waits for it to exit. */
  stop(): Promise<void>
}

/**
 * Hands `peer` (one end of a socketpair) to `sh` as its stdout and closes this process's copy:
 * after `seconds` the child writes `text`, keeps the socket open for `hold` seconds more (so the
 * other end sees the data without a hang-up) and exits, so the other end reads EOF. Whatever
 * becomes of the child, its exit closes `peer`, so a blocking wait on the other end always ends.
 */
export function writeLater(peer: Socket, seconds: number, text = '', hold = 10): Writer {
  const script = 'sleep "$1"; printf %s "$2"; exec sleep "$3"'
  const child = spawn('sh', ['-c', script, 'sh', String(seconds), text, String(hold)], {
    stdio: ['ignore', peer.fileno(), 'ignore'],
  })
  peer.close() // spawn returns once the child has exec'd: it holds its own copy by now
  return writerOf(child)
}

/** The Writer of `child`. */
function writerOf(child: ChildProcess): Writer {
  const exited = new Promise<unknown>((resolve) => {
    child.on('exit', resolve)
    child.on('error', resolve)
  })
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL')
    await exited
  }
  return { exited, stop }
}

/**
 * A socket that a child process writes `text` to after `seconds`, holding it open `hold` seconds
 * more before it exits (EOF): `writeLater` on one end of a socketpair. On the WebAssembly
 * backend, whose sockets a child cannot inherit, the child (node) connects to an AF_UNIX listener
 * of this process instead, and the socket is the accepted connection.
 */
export function writtenLater(t: ExecutionContext, seconds: number, text = '', hold = 10): [Socket, Writer] {
  if (!WASM) {
    const [sock, peer] = socketpair()
    t.teardown(() => sock.close())
    return [sock, writeLater(peer, seconds, text, hold)]
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-'))
  const address = path.join(dir, 'sock')
  const listener = new Socket(AF_UNIX, SOCK_STREAM)
  try {
    listener.bind(address)
    listener.listen(1)
    const script = `const [path, seconds, text, hold] = process.argv.slice(1)
const sock = require('node:net').connect(path, () => setTimeout(() => {
  sock.write(text)
  setTimeout(() => process.exit(0), hold * 1000)
}, seconds * 1000))`
    const child = spawn(process.execPath, ['-e', script, address, String(seconds), text, String(hold)], { stdio: 'ignore' })
    const writer = writerOf(child)
    t.teardown(writer.stop)
    until(() => pollOnce(listener.fileno(), POLLIN) !== 0, 'the writer to connect', 10_000)
    const [sock] = listener.accept()
    t.teardown(() => sock.close())
    return [sock, writer]
  } finally {
    listener.close()
    fs.rmSync(dir, { recursive: true, force: true })
  }
}

/** Socketpairs, opened until an fd of the last one is at least `fd` (e.g. past FD_SETSIZE). */
export function socketpairsUpTo(fd: number): [Socket, Socket][] {
  const pairs: [Socket, Socket][] = []
  while (pairs.length === 0 || pairs[pairs.length - 1][1].fileno() < fd) pairs.push(socketpair())
  return pairs
}

/** A connected AF_UNIX socketpair whose two ends the test's teardown closes. */
export function pair(t: ExecutionContext): [Socket, Socket] {
  const [a, b] = socketpair()
  t.teardown(() => {
    a.close()
    b.close()
  })
  return [a, b]
}
