/**
 * The example servers against hostile clients (hostile-clients.ts): garbage, resets, half-closes,
 * clients gone mid-request, oversized requests, slowloris, pipelining clients that never read,
 * connect storms, urgent (out-of-band) data, clients that go without a byte, crowds of idle
 * connections, requests dribbled a byte at a time, and running out of fds (EMFILE). After each,
 * the server must still be running, answer a normal request promptly, and be back to its
 * baseline of fds: every connection's fd freed. One server per example serves its series of tests (it is restarted if one killed it).
 * HOSTILE_EXAMPLES=<dir> runs the suite against the examples in <dir> instead of examples/
 * (how it was seen failing against the examples before they were made robust). Last, the part
 * of the library that ioloop-hello relies on: an IOLoop closes a connection whose peer is gone.
 */
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import path from 'node:path'

import {
  ConnectionAbortedError, IOLoop, SOL_SOCKET, SO_LINGER, createConnection, createServer, errno,
} from '../src/index.js'

import {
  type FdCount, type Kind, type Launched, answered, connectStorm, countFds, exhaust, garbage, goneMidRequest, halfClose,
  idleCrowd, knock, launch, oversized, pipelineNoRead, probe, resetAfterRequest, silentHangUp, slowloris, trickle,
  urgentData,
} from './hostile-clients.js'
import { LINUX, cpuMs } from './inspect.js'
import { WASM } from './helpers.js'
import { HTTP_ADDRESS, TCP_ADDRESS, until } from './servers.js'

const DIR = process.env.HOSTILE_EXAMPLES ?? 'examples'

/** Each example, how it talks, and whether it has settled after starting (ioloop-hello runs a self-check request first). */
const EXAMPLES: { file: string; kind: Kind; settled?: (server: Launched) => boolean }[] = [
  { file: 'hello-world.ts', kind: 'http' },
  { file: 'hello-world-edge.ts', kind: 'http' },
  { file: 'ioloop-hello.ts', kind: 'http', settled: (server) => server.lines().length >= 2 },
  { file: 'hello-world-fast.ts', kind: 'keepalive' },
  { file: 'hello-world-async.ts', kind: 'keepalive' },
  { file: 'echo-selectors.ts', kind: 'echo' },
  { file: 'echo-upper.ts', kind: 'echo' },
  { file: 'echo-coroutines.ts', kind: 'echo' },
]

/** Every server launched, stopped when the suite ends. */
const launched: Launched[] = []
test.after.always(() => Promise.all(launched.map((server) => server.stop())))

/**
 * Starts `file` and takes its fd baseline: its sockets as it starts listening, before any client;
 * the count of all its fds once it has settled, served a request and closed that connection.
 */
async function startServer(file: string, kind: Kind, settled = (_: Launched) => true, nofile?: number): Promise<[Launched, FdCount]> {
  const server = await launch(path.join(DIR, file), kind === 'echo' ? TCP_ADDRESS : HTTP_ADDRESS, { nofile })
  launched.push(server)
  const pid = server.process.pid!
  const { sockets } = countFds(pid)
  await until(5000, `${file} settling after its start`, () => settled(server))
  await probe(server.port, kind)
  await until(5000, `${file} closing the first request's connection`, () => countFds(pid).sockets === sockets)
  return [server, { sockets, total: countFds(pid).total }]
}

/**
 * The end of every test: the server is still running, serves a normal request promptly, and its
 * fds come back to the baseline (its sockets exactly; no more fds in all).
 */
async function stillServing(t: ExecutionContext, server: Launched, kind: Kind, baseline: FdCount): Promise<void> {
  t.true(server.alive(), `the server exited: ${server.stderr().slice(-2000)}`)
  if (!server.alive()) return
  // 7 s: a SYN the kernel dropped from the classic examples' one-slot backlog (just refilled
  // after EMFILE) is sent again at 1 s and 3 s; a server that stopped serving never answers.
  await t.notThrowsAsync(probe(server.port, kind, 7000), 'a normal request is served promptly')
  const pid = server.process.pid!
  let now = countFds(pid)
  await until(5000, 'the fds coming back to the baseline', () => {
    now = countFds(pid)
    return now.sockets === baseline.sockets && now.total <= baseline.total
  }).catch(() => {})
  t.is(now.sockets, baseline.sockets, 'sockets open, against the baseline')
  t.true(now.total <= baseline.total, `fds open: ${now.total}, baseline ${baseline.total}`)
}

