/**
 * Sockets on the WebAssembly backend (FDPOLL_BACKEND=wasm): the Python-style API over the socket
 * host (src/wasm/socket.ts, multiplex.ts, batch.ts, watch.ts), each test a child process on that
 * backend driven by real clients on loopback (Node's net and dgram, curl, python3). Blocking
 * calls block the child's thread as on Linux, so the clients run here or in processes of their
 * own. The example servers load the package (dist/, `npm run build`). Registered as skipped where
 * the WebAssembly build is missing.
 */
import ava, { type ExecutionContext } from 'ava'
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import dgram from 'node:dgram'
import { once } from 'node:events'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { getSystemErrorMap, promisify } from 'node:util'

import { GAI_NOT_FOUND, errno as linuxErrno } from '../src/wasm/linux.js'
import { hostResult } from '../src/wasm/socket.js'
import { IPV6_LOOPBACK, testIf } from './helpers.js'
import { HTTP_ADDRESS, echo, python, start, within } from './servers.js'

const run = promisify(execFile)
const ROOT = path.join(__dirname, '..')
const built = fs.existsSync(path.join(ROOT, 'npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm'))
const why = 'the WebAssembly build is missing (npm run build:wasm builds it)'
const test = testIf(built, why)
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
const { EBADF, ECONNREFUSED, EAGAIN, EINPROGRESS, ENOPROTOOPT } = os.constants.errno

/** A child process running a script on the WebAssembly backend; what it `say`s, one JSON value a line. */
class WasmChild {
  readonly process: ChildProcess
  readonly #said: unknown[] = []
  readonly #waiting: (() => void)[] = []
  #stderr = ''
  readonly exited: Promise<number | null>

