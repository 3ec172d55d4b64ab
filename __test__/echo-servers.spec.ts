/**
 * The upper-casing echo servers: examples/echo-selectors.ts, the reference selectors echo server
 * (DefaultSelector, callbacks in the key's data), and examples/echo-coroutines.ts, the same
 * server as one async function per connection. Each is started as its own process and driven by
 * real clients on loopback: Node's net and Python's socket module.
 */
import test from 'ava'

import { countFds } from './hostile-clients.js'
import { cpuMs, openFds } from './inspect.js'
import { concurrentEchoes, connect, echo, exchange, python, quietCpu, sleep, start, until } from './servers.js'

for (const file of ['echo-selectors.ts', 'echo-coroutines.ts']) {
  test(`${file}: upper-cases for a net client, as bytes.upper() does (ASCII only), and closes at EOF`, async (t) => {
    const server = await start(t, file)
    t.is((await echo(server.port, 'hello world')).toString(), 'HELLO WORLD')
    t.is((await echo(server.port, 'héllo wörld 123!')).toString(), 'HéLLO WöRLD 123!', 'only a-z change')
    const long = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(200) // 7200 bytes: several recv(1024)s or sockRecv(1024)s
    t.is((await echo(server.port, long)).toString(), long.toUpperCase())
    t.is(server.stderr(), '')
  })

  test(`${file}: upper-cases for a Python socket client`, async (t) => {
    const { port } = await start(t, file)
    const { stdout } = await python(port, 'b"hello from python"')
    t.is(stdout.toString(), 'HELLO FROM PYTHON')
  })

  test(`${file}: 10 concurrent clients each get their own reply, twice on the same connections`, async (t) => {
    const { port } = await start(t, file)
    await concurrentEchoes(t, port, 10)
  })

  test(`${file}: clients that hang up or reset are closed (unregistered, or their task ended); the server goes on`, async (t) => {
    const server = await start(t, file)
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
    const other = await connect(port)
    t.teardown(() => other.destroy())
    t.is((await exchange(other, 'still there?')).toString(), 'STILL THERE?')
    t.is(server.process.exitCode, null)
    other.destroy()
    await until(3000, `the server closing its connections (${fds} fds before)`, () => openFds(server.process.pid!).size === fds)
    t.is(openFds(server.process.pid!).size, fds)
    t.is(server.stderr(), '')
  })

  test.serial(`${file}: idle when nobody talks: no spin`, async (t) => {
    const server = await start(t, file)
    const client = await connect(server.port) // an open, silent connection as well
    t.teardown(() => client.destroy())
    t.is((await exchange(client, 'ping')).toString(), 'PING')
    await quietCpu(server.process.pid!)
    const before = cpuMs(server.process.pid!)
    await sleep(500)
    const spent = cpuMs(server.process.pid!) - before
    t.true(spent < 150, `the server burned ${spent} ms of CPU in 0.5 s idle: it spins`)
  })
}
