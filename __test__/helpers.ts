/**
 * Real fds for the tests (FIFOs stand in for pipes until there is a socket API), and what differs
 * between the platforms the suites run on: which tests run where, and how an option reads back.
 */
import test, { type ExecutionContext } from 'ava'
import { execFileSync, spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { Socket, backend, socketpair } from '../src/index.js'
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

/** Both ends of a pipe, non-blocking; `close()` (or `using`) closes both. */
export interface Pipe extends Disposable {
  readonly r: number
  readonly w: number
  close(): void
}

/** A pipe whose FIFO stays at `path` until `close()`, so that a child process can open it. */
export function fifo(): Pipe & { readonly path: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-'))
  const file = path.join(dir, 'fifo')
  execFileSync('mkfifo', [file])
  const r = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
  const w = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
  const close = () => {
    fs.closeSync(r)
    fs.closeSync(w)
    fs.rmSync(dir, { recursive: true, force: true })
  }
  return { path: file, r, w, close, [Symbol.dispose]: close }
}

/** An anonymous pipe: a FIFO unlinked as soon as both ends are open. */
export function pipe(): Pipe {
  const p = fifo()
  fs.rmSync(path.dirname(p.path), { recursive: true })
  return p
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
