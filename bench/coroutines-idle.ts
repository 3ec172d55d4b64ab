/**
 * Memory per idle connection when each connection is a coroutine waiting for data: 10,000
 * connections held open by bench/idle_client.py (on CPU 1), each server pinned to CPU 0, its
 * VmRSS and RssAnon read before and with the connections held; the table shows (after - before)
 * / N of each, in one run. RssAnon leaves out the pages of the executable that the burst runs for
 * the first time (V8's, its garbage collector's among them): those are paid once, not per
 * connection. The servers:
 * - examples/echo-coroutines.ts: one async function per connection, waiting in `loop.sockRecv`;
 * - examples/hello-world-async.ts: the same, waiting in `IOStream.readUntil`;
 * - node:net (bench/servers/node-net-echo.js): a net.Socket per connection;
 * - Python asyncio (bench/servers/python-asyncio-echo.py): a task per connection, waiting in
 *   `loop.sock_recv`;
 * - echo-coroutines and node:net again, with V8's young generation capped at 1 MiB
 *   (--max-semi-space-size=1): what is left is the memory the connections keep alive;
 * - the floor under the Node rows (bench/servers/async-floor.js): N bare async functions, each
 *   waiting on a pending promise, with no socket and no library, started 50 per turn of the loop;
 *   plain and capped. No coroutine built on async functions can cost less per connection.
 * The echo servers get the client's echo mode (a round trip on every 4th connection), the HTTP
 * one its HTTP mode (a request on every 500th), so every connection has been accepted and its
 * coroutine is waiting when RSS is read. Each row runs twice, in a fresh process; the table
 * holds the larger figure of the two.
 *
 * Run: node --import tsx bench/coroutines-idle.ts [--quick]   (--quick: 2,000 connections, 1 round).
 * About 4 minutes.
 */
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { ECHO_SERVERS } from './echo.js'
import { type Server, pinned, startServer, stopServer } from './http.js'
import { anonKiB, closeIdle, fdLimits, openFds, openIdle, rssKiB } from './idle.js'

const ROOT = path.join(__dirname, '..')
const QUICK = process.argv.includes('--quick')
const N = QUICK ? 2_000 : 10_000
const ROUNDS = QUICK ? 1 : 2
const SETTLE_MS = 300 // lets a server finish what the last round trip started before RSS is read

function fail(message: string): never {
  throw new Error(`bench aborted: ${message}`)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** `server` run with node --max-semi-space-size=1. */
function semiSpace1(server: Server): Server {
  return { ...server, name: `${server.name}, --max-semi-space-size=1`, args: ['--max-semi-space-size=1', ...server.args] }
}

/** The servers, and whether each is an echo server (else HTTP). */
const SERVERS: { server: Server; echo: boolean }[] = [
  { server: ECHO_SERVERS[0], echo: true },
  {
    server: { name: 'fdpoll coroutines, IOStream (examples/hello-world-async.ts)', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'examples/hello-world-async.ts')] },
    echo: false,
  },
  ...ECHO_SERVERS.slice(1).map((server) => ({ server, echo: true })),
  // V8 grows its young generation (up to 16 MiB semi-spaces) under the burst of 10,000 accepts:
  // the same two Node servers with it capped at 1 MiB show how much of their RSS is that slack
  ...[ECHO_SERVERS[0], ECHO_SERVERS[1]].map((server) => ({ server: semiSpace1(server), echo: true })),
]

/** A process's VmRSS and RssAnon, in KiB. */
interface Sample { rss: number; anon: number }
/** One run of a row: its memory before and with N connections (or coroutines). */
interface Run { before: Sample; after: Sample }

const sample = (pid: number): Sample => ({ rss: rssKiB(pid), anon: anonKiB(pid) })

/** One run of a server: its memory before and with N idle connections. */
async function measure(server: Server, echo: boolean): Promise<Run> {
  const { child, port } = await startServer(server)
  let client: ChildProcess | undefined
  try {
    const pid = child.pid!
    if (fdLimits(pid).soft < N + 200) fail(`${server.name}: its fd soft limit is below the ${N + 200} that ${N} connections need (raise it with ulimit -n)`)
    await closeIdle(await openIdle(port, 1, { echo })) // one round trip first: code paths warm, as before a real load
    await sleep(SETTLE_MS)
    const fdsBefore = openFds(pid)
    const before = sample(pid)
    client = await openIdle(port, N, { echo })
    await sleep(SETTLE_MS)
    const after = sample(pid)
    if (openFds(pid) - fdsBefore < N) fail(`${server.name}: holds ${openFds(pid) - fdsBefore} more fds with the client connected, expected ${N}`)
    if (child.exitCode !== null || child.signalCode !== null) fail(`${server.name} died during the run`)
    return { before, after }
  } finally {
    if (client) await closeIdle(client)
    await stopServer(child)
  }
}

