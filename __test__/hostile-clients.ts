/**
 * Misbehaving clients for hostile.spec.ts, each bounded in time and count and on loopback only,
 * and what the suite needs around them: the request each kind of example server must answer,
 * and a launcher that keeps one server running across a series of tests, optionally under a low
 * fd limit (`ulimit -n`), which servers.ts's `start` (one server per test) does not offer.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import net from 'node:net'

import { openFds } from './inspect.js'
import { connect, listening, python, within } from './servers.js'

/**
 * How an example server talks: 'http' answers one HTTP request and closes (hello-world,
 * hello-world-edge, ioloop-hello); 'keepalive' answers every request on a kept-alive connection
 * (hello-world-fast); 'echo' sends back what it gets, upper-cased (echo-selectors, echo-upper).
 */
export type Kind = 'http' | 'keepalive' | 'echo'

/** A complete request of each kind. */
export const REQUEST: Record<Kind, string> = {
  http: 'GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n',
  keepalive: 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  echo: 'hello, server\n',
}

/** The start of a request, never complete on its own. */
const PARTIAL: Record<Kind, string> = { http: 'GET / HT', keepalive: 'GET / HT', echo: 'hello, ser' }

/** Whether `reply` is the whole answer to REQUEST[kind]. */
export function answered(kind: Kind, reply: string): boolean {
  if (kind === 'echo') return reply === REQUEST.echo.toUpperCase()
  return reply.startsWith(kind === 'http' ? 'HTTP/1.0 200 OK\r\n' : 'HTTP/1.1 200 OK\r\n') && reply.endsWith('\r\n\r\nHello, world!')
}

/** Ignores a hostile client's own errors (ECONNRESET, EPIPE): what the server does is under test. */
function quiet(sock: net.Socket): net.Socket {
  return sock.on('error', () => {})
}

/** `n` results of `fn(i)`, run at once. */
const all = <T>(n: number, fn: (i: number) => Promise<T>) => Promise.all(Array.from({ length: n }, (_, i) => fn(i)))

/**
 * `n` connections, opened one after the other: the classic examples listen with a backlog of 1
 * or 5, and connections that arrive together past it are left to the kernel (SYN retries after
 * 1 s, SYN cookies, resets when those fail), which is not what these clients test.
 */
async function connectEach(port: number, n: number): Promise<net.Socket[]> {
  const socks: net.Socket[] = []
  for (let i = 0; i < n; i++) socks.push(quiet(await connect(port)))
  return socks
}

/**
 * Resolves once `check()` is true, or rejects after `ms`: servers.ts's `until`, polling every
 * 2 ms, for a server taking a connection (a step repeated hundreds of times per test).
 */