/** A test's clients, given the server, how it talks and its fd baseline; what they must see is asserted inside. */
type Scenario = (t: ExecutionContext, server: Launched, kind: Kind, baseline: FdCount) => Promise<void>

/** The server's CPU time over `work`, as a share of one core over its wall time. */
async function cpuShare<T>(pid: number, work: () => Promise<T>): Promise<[T, number]> {
  const before = cpuMs(pid)
  const start = performance.now()
  const result = await work()
  return [result, (cpuMs(pid) - before) / (performance.now() - start)]
}

/**
 * How busy the server's main thread is over `ms`, as a share of that time. On Linux, the time it
 * spent running or waiting for a CPU (/proc/PID/schedstat): a spinning thread scores about 1
 * however little CPU the machine's other work leaves it, a blocked one about 0. Elsewhere, the
 * process's CPU time (cpuShare), which a loaded machine can keep low even when it spins.
 * Measured over each half of `ms`, the lesser counts: a spin lasts as long as its cause and fills
 * both, while a burst of real work (a few wakeups left waiting for a CPU on a loaded machine,
 * which CI saw score 100% once) fills one at most.
 */
async function busyShare(pid: number, ms: number): Promise<number> {
  const wait = () => new Promise((resolve) => setTimeout(resolve, ms / 2))
  const busyNs = () => fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ').slice(0, 2).reduce((sum, ns) => sum + Number(ns), 0)
  const half = async () => {
    if (!LINUX) return (await cpuShare(pid, wait))[1]
    const before = busyNs()
    const start = process.hrtime.bigint()
    await wait()
    return (busyNs() - before) / Number(process.hrtime.bigint() - start)
  }
  return Math.min(await half(), await half())
}

/** The clients each test runs. */
const SCENARIOS: [string, Scenario][] = [
  ['garbage, then a hang-up', async (_t, { port }) => garbage(port)],
  ['a reset (RST) right after a request', async (_t, { port }, kind) => resetAfterRequest(port, kind)],
  ['a half-close after a request: the whole reply, then EOF', async (t, { port }, kind) => {
    t.is(await halfClose(port, kind, 5), 5, 'clients that got the whole reply')
  }],
  ['clients gone mid-request (FIN or RST)', async (_t, { port }, kind) => goneMidRequest(port, kind)],
  ['a request larger than the server takes', async (t, { port }, kind) => {
    const closedByServer = await oversized(port, kind)
    // The one-request HTTP servers buffer a request until it is complete: they must refuse one
    // that never ends. hello-world-fast and the echo servers keep no request, so have no limit.
    if (kind === 'http') t.true(closedByServer, 'the server closes a request that outgrows its limit')
  }],
  ['slowloris clients: others are served meanwhile', async (t, { port }, kind) => {
    await t.notThrowsAsync(slowloris(port, kind, () => probe(port, kind)))
  }],
  ['clients that pipeline and never read: others are served meanwhile', async (t, { port }, kind) => {
    // On the WebAssembly backend a request costs several times more, and the flood's replies fill
    // the socket host's loopback buffers (megabytes, not SO_SNDBUF) before its sends block: the
    // probe waits its turn longer there (CI saw hello-world-async take over 3 s).
    await t.notThrowsAsync(pipelineNoRead(port, kind, () => probe(port, kind, WASM ? 15_000 : 3000)))
  }],
  ['a connect storm', async (t, { port }, kind) => {
    t.is(await connectStorm(port, kind), 64, 'clients that connected')
  }],
  ['urgent (MSG_OOB) data mid-request: no spinning while it is pending, and the request answered without it', async (t, server, kind) => {
    // A loop that waits for EPOLLPRI, or is woken by it and reads no urgent byte, spins while it is held.
    const [busy, replies] = await urgentData(server.port, kind, () => busyShare(server.process.pid!, 1000))
    t.true(busy < 0.5, `the server was busy ${(busy * 100).toFixed(0)}% of the time urgent bytes were pending`)
    t.deepEqual(replies.map((reply) => answered(kind, reply)), [true, true, true], `replies: ${JSON.stringify(replies)}`)
  }],
  ['clients that connect and go without a byte (FIN or RST): the server closes its side', async (t, { port }) => {
    t.is(await silentHangUp(port), 5, 'half-closing clients the server closed')
  }],
  ['200 idle connections: the server stays idle, and serves a normal request meanwhile', async (t, server, kind, baseline) => {
    const pid = server.process.pid!
    await idleCrowd(server.port, pid, baseline.sockets, async () => {
      const busy = await busyShare(pid, 1000)
      t.true(busy < 0.5, `the server was busy ${(busy * 100).toFixed(0)}% of the time it held 200 idle connections`)
      await t.notThrowsAsync(probe(server.port, kind), 'a normal request is served promptly')
    })
  }],
  ['a request arriving one byte at a time: answered once, whole', async (t, { port }, kind) => {
    const reply = await trickle(port, kind)
    t.true(answered(kind, reply), `reply: ${JSON.stringify(reply)}`)
    if (kind !== 'echo') t.is(reply.split(' 200 OK\r\n').length - 1, 1, 'one response')
  }],
]

