/**
 * examples/echo-coroutines.ts, the upper-casing echo server as one async function per
 * connection, started as its own process and driven by real clients on loopback: Node's net and
 * Python's socket module.
 */
import test from 'ava'

import { cpuMs, openFds } from './inspect.js'
import { concurrentEchoes, connect, echo, exchange, python, sleep, start, until } from './servers.js'

test('upper-cases for a net client, as bytes.upper() does (ASCII only), and closes at EOF', async (t) => {
  const server = await start(t, 'echo-coroutines.ts')
  t.is((await echo(server.port, 'hello world')).toString(), 'HELLO WORLD')
  t.is((await echo(server.port, 'héllo wörld 123!')).toString(), 'HéLLO WöRLD 123!', 'only a-z change')
  const long = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(200) // 7200 bytes: several sockRecv(1024)s
  t.is((await echo(server.port, long)).toString(), long.toUpperCase())
  t.is(server.stderr(), '')
})

test('upper-cases for a Python socket client', async (t) => {
  const { port } = await start(t, 'echo-coroutines.ts')
  const { stdout } = await python(port, 'b"hello from python"')
  t.is(stdout.toString(), 'HELLO FROM PYTHON')
})

test('10 concurrent clients each get their own reply, twice on the same connections', async (t) => {
  const { port } = await start(t, 'echo-coroutines.ts')
  await concurrentEchoes(t, port, 10)
})

test('clients that hang up or reset end their own task, which closes the socket; the server goes on', async (t) => {
  const server = await start(t, 'echo-coroutines.ts')
  const { port } = server
  t.is((await echo(port, 'warm up')).toString(), 'WARM UP')
  await sleep(100)
  const fds = openFds(server.process.pid!).size

  const quiet = await connect(port) // connects and hangs up without a word
  quiet.end()
  const reset = await connect(port) // sends, then resets the connection (ECONNRESET)
  reset.write('abc')
  await sleep(50)
  reset.resetAndDestroy()
  const other = await connect(port)
  t.teardown(() => other.destroy())
  t.is((await exchange(other, 'still there?')).toString(), 'STILL THERE?')
  t.is(server.process.exitCode, null)
  other.destroy()
  await until(3000, `the server closing its connections (${fds} fds before)`, () => openFds(server.process.pid!).size === fds)
  t.is(openFds(server.process.pid!).size, fds)
  t.is(server.stderr(), '')
})

test('a client that sends and never reads leaves only its own task waiting; when it goes, so does its fd', async (t) => {
  const server = await start(t, 'echo-coroutines.ts')
  const { port } = server
  t.is((await echo(port, 'warm up')).toString(), 'WARM UP')
  await sleep(100)
  const fds = openFds(server.process.pid!).size
  const hog = await connect(port)
  t.teardown(() => hog.destroy())
  hog.pause() // reads nothing: the server's replies fill the socket buffers, and its sockSendall waits
  const chunk = Buffer.alloc(1 << 20, 'a')
  for (let i = 0; i < 32; i++) hog.write(chunk)
  await sleep(300)
  const other = await connect(port)
  t.teardown(() => other.destroy())
  t.is((await exchange(other, 'served meanwhile')).toString(), 'SERVED MEANWHILE')
  other.destroy()
  hog.resetAndDestroy()
  await until(3000, `the server closing both connections (${fds} fds before)`, () => openFds(server.process.pid!).size === fds)
  t.is(server.process.exitCode, null)
  t.is(server.stderr(), '')
})

test.serial('idle when nobody talks: no spin', async (t) => {
  const server = await start(t, 'echo-coroutines.ts')
  const client = await connect(server.port) // an open, silent connection as well
  t.teardown(() => client.destroy())
  t.is((await exchange(client, 'ping')).toString(), 'PING')
  await sleep(300)
  const before = cpuMs(server.process.pid!)
  await sleep(500)
  const spent = cpuMs(server.process.pid!) - before
  t.true(spent < 150, `the server burned ${spent} ms of CPU in 0.5 s idle: it spins`)
})
