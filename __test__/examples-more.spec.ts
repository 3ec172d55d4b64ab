/**
 * The echo-upper (selectors-style, on Epoll) and nonblocking-polling (no multiplexer) example
 * servers, each started as its own process and driven by real clients on loopback: Node's net
 * and Python's socket module. Also what they cost when idle: nothing, and a whole core.
 */
import test from 'ava'
import { once } from 'node:events'

import { countFds } from './hostile-clients.js'
import { cpuMs, openFds } from './inspect.js'
import { concurrentEchoes, connect, echo, exchange, python, quietCpu, sleep, start, until, within } from './servers.js'

test('echo-upper.ts: upper-cases for a net client, as bytes.upper() does (ASCII only)', async (t) => {
  const { port } = await start(t, 'echo-upper.ts')
  t.is((await echo(port, 'hello world')).toString(), 'HELLO WORLD')
  t.is((await echo(port, 'héllo wörld 123!')).toString(), 'HéLLO WöRLD 123!', 'only a-z change')
  const long = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(200) // 7200 bytes: several recv(1024)s
  t.is((await echo(port, long)).toString(), long.toUpperCase())
})

test('echo-upper.ts: upper-cases for a Python socket client', async (t) => {
  const { port } = await start(t, 'echo-upper.ts')
  const { stdout } = await python(port, 'b"hello world"')
  t.is(stdout.toString(), 'HELLO WORLD')
})

test('echo-upper.ts: 20 concurrent clients each get their own reply', async (t) => {
  const { port } = await start(t, 'echo-upper.ts')
  await concurrentEchoes(t, port, 20)
})

test('echo-upper.ts: clients that hang up, reset or never read do not stop the server', async (t) => {
  const server = await start(t, 'echo-upper.ts')
  const { port } = server
  const pid = server.process.pid!
  const { sockets } = countFds(pid) // as it starts listening, before any client
  t.is((await echo(port, 'warm up')).toString(), 'WARM UP')
  await until(3000, 'the server closing the warm-up connection', () => countFds(pid).sockets === sockets)
  const fds = openFds(pid).size

  const quiet = await connect(port) // connects and hangs up without a word
  quiet.end()
  const reset = await connect(port) // sends, then resets the connection (ECONNRESET)
  t.is((await exchange(reset, 'abc')).toString(), 'ABC') // the server has read it and waits for more
  reset.resetAndDestroy()
  const rude = await connect(port) // sends and closes without reading its reply
  rude.end('nobody reads this')
  rude.destroy()
  const other = await connect(port)
  t.teardown(() => other.destroy())
  t.is((await exchange(other, 'still there?')).toString(), 'STILL THERE?')
  t.is(server.process.exitCode, null)
  t.is(server.process.signalCode, null)
  other.destroy()
  // Each connection was unregistered and closed: the server is back to its fd count.
  await until(3000, `the server closing its connections (${fds} fds before)`, () => openFds(server.process.pid!).size === fds)
  t.is(openFds(server.process.pid!).size, fds)
  t.is(server.stderr(), '')
})

test.serial('echo-upper.ts: idle when nobody talks (epoll_wait blocks)', async (t) => {
  const server = await start(t, 'echo-upper.ts')
  const client = await connect(server.port) // an open, silent connection as well
  t.teardown(() => client.destroy())
  t.is((await exchange(client, 'ping')).toString(), 'PING')
  await quietCpu(server.process.pid!)
  const before = cpuMs(server.process.pid!)
  await sleep(500)
  const spent = cpuMs(server.process.pid!) - before
  t.true(spent < 150, `the server burned ${spent} ms of CPU in 0.5 s idle: it spins`)
})

test('nonblocking-polling.ts: upper-cases for net clients', async (t) => {
  const { port } = await start(t, 'nonblocking-polling.ts')
  t.is((await echo(port, 'hello world')).toString(), 'HELLO WORLD')
  const a = await connect(port)
  const b = await connect(port)
  t.teardown(() => [a, b].forEach((c) => c.destroy()))
  t.is((await exchange(a, 'first client')).toString(), 'FIRST CLIENT')
  t.is((await exchange(b, 'second client')).toString(), 'SECOND CLIENT')
  const long = 'xyz'.repeat(1000) // several recv(1024)s
  t.is((await exchange(a, long)).toString(), long.toUpperCase())
})

test.serial('nonblocking-polling.ts: spins when idle, and says so on stderr', async (t) => {
  const started = Date.now()
  const server = await start(t, 'nonblocking-polling.ts')
  const before = cpuMs(server.process.pid!)
  await sleep(500)
  const spent = cpuMs(server.process.pid!) - before
  t.true(spent > 300, `the server burned only ${spent} ms of CPU in 0.5 s idle: it does not spin`)
  await until(Math.max(0, 2500 - (Date.now() - started)), 'a loop passes/s line on stderr', () => /loop passes\/s/.test(server.stderr()))
  const match = /^loop passes\/s: (\d+), CPU: (\d+)% of a core$/m.exec(server.stderr())
  t.truthy(match, server.stderr())
  t.true(Number(match![1]) > 1000, match![0])
  t.true(Number(match![2]) > 50, match![0])
})

test('nonblocking-polling.ts: RUN_SECONDS makes it exit by itself', async (t) => {
  const server = await start(t, 'nonblocking-polling.ts', { env: { RUN_SECONDS: '1' } })
  const [code, signal] = await within(5000, 'the server exiting after RUN_SECONDS=1', once(server.process, 'exit'))
  t.is(code, 0)
  t.is(signal, null)
})
