/** Starting the example servers as child processes in tests, and driving them with real clients on loopback. */
import type { ExecutionContext } from 'ava'
import { type ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import net from 'node:net'
import { promisify } from 'node:util'

import { cpuMs } from './inspect.js'

const run = promisify(execFile)

/** Resolves after `ms` milliseconds. */
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** Rejects with `what` if `promise` has not settled within `ms`. */
export function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves once `check()` is true, or rejects after `ms`. */
export async function until(ms: number, what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`)
    await sleep(20)
  }
}

/** The first stdout line of a TCP example server (echo-upper, echo-selectors, ...); group 1 is the port. */
export const TCP_ADDRESS = /^Serving on tcp:\/\/127\.0\.0\.1:(\d+)$/

/** The first stdout line of an HTTP example server (hello-world, ioloop-hello, ...); group 1 is the port. */
export const HTTP_ADDRESS = /^Serving on http:\/\/127\.0\.0\.1:(\d+)\/$/

/** A running example server, as `start` resolves it. */
export interface Server {
  process: ChildProcess
  port: number
  /** The complete stdout lines so far. */
  lines: () => string[]
  /** Everything the server wrote to stderr so far. */
  stderr: () => string
}

/**
 * Starts `examples/<example>` on a free port (PORT=0, plus `env`) and resolves once its first
 * stdout line matches `address` (TCP_ADDRESS unless given), whose group 1 is the port. The
 * teardown kills it (SIGTERM, then SIGKILL) and waits for it to exit.
 */
export async function start(
  t: ExecutionContext,
  example: string,
  { address = TCP_ADDRESS, env = {} }: { address?: RegExp; env?: Record<string, string> } = {},
): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', `examples/${example}`], {
    env: { ...process.env, PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  })
  const server = await listening(child, example, address)
  t.true(server.port > 0 && server.port < 65536, `port ${server.port}`)
  return server
}

/**
 * Collects the output of server process `child` (named `name` in errors) and resolves once its
 * first stdout line matches `address`, whose group 1 is the port; rejects if that line does not
 * match or the process exits first.
 */
export async function listening(child: ChildProcess, name: string, address: RegExp): Promise<Server> {
  let stdout = ''
  let stderr = ''
  const lines = () => stdout.split('\n').slice(0, -1)
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const port = await within(10_000, `${name} printing its address`, new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      const [first] = lines()
      if (first === undefined) return
      const match = address.exec(first)
      if (match) resolve(Number(match[1]))
      else reject(new Error(`unexpected first line from ${name}: ${first}`))
    })
    child.on('exit', (code, signal) => reject(new Error(`${name} exited (${code ?? signal}) before listening: ${stderr}`)))
  }))
  return { process: child, port, lines, stderr: () => stderr }
}

/** A connected net client. */
export async function connect(port: number): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1')
  await within(5000, 'connect', once(sock, 'connect'))
  return sock
}

/**
 * Checks an upper-casing echo server with `n` clients at once, twice on the same connections.
 * They connect one after the other: the examples listen with a backlog of 5, and a burst of
 * SYNs past it would wait on the kernel's 1 s SYN retry, which tests the kernel, not the server.
 */
export async function concurrentEchoes(t: ExecutionContext, port: number, n: number): Promise<void> {
  const clients: net.Socket[] = []
  t.teardown(() => clients.forEach((c) => c.destroy()))
  for (let i = 0; i < n; i++) clients.push(await connect(port))
  const replies = await Promise.all(clients.map((c, i) => exchange(c, `hello from client ${i}`)))
  t.deepEqual(replies.map(String), clients.map((_, i) => `HELLO FROM CLIENT ${i}`))
  // All n are still open and served: a second round on the same connections.
  const again = await Promise.all(clients.map((c, i) => exchange(c, `again ${i}`)))
  t.deepEqual(again.map(String), clients.map((_, i) => `AGAIN ${i}`))
}

/** Writes `text` and resolves with the reply once as many bytes as were sent have come back. */
export function exchange(sock: net.Socket, text: string | Buffer): Promise<Buffer> {
  const data = Buffer.from(text)
  const chunks: Buffer[] = []
  let got = 0
  return within(5000, `the reply to ${JSON.stringify(String(text).slice(0, 40))}`, new Promise<Buffer>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      got += chunk.length
      if (got < data.length) return
      sock.off('data', onData).off('error', reject)
      resolve(Buffer.concat(chunks))
    }
    sock.on('data', onData).on('error', reject)
    sock.write(data)
  }))
}

/** Sends `text` on a fresh connection, half-closes it, and resolves with everything until EOF. */
export async function echo(port: number, text: string | Buffer): Promise<Buffer> {
  const sock = await connect(port)
  const chunks: Buffer[] = []
  sock.on('data', (c) => chunks.push(c))
  sock.end(text)
  await within(5000, 'the server closing after EOF', once(sock, 'end'))
  sock.destroy()
  return Buffer.concat(chunks)
}

/** Sends the Python bytes literal `payload` from a Python socket client, half-closes, and resolves with its reply until EOF. */
export const python = (port: number, payload: string) => run('python3', ['-c', [
  'import socket, sys',
  `s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)`,
  `s.sendall(${payload})`,
  's.shutdown(socket.SHUT_WR)',
  'data = b""',
  'while chunk := s.recv(1024): data += chunk',
  'sys.stdout.buffer.write(data)',
].join('\n')], { timeout: 10_000, encoding: 'buffer' })

/**
 * Resolves once process `pid` has used no CPU time for `ms` (cpuMs counts 10 ms ticks), or
 * rejects after `limit` ms: a server done with its start and its last client, before an idle
 * measurement.
 */
export async function quietCpu(pid: number, ms = 100, limit = 5000): Promise<void> {
  const end = Date.now() + limit
  let [since, spent] = [Date.now(), cpuMs(pid)]
  while (Date.now() - since < ms) {
    if (Date.now() > end) throw new Error(`timed out after ${limit} ms: process ${pid} never idle for ${ms} ms`)
    await sleep(20)
    const now = cpuMs(pid)
    if (now !== spent) [since, spent] = [Date.now(), now]
  }
}
