/**
 * The example servers, each started as its own process and driven by real clients: Node's
 * http and net, curl, Python's socket module and a short bounded wrk run on loopback.
 */
import test, { type ExecutionContext } from 'ava'
import { type ChildProcess, execFile, execFileSync, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { promisify } from 'node:util'

import { BlockingIOError, EPOLLIN, EPOLLOUT, Epoll, SOL_SOCKET, SO_RCVBUF, Socket } from '../src/index.js'
import { WASM, kernelOnly, testIf } from './helpers.js'
import { LINUX, cpuMs, isAlive, openFds } from './inspect.js'
import { countFds } from './hostile-clients.js'
import { HTTP_ADDRESS, quietCpu, sleep, start, until } from './servers.js'

const run = promisify(execFile)
const EXPECTED =
  'HTTP/1.0 200 OK\r\nDate: Mon, 1 Jan 1996 01:01:01 GMT\r\n' +
  'Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!'
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
/*
 * The tests that need a tool are registered as skipped where it is missing. They run serially,
 * before the concurrent ones: each starts a server of its own, and a burst of them all at once
 * would not start within its 10 s on a busy machine.
 */
/** Registers a test that drives the examples with curl. */
const withCurl = testIf(has('curl'), 'curl is not installed', { serial: true })
/** Registers a test that loads the examples with wrk (.ci/run installs it). */
const withWrk = testIf(has('wrk'), 'wrk is not installed', { serial: true })

/** Sends `request` over a raw TCP connection and resolves with everything the server sends. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const sock = net.connect(port, '127.0.0.1', () => sock.end(request))
    sock.on('data', (c) => chunks.push(c))
      .on('end', () => resolve(Buffer.concat(chunks).toString()))
      .on('error', reject)
  })
}

for (const example of ['hello-world.ts', 'hello-world-edge.ts']) {
  test(`${example}: the reference bytes to Node's http, raw net and Python clients`, async (t) => {
    const { port } = await start(t, example, { address: HTTP_ADDRESS })
    t.is(await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n'), EXPECTED)
    t.is(await rawRequest(port, 'GET / HTTP/1.0\n\n'), EXPECTED, 'EOL1 (bare newlines) ends a request too')
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/`, (res) => {
        t.is(res.statusCode, 200)
        let text = ''
        res.on('data', (c) => (text += c)).on('end', () => resolve(text))
      }).on('error', reject)
    })
    t.is(body, 'Hello, world!')
    const python = await run('python3', ['-c', [
      'import socket, sys',
      `s = socket.create_connection(("127.0.0.1", ${port}))`,
      's.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")',
      'data = b""',
      'while chunk := s.recv(1024): data += chunk',
      'sys.stdout.write(data.decode())',
    ].join('\n')], { timeout: 10_000 })
    t.is(python.stdout, EXPECTED)
  })

  withCurl(`${example}: the reference bytes to curl`, async (t) => {
    const { port } = await start(t, example, { address: HTTP_ADDRESS })
    const curl = await run('curl', ['-s', '-i', '--max-time', '5', `http://127.0.0.1:${port}/`])
    t.is(curl.stdout, EXPECTED)
  })

  test(`${example}: a client that hangs up early does not stop or spin the server`, async (t) => {
    const { process: server, port } = await start(t, example, { address: HTTP_ADDRESS })
    const { sockets } = countFds(server.pid!) // as it starts listening, before any client
    const early = net.connect(port, '127.0.0.1', () => early.end('GET / HT')) // half a request, then EOF
    await once(early, 'finish')
    await until(3000, 'the server closing the early connection', () => countFds(server.pid!).sockets === sockets)
    await quietCpu(server.pid!) // never true of a server that spins
    const before = cpuMs(server.pid!)
    await sleep(500)
    const spent = cpuMs(server.pid!) - before
    t.true(spent < 150, `the server burned ${spent} ms of CPU in 0.5 s idle: it spins`)
    t.is(await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n'), EXPECTED)
  })

  withWrk(`${example}: a bounded wrk run on loopback sees no errors`, async (t) => {
    const { port } = await start(t, example, { address: HTTP_ADDRESS })
    const wrk = await run('wrk', ['-t1', '-c16', '-d2s', '--timeout', '2s', `http://127.0.0.1:${port}/`], { timeout: 20_000 })
    t.log(wrk.stdout.trim().split('\n').filter((l) => /Requests\/sec|errors/.test(l)).join(' | '))
    const requests = Number(/(\d+) requests in/.exec(wrk.stdout)?.[1] ?? 0)
    t.true(requests > 100, wrk.stdout)
    t.notRegex(wrk.stdout, /Socket errors|Non-2xx/, wrk.stdout)
  })
}

test('npm start runs the hello-world server and prints its URL', async (t) => {
  const server = spawn('npm', ['start', '--silent'], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  t.teardown(() => process.kill(-server.pid!))
  const [line] = await once(server.stdout!, 'data')
  const port = Number(/127\.0\.0\.1:(\d+)\//.exec(String(line))?.[1])
  t.true(port > 0, String(line))
  t.is(await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n'), EXPECTED)
})

const FAST_RESPONSE = 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, world!'
const GET = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'

/** A keep-alive connection: `ask(data, responses)` writes and resolves once `responses` arrived. */
async function keepAlive(port: number) {
  const sock = net.connect(port, '127.0.0.1')
  await once(sock, 'connect')
  let received = ''
  sock.on('data', (c) => (received += c))
  return {
    sock,
    async ask(data: string, responses: number): Promise<string> {
      received = ''
      sock.write(data)
      while (received.length < responses * FAST_RESPONSE.length) await once(sock, 'data', { signal: AbortSignal.timeout(10_000) })
      return received
    },
  }
}

/**
 * The send and receive queues of each TCP connection on this host, by "local port>remote port":
 * /proc/net/tcp on Linux, netstat's Send-Q and Recv-Q on macOS and FreeBSD.
 */
function tcpQueues(): Map<string, { sendq: number; recvq: number }> {
  const queues = new Map<string, { sendq: number; recvq: number }>()
  if (LINUX) {
    const port = (address: string) => parseInt(address.split(':')[1], 16)
    for (const line of fs.readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
      const [, local, remote, , txrx] = line.trim().split(/\s+/)
      if (txrx === undefined) continue
      const [tx, rx] = txrx.split(':').map((hex) => parseInt(hex, 16))
      queues.set(`${port(local)}>${port(remote)}`, { sendq: tx, recvq: rx })
    }
    return queues
  }
  const port = (address: string) => Number(address.slice(address.lastIndexOf('.') + 1))
  for (const line of execFileSync('netstat', ['-an', '-p', 'tcp'], { encoding: 'utf8' }).split('\n')) {
    const [proto, recvq, sendq, local, remote] = line.trim().split(/\s+/)
    if (proto?.startsWith('tcp')) queues.set(`${port(local)}>${port(remote)}`, { sendq: Number(sendq), recvq: Number(recvq) })
  }
  return queues
}

/**
 * Writes `data` on `sock` and resolves once the server process has read it: nothing left in the
 * client's send queue nor in the server end's receive queue. The next write then arrives apart,
 * in a read of its own.
 */
async function deliver(sock: net.Socket, data: string): Promise<void> {
  await new Promise<void>((resolve, reject) => sock.write(data, (e) => (e ? reject(e) : resolve())))
  const [client, server] = [`${sock.localPort}>${sock.remotePort}`, `${sock.remotePort}>${sock.localPort}`]
  await until(5000, `the server reading ${JSON.stringify(data)}`, () => {
    const queues = tcpQueues()
    return queues.get(client)?.sendq === 0 && queues.get(server)?.recvq === 0
  })
}

test('hello-world-fast.ts: keep-alive, pipelining (past one corked batch) and split requests', async (t) => {
  const { port } = await start(t, 'hello-world-fast.ts', { address: HTTP_ADDRESS })
  const conn = await keepAlive(port)
  t.teardown(() => conn.sock.destroy())
  for (let i = 0; i < 3; i++) t.is(await conn.ask(GET, 1), FAST_RESPONSE, 'several requests on one connection')
  t.is(await conn.ask(GET.repeat(16), 16), FAST_RESPONSE.repeat(16), '16 pipelined requests')
  t.is(await conn.ask(GET.repeat(150), 150), FAST_RESPONSE.repeat(150), '150 pipelined: three corked sends')
  await deliver(conn.sock, GET.slice(0, 20))
  t.is(await conn.ask(GET.slice(20) + GET, 2), FAST_RESPONSE.repeat(2), 'a request split across writes')
  for (const cut of [1, 2, 3]) { // inside the CR LF CR LF that ends the request
    await deliver(conn.sock, GET.slice(0, GET.length - cut))
    t.is(await conn.ask(GET.slice(GET.length - cut), 1), FAST_RESPONSE, `terminator split ${cut} bytes from its end`)
  }
  await deliver(conn.sock, 'GET / HTTP/1.1\r\nHost: a\r\n\r')
  t.is(await conn.ask('\r\n\r\n' + GET, 2), FAST_RESPONSE.repeat(2), 'a CR that breaks a terminator across writes')
})

test('hello-world-fast.ts: a client that stops reading still gets every response (partial sends)', async (t) => {
  const { port } = await start(t, 'hello-world-fast.ts', { address: HTTP_ADDRESS })
  using client = new Socket()
  client.setsockopt(SOL_SOCKET, SO_RCVBUF, 4096)
  client.connect(['127.0.0.1', port])
  client.setblocking(false)
  // 7.6 MB of responses: more than the server's send buffer (tcp_wmem max 4 MB) and the
  // client's fixed ~8 KB receive buffer hold, so the server's sends must go partial.
  let pending = Buffer.from(GET.repeat(100_000))
  const expected = 100_000 * FAST_RESPONSE.length
  const sendSome = () => {
    try {
      while (pending.length > 0) pending = pending.subarray(client.send(pending))
      return true
    } catch (e) {
      if (e instanceof BlockingIOError) return false
      throw e
    }
  }
  // Send every request without reading a reply: the server reads them all, and its replies
  // overflow its send buffer, so it must keep the rest for later (partial sends).
  await until(10_000, 'every request sent, no reply read', sendSome)
  using ep = new Epoll()
  ep.register(client, EPOLLIN | EPOLLOUT)
  const buf = Buffer.alloc(64 * 1024)
  let received = 0
  for (const deadline = Date.now() + 15_000; received < expected && Date.now() < deadline;) {
    for (const [, mask] of ep.poll(0.1)) {
      if (mask & EPOLLIN) received += client.recvInto(buf)
      if (mask & EPOLLOUT && !sendSome()) continue
      if (pending.length === 0) ep.modify(client, EPOLLIN)
    }
  }
  t.is(received, expected)
})

test('hello-world-fast.ts: a Python client gets two pipelined responses', async (t) => {
  const { port } = await start(t, 'hello-world-fast.ts', { address: HTTP_ADDRESS })
  const python = await run('python3', ['-c', [
    'import socket, sys',
    `s = socket.create_connection(("127.0.0.1", ${port}))`,
    `s.sendall(b"${GET.replace(/\r\n/g, '\\r\\n')}" * 2)`,
    'data = b""',
    `while len(data) < ${2 * FAST_RESPONSE.length}: data += s.recv(1024)`,
    'sys.stdout.write(data.decode())',
  ].join('\n')], { timeout: 10_000 })
  t.is(python.stdout, FAST_RESPONSE.repeat(2))
})

withCurl('hello-world-fast.ts: curl gets two responses on one connection', async (t) => {
  const { port } = await start(t, 'hello-world-fast.ts', { address: HTTP_ADDRESS })
  const curl = await run('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${port}/a`, `http://127.0.0.1:${port}/b`])
  t.is(curl.stdout, 'Hello, world!Hello, world!')
})

withWrk('hello-world-fast.ts: a bounded wrk run with 50 keep-alive connections sees no errors', async (t) => {
  const { port } = await start(t, 'hello-world-fast.ts', { address: HTTP_ADDRESS })
  const wrk = await run('wrk', ['-t1', '-c50', '-d2s', '--timeout', '2s', `http://127.0.0.1:${port}/`], { timeout: 20_000 })
  t.log(wrk.stdout.trim().split('\n').filter((l) => /Requests\/sec/.test(l)).join(''))
  t.true(Number(/(\d+) requests in/.exec(wrk.stdout)?.[1] ?? 0) > 1000, wrk.stdout)
  t.notRegex(wrk.stdout, /Socket errors|Non-2xx/, wrk.stdout)
})

/** Why cluster.ts does not run on the WebAssembly backend. */
const REUSEPORT = "SO_REUSEPORT, the kernel's sharing of one port among processes: the socket host's Node sockets have no SO_REUSEPORT"

/**
 * Starts examples/cluster.ts with two workers and has 40 keep-alive clients served: each
 * worker's pid and how many connections (sockets) it gained. The teardown stops it.
 */
async function cluster(t: ExecutionContext): Promise<{ primary: ChildProcess; pids: number[]; gained: number[] }> {
  const primary = spawn(process.execPath, ['--import', 'tsx', 'examples/cluster.ts'], {
    env: { ...process.env, PORT: '0', WORKERS: '2' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  t.teardown(() => primary.kill())
  const [line] = await once(primary.stdout!, 'data', { signal: AbortSignal.timeout(30_000) })
  const match = /127\.0\.0\.1:(\d+)\/ with 2 worker processes: (\d+) (\d+)/.exec(String(line))
  t.truthy(match, String(line))
  const [port, ...pids] = match!.slice(1).map(Number)
  const socketsOf = (pid: number) => [...openFds(pid).values()].filter((kind) => kind === 'socket').length
  const before = pids.map(socketsOf)
  const clients = await Promise.all(Array.from({ length: 40 }, () => keepAlive(port)))
  t.teardown(() => clients.forEach((c) => c.sock.destroy()))
  for (const client of clients) t.is(await client.ask(GET, 1), FAST_RESPONSE)
  const gained = pids.map((pid, i) => socketsOf(pid) - before[i])
  t.is(gained[0] + gained[1], 40, `connections per worker: ${gained}`)
  return { primary, pids, gained }
}

kernelOnly(REUSEPORT)('cluster.ts: two processes share the port through SO_REUSEPORT and stop together', async (t) => {
  const { primary, pids } = await cluster(t)
  primary.kill('SIGTERM')
  await once(primary, 'exit')
  await until(5000, 'the workers stopping with the primary', () => !pids.some(isAlive))
})

testIf(LINUX && !WASM, WASM ? REUSEPORT : 'only Linux spreads the connections among SO_REUSEPORT listeners; macOS and FreeBSD give them all to one', { serial: true })(
  'cluster.ts: the kernel spreads the connections over both workers', async (t) => {
  const { gained } = await cluster(t)
  t.true(gained.every((n) => n > 0), `the kernel spread the connections: ${gained}`)
})

test('hello-world-fast.ts: a client that resets in the middle of a deep pipeline does not stop the server', async (t) => {
  const { process: server, port } = await start(t, 'hello-world-fast.ts', { address: HTTP_ADDRESS })
  for (let i = 0; i < 5; i++) {
    const rude = net.connect(port, '127.0.0.1')
    await once(rude, 'connect')
    rude.write(GET.repeat(20_000))
    await once(rude, 'data') // the server is answering: in the middle of the pipeline
    rude.resetAndDestroy()
  }
  const conn = await keepAlive(port)
  t.teardown(() => conn.sock.destroy())
  t.is(await conn.ask(GET, 1), FAST_RESPONSE)
  t.is(server.exitCode, null)
})
