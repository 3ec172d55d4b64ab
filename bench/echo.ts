/**
 * Echo throughput at 1,000 concurrent connections: the server's CPU time per message for
 * examples/echo-coroutines.ts (one async function per connection on fdpoll's IOLoop), a node:net
 * echo server and an asyncio one (loop.sock_recv / sock_sendall, one coroutine per connection),
 * all upper-casing what they get (bench/servers/). The load is bench/echo_client.py: 1,000
 * connections, each sending MESSAGES messages of 64 bytes one at a time, all at once on one
 * epoll loop, a fixed count in all. Each server runs pinned to CPU 0 and the client to CPU 1.
 * CPU per message is the server's utime + stime (/proc/PID/stat) over the client's run divided by
 * the messages echoed. Every round runs every server once, in turn, each freshly started; the
 * table holds the medians over the rounds, with each figure's ratio to node:net.
 *
 * bench/coroutines-idle.ts imports the servers from here.
 *
 * Run: node --import tsx bench/echo.ts [--quick] [--connections N] [--messages M]
 *      (--quick: 1 round instead of 3; defaults 1,000 connections, 100 messages each). About 2 minutes.
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import os from 'node:os'
import path from 'node:path'
import { type Server, cpuTicks, pinned, startServer, stopServer, track } from './http.js'

const ROOT = path.join(__dirname, '..')
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

function fail(message: string): never {
  throw new Error(`bench aborted: ${message}`)
}

/** The value of `--name N` or `--name=N` as a positive integer, or `fallback`. */
function positiveInt(name: string, fallback: number): number {
  const i = process.argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return fallback
  const value = Number(process.argv[i].includes('=') ? process.argv[i].split('=')[1] : process.argv[i + 1])
  if (!Number.isInteger(value) || value < 1) fail(`--${name} must be a positive integer`)
  return value
}

const ROUNDS = process.argv.includes('--quick') ? 1 : 3
const CONNECTIONS = positiveInt('connections', 1000)
const MESSAGES = positiveInt('messages', 100)

export const ECHO_SERVERS: Server[] = [
  { name: 'fdpoll coroutines (examples/echo-coroutines.ts)', cmd: process.execPath, args: ['--import', 'tsx', path.join(ROOT, 'examples/echo-coroutines.ts')] },
  { name: 'node:net', cmd: process.execPath, args: [path.join(__dirname, 'servers/node-net-echo.js')] },
  { name: 'Python asyncio (sock_recv)', cmd: 'python3', args: [path.join(__dirname, 'servers/python-asyncio-echo.py')] },
]

/** Starts echo_client.py against `port`; resolves with it once all its connections are open. */
function openClient(port: number): Promise<{ child: ChildProcess; done: Promise<{ seconds: number; messages: number }> }> {
  const [cmd, args] = pinned(1, 'python3', [path.join(__dirname, 'echo_client.py'), String(port), String(CONNECTIONS), String(MESSAGES)])
  const child = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] }))
  let out = ''
  let err = ''
  child.stderr!.on('data', (d) => { err += d })
  let finish: (result: { seconds: number; messages: number }) => void
  let abort: (error: Error) => void
  const done = new Promise<{ seconds: number; messages: number }>((resolve, reject) => { finish = resolve; abort = reject })
  done.catch(() => {})
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`echo_client.py: not ready within 60 s ${err.trim()}`)), 60_000)
    child.stdout!.on('data', (d) => {
      out += d
      if (out === 'ready\n') { clearTimeout(timer); resolve({ child, done }) }
      const m = /^ready\ndone ([\d.]+) (\d+)\n/.exec(out)
      if (m) finish({ seconds: Number(m[1]), messages: Number(m[2]) })
    })
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run python3: ${e.message}`)) })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const error = new Error(`echo_client.py exited (${code ?? signal}) before it was done: ${(err || out).trim()}`)
      reject(error)
      abort(error)
    })
  })
}

interface Result { usPerMessage: number; messagesPerSecond: number }

/** One run: start the server, open the connections, then measure its CPU over the client's messages. */
async function benchOne(server: Server): Promise<Result> {
  const { child, port, stderr } = await startServer(server)
  let client: ChildProcess | undefined
  try {
    const opened = await openClient(port)
    client = opened.child
    const pid = child.pid!
    const before = cpuTicks(pid)
    client.stdin!.write('go\n')
    const { seconds, messages } = await opened.done
    const cpuSeconds = (cpuTicks(pid) - before) / CLK_TCK
    if (child.exitCode !== null || child.signalCode !== null) fail(`${server.name} died during the run: ${stderr()}`)
    if (messages !== CONNECTIONS * MESSAGES) fail(`${server.name}: ${messages} messages echoed, expected ${CONNECTIONS * MESSAGES}`)
    return { usPerMessage: (cpuSeconds / messages) * 1e6, messagesPerSecond: messages / seconds }
  } finally {
    if (client && client.exitCode === null) client.kill('SIGKILL')
    await stopServer(child)
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const int = (x: number) => Math.round(x).toLocaleString('en-US')

function version(cmd: string, args: string[], re: RegExp): string {
  const run = spawnSync(cmd, args, { encoding: 'utf8' })
  return re.exec(`${run.stdout ?? ''}${run.stderr ?? ''}`)?.[1] ?? '?'
}

async function main(): Promise<void> {
  const load = os.loadavg()[0]
  const results = ECHO_SERVERS.map((): Result[] => [])
  for (let round = 1; round <= ROUNDS; round++) {
    for (const [i, server] of ECHO_SERVERS.entries()) {
      const r = await benchOne(server)
      results[i].push(r)
      console.error(`round ${round}/${ROUNDS}, ${server.name}: ${r.usPerMessage.toFixed(2)} CPU µs/message, ${int(r.messagesPerSecond)} messages/s`)
    }
  }
  const rows = results.map((runs) => ({ cpu: median(runs.map((r) => r.usPerMessage)), rate: median(runs.map((r) => r.messagesPerSecond)) }))
  const net = rows[ECHO_SERVERS.findIndex((s) => s.name === 'node:net')]
  console.log(
    `${new Date().toISOString()} | ${os.cpus()[0].model.trim()}, ${os.cpus().length} cores | node ${process.version} | ` +
      `python ${version('python3', ['--version'], /Python (\S+)/)} | server on CPU 0, bench/echo_client.py on CPU 1 | ` +
      `${int(CONNECTIONS)} connections × ${MESSAGES} messages of 64 bytes | median of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}\n`,
  )
  console.log('| server | CPU µs/message (× node:net) | messages/s (× node:net) |')
  console.log('|---|---:|---:|')
  ECHO_SERVERS.forEach((server, i) => {
    const r = rows[i]
    console.log(`| ${server.name} | ${r.cpu.toFixed(2)} (${(r.cpu / net.cpu).toFixed(2)}×) | ${int(r.rate)} (${(r.rate / net.rate).toFixed(2)}×) |`)
  })
  const goal = rows[0].cpu / net.cpu
  console.log(`\ngoal (issue 12): echo-coroutines' CPU per message below node:net's: ${goal.toFixed(3)}× — ${goal < 1 ? 'met' : 'not met'}`)
  console.log('\nnote: messages/s is bounded by the Python client on its one core; CPU per message is the figure that ranks the servers.')
  if (load > 1) console.log(`\nnote: load average ${load.toFixed(2)} when the bench started: other work shared these CPUs, numbers are noisy`)
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message)
    process.exitCode = 1
  })
}