/** The floor: bench/servers/async-floor.js on CPU 0 with `nodeArgs`, N coroutines. */
function measureFloor(nodeArgs: string[]): Run {
  const [cmd, args] = pinned(0, process.execPath, [...nodeArgs, path.join(__dirname, 'servers/async-floor.js'), String(N)])
  const { before, after, coroutines } = JSON.parse(execFileSync(cmd, args, { encoding: 'utf8', timeout: 60_000 }))
  if (coroutines !== N) fail(`async-floor.js started ${coroutines} coroutines, expected ${N}`)
  return { before, after }
}

const FLOOR = 'floor: bare async functions, no sockets (bench/servers/async-floor.js)'
const FLOOR_CAPPED = 'floor, --max-semi-space-size=1'

/** Every row: a server under the idle client, or the floor. */
const ROWS: { name: string; run: () => Promise<Run> }[] = [
  ...SERVERS.map(({ server, echo }) => ({ name: server.name, run: () => measure(server, echo) })),
  { name: FLOOR, run: async () => measureFloor([]) },
  { name: FLOOR_CAPPED, run: async () => measureFloor(['--max-semi-space-size=1']) },
]

const int = (x: number) => Math.round(x).toLocaleString('en-US')

/** Bytes per connection of one run, by VmRSS or by RssAnon. */
const perConnection = (r: Run, key: keyof Sample) => ((r.after[key] - r.before[key]) * 1024) / N

async function main(): Promise<void> {
  const runs = ROWS.map((): Run[] => [])
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, row] of ROWS.entries()) {
      const r = await row.run()
      runs[i].push(r)
      console.error(`round ${round}/${ROUNDS}, ${row.name}: ${(r.before.rss / 1024).toFixed(1)} -> ${(r.after.rss / 1024).toFixed(1)} MiB with ${int(N)} idle`)
    }
  }
  const python = spawnSync('python3', ['--version'], { encoding: 'utf8' }).stdout.trim()
  console.log(
    `${new Date().toISOString()} | ${os.cpus()[0].model.trim()}, ${os.cpus().length} cores | linux ${os.release()} | node ${process.version} | ${python} | ` +
      `${int(N)} idle connections from bench/idle_client.py | server on CPU 0, client on CPU 1 | the larger of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}\n`,
  )
  console.log(`| server | RSS before MiB | RSS with ${int(N)} idle MiB | bytes of RSS per idle connection (× node:net) | bytes of RssAnon per idle connection (× node:net) |`)
  console.log('|---|---:|---:|---:|---:|')
  const worst = (key: keyof Sample) => runs.map((rs) => Math.max(...rs.map((r) => perConnection(r, key))))
  const rss = worst('rss')
  const anon = worst('anon')
  const row = (name: string) => ROWS.findIndex((r) => r.name === name)
  const net = row('node:net')
  const cell = (figures: number[], i: number) => `${int(figures[i])} (${(figures[i] / figures[net]).toFixed(2)}×)`
  ROWS.forEach(({ name }, i) => {
    const largest = runs[i].reduce((a, r) => (perConnection(r, 'rss') > perConnection(a, 'rss') ? r : a))
    console.log(`| ${name} | ${(largest.before.rss / 1024).toFixed(1)} | ${(largest.after.rss / 1024).toFixed(1)} | ${cell(rss, i)} | ${cell(anon, i)} |`)
  })
  const ours = row(ECHO_SERVERS[0].name)
  const oursCapped = row(semiSpace1(ECHO_SERVERS[0]).name)
  const met = (x: number) => `${int(x)} — ${x <= 1000 ? 'met' : 'not met'}`
  console.log(`\ngoal (issue 12): ≤ 1,000 bytes per connection waiting in sockRecv: by RSS ${met(rss[ours])}; by RssAnon ${met(anon[ours])}`)
  const floor = row(FLOOR)
  const floorCapped = row(FLOOR_CAPPED)
  console.log(
    `floor: a bare async function waiting on a promise, with no socket, costs ${int(rss[floor])} bytes of RSS and ${int(anon[floor])} of RssAnon ` +
      `(${int(rss[floorCapped])} and ${int(anon[floorCapped])} capped); echo-coroutines' connection costs ${int(rss[ours] - rss[floor])} and ` +
      `${int(anon[ours] - anon[floor])} more (${int(rss[oursCapped] - rss[floorCapped])} and ${int(anon[oursCapped] - anon[floorCapped])} capped)`,
  )
  console.log("\nnote: the server's own memory only; the kernel's socket structures are kernel memory, in no process's RSS (bench/idle.ts reads them).")
}

main().catch((e) => {
  console.error((e as Error).message)
  process.exitCode = 1
})