async function soon(ms: number, what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

/** Resolves once `sock` is closed, by either side. */
const closed = (sock: net.Socket) => (sock.closed ? Promise.resolve() : once(sock, 'close').then(() => {}))

/** Resolves with whether `sock` has been closed by the server (EOF or reset) within `ms`. */
async function serverClosed(sock: net.Socket, ms: number): Promise<boolean> {
  if (sock.readableEnded || sock.closed) return true
  let timer: NodeJS.Timeout | undefined
  const ended = new Promise<boolean>((resolve) => {
    sock.once('end', () => resolve(true)).once('close', () => resolve(true))
    timer = setTimeout(() => resolve(false), ms)
  })
  return ended.finally(() => clearTimeout(timer))
}

/**
 * One normal request on its own connection: resolves with the reply once it is complete
 * (`answered`), or rejects after `ms` — the check that the server still serves, promptly.
 */
export async function probe(port: number, kind: Kind, ms = 3000): Promise<string> {
  const sock = quiet(await within(ms, 'connecting the probe', connect(port)))
  try {
    let reply = ''
    sock.setEncoding('latin1')
    return await within(ms, `the reply to a normal ${kind} request`, new Promise<string>((resolve, reject) => {
      sock.on('data', (chunk: string) => {
        reply += chunk
        if (answered(kind, reply)) resolve(reply)
      })
      sock.on('close', () => reject(new Error(`the server closed the probe after ${JSON.stringify(reply)}`)))
      sock.write(REQUEST[kind])
    }))
  } finally {
    sock.destroy()
  }
}

/**
 * `n` clients each send 600 random bytes (half of them with CR LF CR LF inside: a "request") and
 * close at once, before the server has read them: whatever it answers meets a closed socket.
 */
export async function garbage(port: number, n = 20): Promise<void> {
  await all(n, async (i) => {
    const sock = quiet(await connect(port))
    const bytes = randomBytes(600)
    if (i % 2 === 0) bytes.write('\r\n\r\n', 300, 'latin1')
    sock.write(bytes) // a fresh socket's write reaches the kernel at once: the close below sends it, then a FIN
    sock.destroy()
    await closed(sock)
  })
}

/** `n` clients each send a complete request and reset the connection (SO_LINGER 0, then close) right away. */
export async function resetAfterRequest(port: number, kind: Kind, n = 20): Promise<void> {
  await all(n, async () => {
    const sock = quiet(await connect(port))
    sock.write(REQUEST[kind], () => sock.resetAndDestroy())
    await closed(sock)
  })
}

/**
 * `n` clients, one after the other, each send a request and half-close at once (Python's
 * sendall, then shutdown(SHUT_WR): the FIN right behind the request, where a server may read
 * both in one go); resolves with how many got the whole reply, then EOF.
 */
export async function halfClose(port: number, kind: Kind, n = 5): Promise<number> {
  let answers = 0
  for (let i = 0; i < n; i++) {
    const { stdout } = await python(port, `b${JSON.stringify(REQUEST[kind])}`)
    if (answered(kind, stdout.toString('latin1'))) answers++
  }
  return answers
}

/** `n` clients each send part of a request and go: half with a FIN, half with a reset. */
export async function goneMidRequest(port: number, kind: Kind, n = 10): Promise<void> {
  await all(n, async (i) => {
    const sock = quiet(await connect(port))
    sock.write(PARTIAL[kind], () => (i % 2 === 0 ? sock.destroy() : sock.resetAndDestroy()))
    await closed(sock)
  })
}

/**
 * One client sends up to `bytes` of request headers that never end (for 'echo', one line that
 * never ends), reading nothing, for at most `ms`. Resolves with whether the server closed the
 * connection by itself meanwhile (or within a second after); the client then goes.
 */
export async function oversized(port: number, kind: Kind, bytes = 1 << 20, ms = 5000): Promise<boolean> {
  const sock = quiet(await connect(port))
  sock.pause() // reads nothing
  const chunk = Buffer.from((kind === 'echo' ? 'a' : 'X-Padding: ' + 'a'.repeat(1000) + '\r\n').repeat(64))
  const end = Date.now() + ms
  if (kind !== 'echo') sock.write('GET / HTTP/1.0\r\n')
  for (let sent = 0; sent < bytes && !sock.destroyed && Date.now() < end; sent += chunk.length) {
    if (!sock.write(chunk) && !(await drained(sock, end - Date.now()))) break
  }
  const byServer = await serverClosed(sock, 1000)
  sock.destroy()
  return byServer
}

/** Resolves with whether `sock` drained within `ms` (false also once it is closed). */
async function drained(sock: net.Socket, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const result = new Promise<boolean>((resolve) => {
    const done = (value: boolean) => () => {
      sock.off('drain', onDrain).off('close', onClose)
      resolve(value)
    }
    const onDrain = done(true)
    const onClose = done(false)
    sock.once('drain', onDrain).once('close', onClose)
    timer = setTimeout(done(false), Math.max(0, ms))
  })
  return result.finally(() => clearTimeout(timer))
}

/**
 * `n` slowloris clients dribble the start of a request (echo: of a line), one byte every 50 ms
 * (20 bytes, so 1 s at most), while `during()` runs, then go; resolves with what `during()` resolved.
 */
export async function slowloris<T>(port: number, kind: Kind, during: () => Promise<T>, n = 5): Promise<T> {
  const socks = await connectEach(port, n)
  const text = kind === 'echo' ? 'a line, never ending' : 'GET / HTTP/1.0\r\nX-Sl'
  let stop = false
  const dribbles = socks.map(async (sock) => {
    for (let i = 0; i < text.length && !stop && !sock.destroyed; i++) {
      sock.write(text[i])
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  })
  try {
    return await during()
  } finally {
    stop = true
    await Promise.all(dribbles)
    socks.forEach((sock) => sock.destroy())
  }
}

/**
 * `n` clients pipeline requests (echo: lines) without ever reading, until the server stops
 * taking them (no drain within 300 ms), it closes them, 32 MiB each are sent (more than loopback
 * socket buffers hold, both ways), or 3 s pass; then
 * `during()` runs while they are stuck, and they go. Resolves with what `during()` resolved.
 */
export async function pipelineNoRead<T>(port: number, kind: Kind, during: () => Promise<T>, n = 2): Promise<T> {
  const socks = (await connectEach(port, n)).map((sock) => sock.pause())
  const batch = Buffer.from(REQUEST[kind].repeat(Math.ceil(65536 / REQUEST[kind].length)))
  const end = Date.now() + 3000
  await Promise.all(socks.map(async (sock) => {
    for (let sent = 0; sent < 32 << 20 && !sock.destroyed && Date.now() < end; sent += batch.length) {
      if (!sock.write(batch) && !(await drained(sock, Math.min(300, end - Date.now())))) break
    }
  }))
  try {
    return await during()
  } finally {
    socks.forEach((sock) => sock.destroy())
  }
}

/**
 * `n` clients connect at once (a small backlog drops SYNs, which the kernel resends after 1 s,
 * then 3 s: hence the deadline), each sends a request and goes, half with a FIN, half with a
 * reset. Resolves with how many connected.
 */
export async function connectStorm(port: number, kind: Kind, n = 64, ms = 10_000): Promise<number> {
  const connected = await all(n, async (i) => {
    const sock = quiet(net.connect(port, '127.0.0.1'))
    try {
      await within(ms, 'a storm client connecting', once(sock, 'connect'))
    } catch {
      sock.destroy()
      return false
    }
    sock.write(REQUEST[kind], () => (i % 2 === 0 ? sock.destroy() : sock.resetAndDestroy()))
    await closed(sock)
    return true
  })
  return connected.filter(Boolean).length
}

/**
 * `n` clients send urgent (out-of-band) data mid-request, from Python (Node cannot send it): each
 * sends the start of a request, then one byte with MSG_OOB, and holds it there (a byte the
 * kernel flags with EPOLLPRI, and does not count for EPOLLIN) while `during()` runs; then they
 * send the rest and half-close. Not inline (no SO_OOBINLINE), the byte is out of the stream, so
 * each reply up to EOF must be the whole answer to the request without it. Resolves with what
 * `during()` resolved and the replies.
 */
export async function urgentData<T>(port: number, kind: Kind, during: () => Promise<T>, n = 3): Promise<[T, string[]]> {
  const cut = PARTIAL[kind].length
  const client = spawn('python3', ['-c', [
    'import json, socket, sys',
    `first, rest = b${JSON.stringify(REQUEST[kind].slice(0, cut))}, b${JSON.stringify(REQUEST[kind].slice(cut))}`,
    `socks = [socket.create_connection(("127.0.0.1", ${port}), timeout=5) for _ in range(${n})]`,
    'for s in socks:',
    '    s.sendall(first)',
    '    s.send(b"!", socket.MSG_OOB)',
    'print("held", flush=True)',
    'sys.stdin.readline()',
    'for s in socks:',
    '    s.sendall(rest)',
    '    s.shutdown(socket.SHUT_WR)',
    '    data = b""',
    '    while chunk := s.recv(1024): data += chunk',
    '    print(json.dumps(data.decode("latin1")))',
  ].join('\n')], { stdio: ['pipe', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  client.stdout!.setEncoding('utf8').on('data', (chunk: string) => { out += chunk })
  client.stderr!.setEncoding('utf8').on('data', (chunk: string) => { err += chunk })
  const exited = once(client, 'exit')
  try {
    await within(5000, 'the urgent-data clients holding their bytes', new Promise<void>((resolve, reject) => {
      client.stdout!.on('data', () => out.startsWith('held\n') && resolve())
      void exited.then(() => reject(new Error(`python3 exited before holding: ${err}`)), reject)
    }))
    const result = await during()
    client.stdin!.end('go\n')
    const [code] = await within(10_000, 'the urgent-data clients getting their replies', exited)
    if (code !== 0) throw new Error(`python3 exited with ${code}: ${err}`)
    return [result, out.trim().split('\n').slice(1).map((line) => JSON.parse(line) as string)]
  } finally {
    client.kill()
  }
}

/**
 * `n` clients connect and go without sending a byte: half half-close (a FIN) and wait for the
 * server to close too, half reset (RST). Resolves with how many of the half-closing clients the
 * server closed within `ms`.
 */
export async function silentHangUp(port: number, n = 10, ms = 3000): Promise<number> {
  const closedByServer = await all(n, async (i) => {
    const sock = quiet(await connect(port))
    if (i % 2 === 1) {
      sock.resetAndDestroy()
      await closed(sock)
      return false
    }
    sock.end()
    const byServer = await serverClosed(sock, ms)
    sock.destroy()
    return byServer
  })
  return closedByServer.filter(Boolean).length
}

/**
 * Opens `n` connections one after the other and holds them idle (no byte sent) until server `pid`
 * holds a socket for each (`sockets` before them, the baseline), then runs `during()` while they
 * are held, and drops them. Resolves with what `during()` resolved.
 */
export async function idleCrowd<T>(port: number, pid: number, sockets: number, during: () => Promise<T>, n = 200): Promise<T> {
  const socks: net.Socket[] = []
  try {
    // Each once the server has taken the one before: a backlog of 1 would drop the next SYN.
    for (let i = 0; i < n; i++) {
      socks.push(quiet(await connect(port)))
      await soon(3000, `the server accepting idle connection ${i + 1}`, () => countFds(pid).sockets >= sockets + i + 1)
    }
    return await during()
  } finally {
    socks.forEach((sock) => sock.destroy())
  }
}

/**
 * One client sends a request one byte at a time (TCP_NODELAY, a write every 2 ms: a segment per
 * byte), then half-closes; resolves with the reply up to the server's EOF.
 */
export async function trickle(port: number, kind: Kind): Promise<string> {
  const sock = quiet(await connect(port)).setNoDelay(true).setEncoding('latin1')
  let reply = ''
  sock.on('data', (chunk: string) => { reply += chunk })
  try {
    for (const byte of REQUEST[kind]) {
      sock.write(byte)
      await new Promise((resolve) => setTimeout(resolve, 2))
    }
    sock.end()
    await within(5000, 'the server closing after the request and EOF', closed(sock))
    return reply
  } finally {
    sock.destroy()
  }
}

/**
 * Opens up to `n` connections to server `pid`, each once the server has taken the one before
 * (it holds one fd more) or turned it away (it ended it), and holds them, reading nothing: more
 * than a server under a low fd limit has fds for. It stops early when the server does neither
 * within `ms` (it left the connection waiting). Returns them all.
 */
export async function exhaust(port: number, pid: number, n: number, ms = 1000): Promise<net.Socket[]> {
  const socks: net.Socket[] = []
  for (let i = 0; i < n; i++) {
    const before = countFds(pid).total
    const sock = quiet(net.connect(port, '127.0.0.1')).resume()
    socks.push(sock)
    try {
      await soon(ms, 'the server taking or turning away a connection', () => sock.readableEnded || countFds(pid).total > before)
    } catch {
      break
    }
  }
  return socks
}

/**
 * Opens a connection every `every` ms for `ms` ms (a load that keeps coming), reading nothing,
 * and resolves with them all once the time is up.
 */
export async function knock(port: number, every = 20, ms = 1000): Promise<net.Socket[]> {
  const socks: net.Socket[] = []
  const timer = setInterval(() => socks.push(quiet(net.connect(port, '127.0.0.1')).resume()), every)
  await new Promise((resolve) => setTimeout(resolve, ms))
  clearInterval(timer)
  return socks
}

/** A count of a process's fds: its sockets other than stdio, and all of them. */
export interface FdCount {
  sockets: number
  total: number
}

/**
 * The fds `pid` has open (inspect.ts's `openFds`): its sockets, less stdio (which Node's spawn
 * makes socketpairs), so its listening and connected sockets; and all of them.
 */
export function countFds(pid: number): FdCount {
  const fds = openFds(pid)
  return { sockets: [...fds].filter(([fd, kind]) => fd > 2 && kind === 'socket').length, total: fds.size }
}

/** An example server started by `launch`, kept across tests. */
export interface Launched {
  readonly process: ChildProcess
  readonly port: number
  /** The complete stdout lines so far. */
  lines(): string[]
  /** Everything it wrote to stderr so far. */
  stderr(): string
  /** Whether it is still running. */
  alive(): boolean
  /** Kills it (SIGTERM, then SIGKILL after 2 s) and waits for it to exit. */
  stop(): Promise<void>
}

/**
 * Starts `file` (a path from the repository root) with `node --import tsx` on a free port, under
 * `ulimit -n nofile` when given (through sh, which execs node: the pid is the server's), and
 * resolves once its first stdout line matches `address` (group 1: the port).
 */
export async function launch(file: string, address: RegExp, { nofile }: { nofile?: number } = {}): Promise<Launched> {
  const node = [process.execPath, '--import', 'tsx', file]
  const [command, args] = nofile === undefined
    ? [node[0], node.slice(1)]
    : ['sh', ['-c', 'ulimit -n "$0" && exec "$@"', String(nofile), ...node]]
  const child = spawn(command, args, { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'pipe'] })
  const alive = () => child.exitCode === null && child.signalCode === null
  const exited = once(child, 'exit')
  const stop = async () => {
    if (!alive()) return
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  }
  try {
    return { ...(await listening(child, file, address)), alive, stop }
  } catch (e) {
    await stop()
    throw e
  }
}