  /** Runs `script` with `fdpoll` (src/index.ts) and `say(value)` in scope; the teardown kills it. */
  constructor(t: ExecutionContext, script: string) {
    const prelude = `const fdpoll = require(${JSON.stringify(path.join(ROOT, 'src/index.ts'))});` +
      'const say = (value) => console.log(JSON.stringify(value));'
    this.process = spawn(process.execPath, ['--import', 'tsx', '-e', `${prelude}\n${script}`], {
      cwd: ROOT, env: { ...process.env, FDPOLL_BACKEND: 'wasm' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    createInterface({ input: this.process.stdout! }).on('line', (line) => {
      this.#said.push(JSON.parse(line))
      this.#waiting.splice(0).forEach((wake) => wake())
    })
    this.process.stderr!.on('data', (chunk) => (this.#stderr += chunk))
    this.exited = once(this.process, 'exit').then(([code]) => {
      this.#waiting.splice(0).forEach((wake) => wake())
      return code as number | null
    })
    t.teardown(() => {
      if (this.process.exitCode === null && this.process.signalCode === null) this.process.kill('SIGKILL')
    })
  }

  /** The `n`th value said (from 0), once said; rejects if the child exits first or 15 s pass. */
  said<T>(n: number): Promise<T> {
    return within(15_000, `the child's line ${n}`, new Promise<T>((resolve, reject) => {
      const check = (): void => {
        if (this.#said.length > n) resolve(this.#said[n] as T)
        else if (this.process.exitCode !== null || this.process.signalCode !== null) {
          reject(new Error(`the child exited (${this.process.exitCode ?? this.process.signalCode}) after ${this.#said.length} lines: ${this.#stderr}`))
        } else this.#waiting.push(check)
      }
      check()
    }))
  }

  /** Its last value, once it has exited with status 0. */
  async result<T>(): Promise<T> {
    const code = await within(15_000, 'the child to exit', this.exited)
    if (code !== 0) throw new Error(`the child exited with ${code}: ${this.#stderr}`)
    return this.#said[this.#said.length - 1] as T
  }
}

ava("the host's Linux errnos become this OS's numbers by name (libuv's for the names Node's table lacks); GAI_NOT_FOUND and counts pass as they are", (t) => {
  const uv = new Map([...getSystemErrorMap()].map(([negative, [name]]) => [name, -negative]))
  for (const [name, linux] of Object.entries(linuxErrno)) {
    const here = (os.constants.errno as Record<string, number>)[name] ?? uv.get(name)
    t.is(hostResult(-linux), -(here ?? os.constants.errno.EIO), name)
  }
  t.is(hostResult(GAI_NOT_FOUND), GAI_NOT_FOUND)
  t.is(hostResult(0), 0)
  t.is(hostResult(5), 5)
})

/** Sends `data` on a net connection to `port` on `host`, then half-closes once all came back: what came back. */
async function echoOver(host: string, port: number, data: Buffer): Promise<Buffer> {
  const sock = net.connect(port, host)
  const chunks: Buffer[] = []
  let got = 0
  sock.on('data', (chunk) => {
    chunks.push(chunk)
    got += chunk.length
    if (got >= data.length) sock.end()
  })
  sock.write(data)
  await within(15_000, 'the echo', once(sock, 'close'))
  return Buffer.concat(chunks)
}

/** Loopback hosts by family: IPv6 where the host has ::1. */
const FAMILIES = [['AF_INET', '127.0.0.1', true], ['AF_INET6', '::1', IPV6_LOOPBACK]] as const

for (const [family, host, runs] of FAMILIES) {
  testIf(built && runs, runs ? why : 'no IPv6 loopback')(`a blocking ${family} TCP echo: accept and recvInto block, one send of 1 MiB returns once all is queued (as Linux's), recv then waits for EOF`, async (t) => {
    const child = new WasmChild(t, `
      const srv = new fdpoll.Socket(fdpoll.${family}, fdpoll.SOCK_STREAM)
      srv.bind([${JSON.stringify(host)}, 0])
      srv.listen()
      say(srv.getsockname()[1])
      const [conn, peer] = srv.accept()
      const all = Buffer.alloc(1 << 20)
      let got = 0
      while (got < all.length) got += conn.recvInto(all.subarray(got))
      const sent = conn.send(all)
      const eof = conn.recv(10).length
      say({ got, sent, eof, peer: peer[0], blocking: conn.getblocking() })
      conn.close()
      srv.close()`)
    const data = randomBytes(1 << 20)
    const back = await echoOver(host, await child.said<number>(0), data)
    t.true(back.equals(data), `${back.length} bytes came back`)
    t.deepEqual(await child.result(), { got: data.length, sent: data.length, eof: 0, peer: host, blocking: true })
  })

  testIf(built && runs, runs ? why : 'no IPv6 loopback')(`a non-blocking ${family} TCP echo over a level-triggered Epoll: recv ends in BlockingIOError, partial sends wait for EPOLLOUT`, async (t) => {
    const child = new WasmChild(t, `
      const { BlockingIOError, EPOLLIN, EPOLLOUT, Epoll } = fdpoll
      const srv = fdpoll.createServer([${JSON.stringify(host)}, 0], { family: fdpoll.${family} })
      srv.setblocking(false)
      say(srv.getsockname()[1])
      const ep = new Epoll()
      ep.register(srv, EPOLLIN)
      let conn = null, pending = Buffer.alloc(0), total = 0, eagain = 0, done = false
      while (!done) {
        for (const [fd, events] of ep.poll(5)) {
          if (fd === srv.fileno()) {
            conn = srv.accept()[0]
            conn.setblocking(false)
            ep.register(conn, EPOLLIN)
            continue
          }
          if (events & EPOLLIN) {
            try {
              for (;;) {
                const data = conn.recv(65536)
                if (data.length === 0) { done = true; break }
                total += data.length
                pending = Buffer.concat([pending, data])
              }
            } catch (e) { if (!(e instanceof BlockingIOError)) throw e; eagain++ }
          }
          if (pending.length > 0) {
            try { pending = pending.subarray(conn.send(pending)) } catch (e) { if (!(e instanceof BlockingIOError)) throw e }
          }
          if (!done) ep.modify(conn, pending.length > 0 ? EPOLLIN | EPOLLOUT : EPOLLIN)
        }
      }
      say({ total, eagain: eagain > 0, blocking: conn.getblocking() })
      conn.close()
      ep.close()
      srv.close()`)
    const data = randomBytes(1 << 20)
    const back = await echoOver(host, await child.said<number>(0), data)
    t.true(back.equals(data), `${back.length} bytes came back`)
    t.deepEqual(await child.result(), { total: data.length, eagain: true, blocking: false })
  })
}

test('recv with MSG_WAITALL waits for the whole buffer (sent in two parts 200 ms apart); a host name that does not resolve is gaierror; a socket fd wraps again', async (t) => {
  const child = new WasmChild(t, `
    const { MSG_WAITALL, Socket, createServer } = fdpoll
    const srv = createServer(['127.0.0.1', 0])
    say(srv.getsockname()[1])
    const [conn] = srv.accept()
    const whole = conn.recv(6, MSG_WAITALL).toString()
    let unresolved = null
    try { new Socket().connect(['no-such-host.invalid', 80]) } catch (e) { unresolved = [e.constructor.name, e.code] }
    const again = new Socket(-1, -1, -1, conn.detach())
    say({ whole, unresolved, family: again.family, type: again.type, peer: again.getpeername()[0] })`)
  const port = await child.said<number>(0)
  const sock = net.connect(port, '127.0.0.1')
  t.teardown(() => sock.destroy())
  sock.write('abc')
  await new Promise((resolve) => setTimeout(resolve, 200))
  sock.write('def')
  t.deepEqual(await child.result(), {
    whole: 'abcdef', unresolved: ['gaierror', 'EAI_NONAME'], family: 2, type: 1, peer: '127.0.0.1',
  })
})

test('UDP: a blocking recvfrom gets a datagram from a Node client and sendto answers it; a non-blocking one is BlockingIOError', async (t) => {
  const child = new WasmChild(t, `
    const { AF_INET, SOCK_DGRAM, Socket } = fdpoll
    const a = new Socket(AF_INET, SOCK_DGRAM)
    a.bind(['127.0.0.1', 0])
    const port = a.getsockname()[1]
    say(port)
    const [data, from] = a.recvfrom(2048)
    a.sendto(Buffer.from(data.toString().toUpperCase()), from)
    const b = new Socket(AF_INET, SOCK_DGRAM)
    b.sendto(Buffer.from('from b'), ['127.0.0.1', port])
    const [second, sender] = a.recvfrom(2048)
    a.setblocking(false)
    let again = null
    try { a.recvfrom(2048) } catch (e) { again = [e.constructor.name, e.errno] }
    say({ first: data.toString(), second: second.toString(), fromB: sender[1] === b.getsockname()[1], again })`)
  const port = await child.said<number>(0)
  const client = dgram.createSocket('udp4')
  t.teardown(() => client.close())
  const reply = once(client, 'message')
  client.send('hello udp', port, '127.0.0.1')
  const [message] = await within(10_000, 'the reply', reply)
  t.is(String(message), 'HELLO UDP')
  t.deepEqual(await child.result(), { first: 'hello udp', second: 'from b', fromB: true, again: ['BlockingIOError', EAGAIN] })
})

test('a Unix stream socketpair: blocking recv, BlockingIOError on a non-blocking recv, partial non-blocking sends, EOF after close', async (t) => {
  const child = new WasmChild(t, `
    const { BlockingIOError, socketpair } = fdpoll
    const [a, b] = socketpair()
    a.sendall(Buffer.from('ping'))
    const got = b.recv(10).toString()
    b.setblocking(false)
    let err = null
    try { b.recv(10) } catch (e) { err = [e.constructor.name, e.errno, e.syscall] }
    a.setblocking(false)
    let sent = 0, partial = false
    try {
      for (;;) {
        const n = a.send(Buffer.alloc(1 << 20, 120))
        partial ||= n < 1 << 20
        sent += n
      }
    } catch (e) { if (!(e instanceof BlockingIOError)) throw e }
    b.setblocking(true)
    let read = 0
    while (read < sent) read += b.recv(1 << 20).length
    a.close()
    const eof = b.recv(10).length
    say({ got, err, partial, same: read === sent, eof, family: b.family === fdpoll.AF_UNIX })`)
  t.deepEqual(await child.result(), { got: 'ping', err: ['BlockingIOError', EAGAIN, 'recv'], partial: true, same: true, eof: 0, family: true })
})

test('connect: ConnectionRefusedError on a blocking socket (connectEx the errno); EINPROGRESS on a non-blocking one, then EPOLLOUT and SO_ERROR', async (t) => {
  const child = new WasmChild(t, `
    const { EPOLLERR, EPOLLOUT, Epoll, SOL_SOCKET, SO_ERROR, Socket, createServer } = fdpoll
    const probe = createServer(['127.0.0.1', 0])
    const closed = probe.getsockname()[1]
    probe.close()
    let refused = null
    try { new Socket().connect(['127.0.0.1', closed]) } catch (e) { refused = [e.constructor.name, e.errno, e.syscall] }
    const ex = new Socket().connectEx(['127.0.0.1', closed])
    const srv = createServer(['127.0.0.1', 0])
    const outcome = (port) => {
      const c = new Socket()
      c.setblocking(false)
      let started = null
      try { c.connect(['127.0.0.1', port]) } catch (e) { started = [e.constructor.name, e.errno] }
      const ep = new Epoll()
      ep.register(c, EPOLLOUT)
      const events = ep.poll(5).map(([fd, bits]) => [fd === c.fileno(), (bits & EPOLLOUT) !== 0, (bits & EPOLLERR) !== 0])
      return { started, events, soError: c.getsockopt(SOL_SOCKET, SO_ERROR) }
    }
    say({ refused, ex, open: outcome(srv.getsockname()[1]), closed: outcome(closed) })`)
  const { refused, ex, open, closed } = await child.result<Record<string, unknown>>()
  t.deepEqual(refused, ['ConnectionRefusedError', ECONNREFUSED, 'connect'])
  t.is(ex, ECONNREFUSED)
  t.deepEqual(open, { started: ['BlockingIOError', EINPROGRESS], events: [[true, true, false]], soError: 0 })
  t.like(closed, { started: ['BlockingIOError', EINPROGRESS], soError: ECONNREFUSED })
  t.deepEqual((closed as { events: boolean[][] }).events.map(([mine, , error]) => [mine, error]), [[true, true]])
})

test("an fd fdpoll did not make cannot be registered: an OSError (EBADF) that names the WebAssembly backend; an option the host cannot honour is ENOPROTOOPT", async (t) => {
  const child = new WasmChild(t, `
    const fd = require('node:fs').openSync(require('node:os').devNull, 'r')
    const ep = new fdpoll.Epoll()
    let error = null
    try { ep.register(fd, fdpoll.EPOLLIN) } catch (e) { error = { name: e.constructor.name, errno: e.errno, message: e.message } }
    const s = new fdpoll.Socket()
    let option = null
    try { s.setsockopt(fdpoll.SOL_SOCKET, fdpoll.SO_REUSEPORT, 1) } catch (e) { option = [e.constructor.name, e.errno] }
    say({ fd, error, option })`)
  const { fd, error, option } = await child.result<{ fd: number; error: { name: string; errno: number; message: string }; option: unknown }>()
  t.like(error, { name: 'OSError', errno: EBADF })
  t.regex(error.message, /^EBADF: bad file descriptor, epoll_ctl: .*WebAssembly backend/)
  t.true(error.message.includes(`fd ${fd} `), error.message)
  t.deepEqual(option, ['OSError', ENOPROTOOPT])
})

test('select, poll and the fast path (pollRecv, sendMany, accept) on the engine: they wait for the host and see what it delivers', async (t) => {
  const child = new WasmChild(t, `
    const { EPOLLIN, Epoll, POLLIN, createServer, fastpath, poll, select, socketpair } = fdpoll
    const [a, b] = socketpair()
    const idle = select([b], [a], [], 0)
    const start = Date.now()
    const timedOut = select([b], [], [], 0.1)[0].length
    const waited = Date.now() - start
    a.send(Buffer.from('x'))
    const readable = select([b], [], [], 5)[0][0] === b
    const p = poll()
    p.register(b, POLLIN)
    const polled = p.poll(5000).map(([fd, bits]) => [fd === b.fileno(), bits & POLLIN])
    b.recv(1)
    const srv = createServer(['127.0.0.1', 0])
    srv.setblocking(false)
    const ep = new Epoll()
    ep.register(srv, EPOLLIN)
    const listenerIdle = ep.poll(0).length
    say(srv.getsockname()[1])
    const out = new Int32Array(3 * 8), area = new Uint8Array(8 * 1024)
    let conn = -1, got = ''
    while (got.length < 5) {
      const n = fastpath.pollRecv(ep.fileno(), out, 5000, area, 1024, srv.fileno())
      for (let i = 0; i < n; i++) {
        if (out[3 * i] === srv.fileno()) {
          conn = fastpath.accept(srv.fileno())
          ep.register(conn, EPOLLIN)
        } else if (out[3 * i + 2] > 0) got += Buffer.from(area.subarray(i * 1024, i * 1024 + out[3 * i + 2])).toString()
      }
    }
    const data = Buffer.from('pong!')
    const plan = new Int32Array([conn, 0, 5])
    const status = fastpath.sendMany(plan, 1, data)
    say({ idle: [idle[0].length, idle[1].length], listenerIdle, timedOut, waited: waited >= 90, readable, polled, got, status, sent: plan[2] })
    ep.close()
    fastpath.close(conn)
    srv.close()`)
  const port = await child.said<number>(0)
  const sock = net.connect(port, '127.0.0.1')
  t.teardown(() => sock.destroy())
  sock.write('ping!')
  const [reply] = await within(10_000, 'pong', once(sock, 'data'))
  t.is(String(reply), 'pong!')
  t.deepEqual(await child.result(), {
    idle: [0, 1], listenerIdle: 0, timedOut: 0, waited: true, readable: true, polled: [[true, 1]], got: 'ping!', status: 0, sent: 5,
  })
})

test('bad fds: poll reports a closed one POLLNVAL, select fails EBADF, a socket call on an Epoll fd is ENOTSOCK, a short int option EINVAL', async (t) => {
  const child = new WasmChild(t, `
    const { Epoll, POLLIN, POLLNVAL, SOL_SOCKET, SO_REUSEADDR, Socket, poll, select, socketpair } = fdpoll
    const [a, b] = socketpair()
    const gone = b.fileno()
    b.close()
    const p = poll()
    p.register(gone, POLLIN)
    const polled = p.poll(0)
    const err = (f) => { try { f(); return null } catch (e) { return [e.constructor.name, e.errno] } }
    const selected = err(() => select([gone], [], [], 0))
    const ep = new Epoll()
    const notSocket = err(() => new Socket(-1, -1, -1, ep.fileno()))
    const short = err(() => a.setsockopt(SOL_SOCKET, SO_REUSEADDR, Buffer.alloc(2)))
    say({ polled: polled.map(([fd, bits]) => [fd === gone, bits === POLLNVAL]), selected, notSocket, short })`)
  const { ENOTSOCK, EINVAL } = os.constants.errno
  t.deepEqual(await child.result(), {
    polled: [[true, true]], selected: ['OSError', EBADF], notSocket: ['OSError', ENOTSOCK], short: ['OSError', EINVAL],
  })
})

test("ep.watch on Node's loop: a socket's readiness from the host is delivered, again while a level-triggered fd is not serviced; close lets the process exit", async (t) => {
  const child = new WasmChild(t, `
    const { EPOLLIN, Epoll, socketpair } = fdpoll
    const [a, b] = socketpair()
    b.setblocking(false)
    const ep = new Epoll()
    ep.register(b, EPOLLIN)
    const batches = []
    ep.watch((events) => {
      batches.push(events.map(([fd, bits]) => [fd === b.fileno(), bits & EPOLLIN]))
      if (batches.length === 1) return // not serviced: delivered again
      say({ batches, mode: ep.watcher.mode, data: b.recv(100).toString() })
      ep.close()
      a.close()
      b.close()
    })
    setTimeout(() => a.send(Buffer.from('ping')), 50)`)
  t.deepEqual(await child.result(), { batches: [[[true, 1]], [[true, 1]]], mode: 'loop', data: 'ping' })
})

test("for await over ep.watcher: a listener's connection from a Node client wakes the idle loop", async (t) => {
  const child = new WasmChild(t, `
    const { EPOLLIN, Epoll, createServer } = fdpoll
    const srv = createServer(['127.0.0.1', 0])
    srv.setblocking(false)
    const ep = new Epoll()
    ep.register(srv, EPOLLIN)
    say(srv.getsockname()[1])
    ;(async () => {
      for await (const events of ep.watcher) {
        const [conn] = srv.accept()
        conn.sendall(Buffer.from('hi'))
        conn.close()
        break
      }
      ep.close()
      srv.close()
      say('done')
    })()`)
  const sock = net.connect(await child.said<number>(0), '127.0.0.1')
  t.teardown(() => sock.destroy())
  const [data] = await within(10_000, 'the greeting', once(sock, 'data'))
  t.is(String(data), 'hi')
  t.is(await child.result(), 'done')
})

const withCurl = testIf(built && has('curl'), built ? 'curl is not installed' : why, { serial: true })
const EXPECTED = 'Hello, world!'
const WASM = { FDPOLL_BACKEND: 'wasm' }

for (const example of ['hello-world.ts', 'hello-world-edge.ts']) {
  withCurl(`${example} under FDPOLL_BACKEND=wasm: curl and Python clients get the reference reply, one after the other`, async (t) => {
    const { port } = await start(t, example, { address: HTTP_ADDRESS, env: WASM })
    for (let i = 0; i < 20; i++) {
      const { stdout } = await run('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${port}/`])
      t.is(stdout, EXPECTED)
    }
    const stdout = (await python(port, 'b"GET / HTTP/1.0\\r\\n\\r\\n"')).stdout.toString()
    t.true(stdout.startsWith('HTTP/1.0 200 OK\r\n') && stdout.endsWith(`\r\n\r\n${EXPECTED}`), stdout)
  })
}

for (const example of ['ioloop-hello.ts', 'hello-world-async.ts']) {
  withCurl(`${example} under FDPOLL_BACKEND=wasm: the IOLoop on Node's loop serves curl`, async (t) => {
    const { port } = await start(t, example, { address: HTTP_ADDRESS, env: WASM })
    for (let i = 0; i < 20; i++) {
      const { stdout } = await run('curl', ['-s', '--max-time', '5', `http://127.0.0.1:${port}/`])
      t.is(stdout, EXPECTED)
    }
  })
}

for (const example of ['echo-selectors.ts', 'echo-coroutines.ts']) {
  test(`${example} under FDPOLL_BACKEND=wasm: upper-cases for Python and Node clients, several recv(1024)s long`, async (t) => {
    const { port } = await start(t, example, { env: WASM })
    const { stdout } = await python(port, 'b"hello from python"')
    t.is(stdout.toString(), 'HELLO FROM PYTHON')
    const long = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(200)
    t.is((await echo(port, long)).toString(), long.toUpperCase())
  })
}