for (const { file, kind, settled } of EXAMPLES) {
  let current: [Launched, FdCount] | undefined
  for (const [name, scenario] of SCENARIOS) {
    test.serial(`${file}: ${name}`, async (t) => {
      if (current === undefined || !current[0].alive()) current = await startServer(file, kind, settled)
      const [server, baseline] = current
      try {
        await scenario(t, server, kind, baseline)
      } catch (e) {
        // A client's error because the server died (ECONNREFUSED...): stillServing says why it died.
        await until(1000, 'the server exiting', () => !server.alive()).catch(() => {
          throw e
        })
      }
      await stillServing(t, server, kind, baseline)
    })
  }

  test.serial(`${file}: out of fds (EMFILE) under ulimit -n 64: no spinning, and service resumes once fds are free`, async (t) => {
    const [server, baseline] = await startServer(file, kind, settled, 64)
    const pid = server.process.pid!
    const clients = await exhaust(server.port, pid, 100)
    t.teardown(() => clients.forEach((sock) => sock.destroy()))
    if (!server.alive()) return t.fail(`the server exited: ${server.stderr().slice(-2000)}`)
    const fds = countFds(pid).total
    t.true(fds >= 60, `the server holds ${fds} fds of its 64`)
    // Saturated, with a new client every 20 ms: its CPU over that second must stay low.
    const [knocked, share] = await cpuShare(pid, () => knock(server.port))
    clients.push(...knocked)
    t.true(share < 0.2, `the server used ${(share * 100).toFixed(0)}% of a core while out of fds`)
    const turnedAway = clients.filter((sock) => sock.readableEnded).length
    t.log(`${fds} fds held, ${(share * 100).toFixed(0)}% of a core, ${turnedAway} of ${clients.length} clients turned away`)
    t.true(turnedAway >= 40, `of ${clients.length} clients, ${turnedAway} turned away: the others are held or left waiting`)
    clients.forEach((sock) => sock.destroy())
    // Until the server has seen those clients go, it is still out of fds and rightly turns a new
    // client away: wait for their fds to be freed, then ask for service.
    await until(5000, 'the server freeing the clients\' fds', () => countFds(pid).sockets === baseline.sockets)
    await stillServing(t, server, kind, baseline)
    await server.stop()
  })
}

test.serial('IOLoop: a handler whose peer has reset is closed and removed, silently; an accept() error is reported and the listener kept', async (t) => {
  const loop = new IOLoop()
  const server = createServer(['127.0.0.1', 0])
  t.teardown(() => {
    loop.close()
    server.close()
  })
  const errors: unknown[] = []
  loop.onError = (e) => errors.push(e)
  void loop.start()
  const port = server.getsockname()[1] as number
  const client = createConnection(['127.0.0.1', port])
  const [conn] = server.accept()
  client.setsockopt(SOL_SOCKET, SO_LINGER, Buffer.from(new Int32Array([1, 0]).buffer))
  client.close() // linger 0 s: the close sends RST
  let calls = 0
  loop.addHandler(conn, () => {
    calls++
    conn.recv(1024) // throws ConnectionResetError
  }, IOLoop.READ)
  await until(2000, 'the loop closing the reset connection', () => conn.closed)
  t.is(calls, 1)
  t.deepEqual(errors, [])

  const aborted = new ConnectionAbortedError(errno.ECONNABORTED, 'accept')
  loop.addHandler(server, () => {
    loop.removeHandler(server)
    throw aborted // about a connection not yet accepted, not the listener
  }, IOLoop.READ)
  const another = createConnection(['127.0.0.1', port])
  t.teardown(() => another.close())
  await until(2000, 'the accept error reaching onError', () => errors.length > 0)
  t.deepEqual(errors, [aborted])
  t.false(server.closed)
})
