/**
 * Memory per idle connection when each connection is a coroutine waiting for data: 10,000
 * connections held open by bench/idle_client.py (on CPU 1), each server pinned to CPU 0, its
 * VmRSS read before and with the connections held; the table shows (after - before) / N, in one
 * run. The servers:
 * - examples/echo-coroutines.ts: one async function per connection, waiting in `loop.sockRecv`;
 * - examples/hello-world-async.ts: the same, waiting in `IOStream.readUntil`;
 * - node:net (bench/servers/node-net-echo.js): a net.Socket per connection;
 * - Python asyncio (bench/servers/python-asyncio-echo.py): a task per connection, waiting in
 *   `loop.sock_recv`;
 * - echo-coroutines and node:net again, with V8's young generation capped at 1 MiB
 *   (--max-semi-space-size=1): what is left is the memory the connections keep alive.
 * The echo servers get the client's echo mode (a round trip on every 4th connection), the HTTP
 * one its HTTP mode (a request on every 500th), so every connection has been accepted and its
 * coroutine is waiting when RSS is read. Each server runs twice, freshly started; the table
 * holds the larger figure of the two.
 *
 * Run: node --import tsx bench/coroutines-idle.ts [--quick]   (--quick: 2,000 connections, 1 round).
 * About 4 minutes.
 */
import { type ChildProcess, spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { ECHO_SERVERS } from './echo.js'
import { type Server, startServer, stopServer } from './http.js'
import { closeIdle, fdLimits, openFds, openIdle, rssKiB } from './idle.js'

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

/** One run: the server's RSS growth in bytes per connection with N idle connections. */
async function measure(server: Server, echo: boolean): Promise<{ before: number; after: number }> {
  const { child, port } = await startServer(server)
  let client: ChildProcess | undefined
  try {
    const pid = child.pid!
    if (fdLimits(pid).soft < N + 200) fail(`${server.name}: its fd soft limit is below the ${N + 200} that ${N} connections need (raise it with ulimit -n)`)
    await closeIdle(await openIdle(port, 1, { echo })) // one round trip first: code paths warm, as before a real load
    await sleep(SETTLE_MS)
    const fdsBefore = openFds(pid)
    const before = rssKiB(pid)
    client = await openIdle(port, N, { echo })
    await sleep(SETTLE_MS)
    const after = rssKiB(pid)
    if (openFds(pid) - fdsBefore < N) fail(`${server.name}: holds ${openFds(pid) - fdsBefore} more fds with the client connected, expected ${N}`)
    if (child.exitCode !== null || child.signalCode !== null) fail(`${server.name} died during the run`)
    return { before, after }
  } finally {
    if (client) await closeIdle(client)
    await stopServer(child)
  }
}

const int = (x: number) => Math.round(x).toLocaleString('en-US')

async function main(): Promise<void> {
  const runs = SERVERS.map((): { before: number; after: number }[] => [])
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, { server, echo }] of SERVERS.entries()) {
      const r = await measure(server, echo)
      runs[i].push(r)
      console.error(`round ${round}/${ROUNDS}, ${server.name}: ${(r.before / 1024).toFixed(1)} -> ${(r.after / 1024).toFixed(1)} MiB with ${int(N)} idle`)
    }
  }
  const python = spawnSync('python3', ['--version'], { encoding: 'utf8' }).stdout.trim()
  console.log(
    `${new Date().toISOString()} | ${os.cpus()[0].model.trim()}, ${os.cpus().length} cores | linux ${os.release()} | node ${process.version} | ${python} | ` +
      `${int(N)} idle connections from bench/idle_client.py | server on CPU 0, client on CPU 1 | the larger of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}\n`,
  )
  console.log(`| server | RSS before MiB | RSS with ${int(N)} idle MiB | bytes per idle connection (× node:net) |`)
  console.log('|---|---:|---:|---:|')
  const perConnection = runs.map((rs) => Math.max(...rs.map((r) => ((r.after - r.before) * 1024) / N)))
  const net = perConnection[SERVERS.findIndex(({ server }) => server.name === 'node:net')]
  SERVERS.forEach(({ server }, i) => {
    const worst = runs[i].reduce((a, r) => (r.after - r.before > a.after - a.before ? r : a))
    const before = worst.before / 1024
    const after = worst.after / 1024
    console.log(`| ${server.name} | ${before.toFixed(1)} | ${after.toFixed(1)} | ${int(perConnection[i])} (${(perConnection[i] / net).toFixed(2)}×) |`)
  })
  console.log(`\ngoal (issue 12): ≤ 1,000 bytes per connection waiting in sockRecv: ${int(perConnection[0])} — ${perConnection[0] <= 1000 ? 'met' : 'not met'}`)
  console.log("\nnote: the server's VmRSS growth only; the kernel's socket structures are kernel memory, in no process's RSS (bench/idle.ts reads them).")
}

main().catch((e) => {
  console.error((e as Error).message)
  process.exitCode = 1
})
