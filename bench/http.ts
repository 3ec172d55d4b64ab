/**
 * HTTP/1.1 keep-alive "Hello, world!" under wrk: fdpoll's examples/hello-world-fast.ts beside
 * node:http, node:net, a C epoll server and Python's select.epoll (bench/servers/), all answering
 * with the same 76 bytes, and fdpoll's coroutine server examples/hello-world-async.ts (one async
 * function per connection on IOStream; its reply is hello-world.ts's 129 bytes). Three scenarios: 50 keep-alive connections, 1,000 connections, and
 * pipelining depth 16. Each server runs pinned to CPU 0 and wrk to CPU 1. Per run, after 1 s of
 * warm-up load: req/s and p99 latency from wrk, the server's CPU time per request (utime + stime
 * from /proc/PID/stat over the wrk window), its peak RSS (VmHWM), and wrk's errors (warm-up
 * included). Every round runs every scenario and every server once, in turn, each server freshly
 * started; each scenario's table holds the medians over 3 rounds (errors summed), every figure
 * with its ratio to node:http, then the issue's goals (ratios to the C server) are checked.
 * Last, for each scenario, fdpoll and C are started once and loaded in turn, 6 times 3 s each:
 * the ratios of those pairs are steadier on a noisy machine than medians of separate runs. The
 * fdpoll server also runs on the mio backend (the addon built with the `mio` feature by
 * scripts/mio-addon.mjs, loaded through NAPI_RS_NATIVE_LIBRARY_PATH), in the rounds and in the
 * paired runs, so its CPU per request shows beside the epoll backend's; and on the WebAssembly
 * backend (FDPOLL_BACKEND=wasm; `npm run build:wasm` first), in the rounds. About 8 minutes;
 * installs wrk from Debian's packages when it is missing.
 *
 * Run: node --import tsx bench/http.ts [--quick] [--connections N] [--pipeline N] [--duration S]
 *        [--fdpoll FILE] [--write-chart]   (--quick: 1 round of 2 s; --connections/--pipeline:
 *        that one scenario only; --fdpoll: another fdpoll server to bench). Every run draws the
 *        CPU µs/request of each scenario as an SVG bar chart in bench/out/cpu-per-request.svg;
 *        --write-chart also writes the committed bench/cpu-per-request.svg (the README's chart).
 *
 * bench/idle.ts imports the servers, their start and stop, wrk's run and parse, and cpuTicks from
 * here.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import { barChart } from './chart.js'

const ROOT = path.join(__dirname, '..')
const OUT = path.join(__dirname, 'out') // gitignored: the C build and the wrk Lua script
const RESPONSE = 'HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nContent-Length: 13\r\n\r\nHello, world!'

function fail(message: string): never {
  throw new Error(`bench aborted: ${message}`)
}

/** The value of `--name V` or `--name=V`, or `fallback`. */
function flag(name: string, fallback: string): string {
  const i = process.argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`))
  if (i < 0) return fallback
  const value = process.argv[i].includes('=') ? process.argv[i].split('=').slice(1).join('=') : process.argv[i + 1]
  return value ?? fail(`--${name} needs a value`)
}

function positiveInt(name: string, fallback: number): number {
  const value = Number(flag(name, String(fallback)))
  if (!Number.isInteger(value) || value < 1) fail(`--${name} must be a positive integer`)
  return value
}

const QUICK = process.argv.includes('--quick')
const ROUNDS = QUICK ? 1 : 3
const DURATION = positiveInt('duration', QUICK ? 2 : 5) // seconds; wrk takes whole seconds
const WARMUP = 1 // seconds of load before each measured run
const PAIRS = QUICK ? 2 : 6 // paired fdpoll/C runs, after the rounds
const PAIR_SECONDS = 3

/** A load: wrk's connection count and the requests written back to back per send. */
export interface Scenario { title: string; connections: number; pipeline: number }
const CHOSEN = process.argv.some((a) => /^--(connections|pipeline)(=|$)/.test(a))
const SCENARIOS: Scenario[] = CHOSEN
  ? [{ title: 'chosen load', connections: positiveInt('connections', 50), pipeline: positiveInt('pipeline', 1) }]
  : [
      { title: '50 keep-alive connections', connections: 50, pipeline: 1 },
      { title: '1,000 keep-alive connections', connections: 1000, pipeline: 1 },
      { title: 'pipelining depth 16, 50 connections', connections: 50, pipeline: 16 },
    ]
const WRITE_CHART = process.argv.includes('--write-chart')
const FDPOLL = path.resolve(flag('fdpoll', path.join(ROOT, 'examples/hello-world-fast.ts')))
/** A path as shown: relative to the repository when inside it. */
const shown = (file: string) => (path.relative(ROOT, file).startsWith('..') ? file : path.relative(ROOT, file))

export interface Server { name: string; cmd: string; args: string[]; env?: Record<string, string> }
/** fdpoll's coroutine server (issue 12): one async function per connection on IOStream. */
const COROUTINES: Server = {
  name: 'fdpoll coroutines (examples/hello-world-async.ts)', cmd: process.execPath,
  args: ['--import', 'tsx', path.join(ROOT, 'examples/hello-world-async.ts')],
}
export const SERVERS: Server[] = [
  { name: `fdpoll (${shown(FDPOLL)})`, cmd: process.execPath, args: ['--import', 'tsx', FDPOLL] },
  { name: 'node:http', cmd: process.execPath, args: [path.join(__dirname, 'servers/node-http.js')] },
  { name: 'node:net', cmd: process.execPath, args: [path.join(__dirname, 'servers/node-net.js')] },
  { name: 'C epoll', cmd: path.join(OUT, 'epoll-server'), args: [] },
  { name: 'Python select.epoll', cmd: 'python3', args: [path.join(__dirname, 'servers/python-epoll.py')] },
  COROUTINES,
]

/** The fdpoll server on the mio backend; its addon is built (or found current) in main(). */
const FDPOLL_MIO: Server = { ...SERVERS[0], name: `${SERVERS[0].name}, mio backend` }
/** The fdpoll server on the WebAssembly backend (issue 11: where no native binary fits). */
const FDPOLL_WASM: Server = { ...SERVERS[0], name: `${SERVERS[0].name}, WebAssembly backend`, env: { FDPOLL_BACKEND: 'wasm' } }
/** This bench's servers: SERVERS with the mio and WebAssembly rows after the fdpoll one. */
const HTTP_SERVERS: Server[] = [SERVERS[0], FDPOLL_MIO, FDPOLL_WASM, ...SERVERS.slice(1)]

interface Result { rps: number; cpuUsPerReq: number; p99Us: number; rssMiB: number; errors: number }

const notes: string[] = []
const HAS_TASKSET = !spawnSync('taskset', ['-V']).error
const NCPU = os.cpus().length
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

/** `cmd args` pinned to `cpu` with taskset (which execs, so the pid stays the command's). */
export function pinned(cpu: number, cmd: string, args: string[]): [string, string[]] {
  return HAS_TASKSET && cpu < NCPU ? ['taskset', ['-c', String(cpu), cmd, ...args]] : [cmd, args]
}

// Every child is tracked and killed on any way out: error, signal or normal exit.
const children = new Set<ChildProcess>()
export function track(child: ChildProcess): ChildProcess {
  children.add(child)
  child.on('exit', () => children.delete(child))
  return child
}
function killAll(): void {
  for (const child of children) child.kill('SIGKILL')
}
process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}

/** Starts a server on a free port; resolves once it prints its "Serving on" line (an HTTP or a TCP address). */
export function startServer(server: Server): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const [cmd, args] = pinned(0, server.cmd, server.args)
  const child = track(spawn(cmd, args, { cwd: ROOT, env: { ...process.env, PORT: '0', ...server.env }, stdio: ['ignore', 'pipe', 'pipe'] }))
  let stderr = ''
  child.stderr!.on('data', (d) => { if (stderr.length < 10_000) stderr += d })
  return new Promise((resolve, reject) => {
    let firstLine = ''
    let seen = false
    const timer = setTimeout(() => reject(new Error(`${server.name} printed no "Serving on" line within 20 s`)), 20_000)
    child.stdout!.on('data', (d) => { // keeps draining stdout afterwards so a chatty server never blocks
      if (seen) return
      firstLine += d
      const nl = firstLine.indexOf('\n')
      if (nl < 0) return
      seen = true
      clearTimeout(timer)
      const m = /^Serving on (?:http:\/\/127\.0\.0\.1:(\d+)\/|tcp:\/\/127\.0\.0\.1:(\d+))$/.exec(firstLine.slice(0, nl))
      if (m) resolve({ child, port: Number(m[1] ?? m[2]), stderr: () => stderr.trim() })
      else reject(new Error(`${server.name}: first stdout line is not "Serving on http://127.0.0.1:PORT/" (or tcp://127.0.0.1:PORT): ${JSON.stringify(firstLine.slice(0, nl))}`))
    })
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot start ${server.name}: ${e.message}`)) })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${server.name} exited (${code ?? signal}) before serving${stderr ? `: ${stderr.trim()}` : ''}`))
    })
  })
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
export async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000)
  await exited
  clearTimeout(timer)
}

/** One GET on a fresh connection: the raw response (headers + Content-Length bytes of body). */
export function probe(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1')
    let got = ''
    const finish = (err: Error | null, text = got) => {
      clearTimeout(timer)
      sock.destroy()
      if (err) reject(err)
      else resolve(text)
    }
    const timer = setTimeout(() => finish(new Error('no complete response within 5 s')), 5000)
    sock.on('connect', () => sock.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`))
    sock.on('data', (d) => {
      got += d.toString('latin1')
      const end = got.indexOf('\r\n\r\n')
      const length = end < 0 ? null : /\r\ncontent-length:\s*(\d+)/i.exec(got.slice(0, end))
      if (length && got.length >= end + 4 + Number(length[1])) finish(null, got.slice(0, end + 4 + Number(length[1])))
    })
    sock.on('error', (e) => finish(e))
    sock.on('close', () => finish(null))
  })
}

/** wrk's arguments for `scenario`, without the URL. */
function wrkArgs(scenario: Scenario, seconds = DURATION): string[] {
  const script = scenario.pipeline > 1 ? ['-s', path.relative(ROOT, pipelineScript(scenario.pipeline))] : []
  return ['-t1', `-c${scenario.connections}`, `-d${seconds}s`, '--latency', ...script]
}

/** Runs wrk (pinned to CPU 1) against `port` for `seconds`; resolves with its stdout. */
export function runWrk(port: number, scenario: Scenario, seconds = DURATION): Promise<string> {
  const args = [...wrkArgs(scenario, seconds), `http://127.0.0.1:${port}/`]
  const [cmd, cmdArgs] = pinned(1, 'wrk', args)
  const child = track(spawn(cmd, cmdArgs, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = ''
  let err = ''
  child.stdout!.on('data', (d) => { out += d })
  child.stderr!.on('data', (d) => { err += d })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000)
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run wrk: ${e.message}`)) })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve(out)
      else reject(new Error(`wrk exited (${code ?? signal}): ${(err || out).trim()}`))
    })
  })
}

/** req/s, total requests, p99 (µs) and errors (socket errors + non-2xx/3xx) from wrk's output. */
export function parseWrk(out: string): { rps: number; requests: number; p99Us: number; errors: number } {
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out)
  const requests = /(\d+) requests in /.exec(out)
  const p99 = /^\s*99(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$/m.exec(out)
  if (!rps || !requests || !p99) fail(`cannot parse wrk output:\n${out}`)
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out)
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out)
  const errors = (sock ? sock.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0)
  const unit = { us: 1, ms: 1e3, s: 1e6, m: 60e6 }[p99[2] as 'us' | 'ms' | 's' | 'm']
  return { rps: Number(rps[1]), requests: Number(requests[1]), p99Us: Number(p99[1]) * unit, errors }
}

/** utime + stime of `pid` (all its threads), in clock ticks. */
export function cpuTicks(pid: number): number {
  const [user, system] = cpuSplit(pid)
  return user + system
}

/** utime and stime of `pid` (all its threads), in clock ticks. */
function cpuSplit(pid: number): [number, number] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields from 3 (state) on
  return [Number(fields[11]), Number(fields[12])] // fields 14 and 15
}

function maxRssMiB(pid: number): number {
  const hwm = /^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return hwm ? Number(hwm[1]) / 1024 : NaN
}

/** One run: start, check, load with wrk, measure, stop. */
async function benchOne(server: Server, scenario: Scenario): Promise<Result> {
  const { child, port, stderr } = await startServer(server)
  try {
    let response: string
    try {
      response = await probe(port)
    } catch (e) {
      fail(`${server.name}: test request failed: ${(e as Error).message}`)
    }
    const body = response.slice(response.indexOf('\r\n\r\n') + 4)
    if (!/^HTTP\/1\.[01] 200 /.test(response) || response.indexOf('\r\n\r\n') < 0 || body !== 'Hello, world!') {
      fail(`${server.name}: test request did not return 200 "Hello, world!", got ${JSON.stringify(response)}`)
    }
    const note = `${server.name}: response bytes differ from the 76-byte reference: ${JSON.stringify(response)}`
    if (response !== RESPONSE && !notes.includes(note)) notes.push(note)

    // JIT compilation and the first accepts happen outside the measured window; errors count
    const warmupErrors = parseWrk(await runWrk(port, scenario, WARMUP)).errors
    const pid = child.pid!
    const before = cpuTicks(pid)
    const wrk = parseWrk(await runWrk(port, scenario))
    if (child.exitCode !== null || child.signalCode !== null) fail(`${server.name} died during the run: ${stderr()}`)
    const cpuSeconds = (cpuTicks(pid) - before) / CLK_TCK
    const rssMiB = maxRssMiB(pid)
    const err = `${server.name} stderr: ${stderr().split('\n').slice(0, 3).join(' / ')}`
    if (stderr() && !notes.includes(err)) notes.push(err)
    // wrk's percentiles are wrong when pipelining: it records one latency per batch but corrects
    // for coordinated omission with a per-response interval (the 99% line often reads 0.00us)
    const p99Us = scenario.pipeline > 1 || wrk.p99Us === 0 ? NaN : wrk.p99Us
    return { rps: wrk.rps, cpuUsPerReq: (cpuSeconds / wrk.requests) * 1e6, p99Us, rssMiB, errors: warmupErrors + wrk.errors }
  } finally {
    await stopServer(child)
  }
}

/** One paired comparison: µs per request of user and system time, for fdpoll, C and fdpoll on mio. */
interface Pair { fdpoll: [number, number]; c: [number, number]; mio: [number, number] }

/**
 * fdpoll's server, the C server and fdpoll's server on the mio backend started once and loaded in
 * turn, PAIRS times each for PAIR_SECONDS, under `scenario`: the machine's drift between runs
 * (this bench's VM flips between two speeds) then hits every side of each pair alike, so the
 * ratios are steadier than medians of separate runs.
 */
async function paired(scenario: Scenario): Promise<Pair[]> {
  const servers = [SERVERS[0], SERVERS.find((s) => s.name === 'C epoll')!, FDPOLL_MIO]
  const started = await Promise.all(servers.map((server) => startServer(server)))
  try {
    for (const { port } of started) await runWrk(port, scenario, WARMUP)
    const pairs: Pair[] = []
    for (let i = 0; i < PAIRS; i++) {
      const costs: [number, number][] = []
      for (const { child, port } of started) {
        const before = cpuSplit(child.pid!)
        const { requests } = parseWrk(await runWrk(port, scenario, PAIR_SECONDS))
        const after = cpuSplit(child.pid!)
        costs.push([0, 1].map((k) => ((after[k] - before[k]) / CLK_TCK / requests) * 1e6) as [number, number])
      }
      pairs.push({ fdpoll: costs[0], c: costs[1], mio: costs[2] })
    }
    return pairs
  } finally {
    for (const { child } of started) await stopServer(child)
  }
}

/** A wrk script that sends `n` requests back to back in each write (wrk counts each response). */
function pipelineScript(n: number): string {
  const file = path.join(OUT, `pipeline-${n}.lua`)
  fs.mkdirSync(OUT, { recursive: true })
  fs.writeFileSync(file, [
    `-- written by bench/http.ts: ${n} pipelined requests per send`,
    'init = function(args)',
    '  local r = {}',
    `  for i = 1, ${n} do r[i] = wrk.format() end`,
    '  req = table.concat(r)',
    'end',
    'request = function()',
    '  return req',
    'end',
    '',
  ].join('\n'))
  return file
}

/** Compiles bench/servers/epoll-server.c to bench/out/epoll-server (SERVERS' 'C epoll'). */
export function buildCServer(): void {
  fs.mkdirSync(OUT, { recursive: true })
  const cc = spawnSync('cc', ['-O2', '-o', path.join(OUT, 'epoll-server'), path.join(__dirname, 'servers/epoll-server.c')], { encoding: 'utf8' })
  if (cc.error || cc.status !== 0) fail(`cannot compile bench/servers/epoll-server.c: ${cc.error?.message ?? cc.stderr}`)
}

function version(cmd: string, args: string[], re: RegExp): string {
  const run = spawnSync(cmd, args, { encoding: 'utf8' })
  return re.exec(`${run.stdout ?? ''}${run.stderr ?? ''}`)?.[1] ?? '?'
}

/** Installs wrk from Debian's packages when it is not on PATH (needs root, as on CI). */
export function ensureWrk(): void {
  if (!spawnSync('wrk', ['-v']).error) return
  console.error('wrk not found: installing it with apt-get')
  for (const args of [['update', '-qq'], ['install', '-y', '-qq', 'wrk']]) {
    const run = spawnSync('apt-get', args, { stdio: 'inherit' })
    if (run.error || run.status !== 0) fail('wrk is not installed and `apt-get install wrk` failed: install wrk and rerun')
  }
}

/** The median, NaN if any value is (an unknown p99). */
const median = (xs: number[]) => (xs.some(Number.isNaN) ? NaN : [...xs].sort((a, b) => a - b)[xs.length >> 1])
const int = (x: number) => Math.round(x).toLocaleString('en-US')
const latency = (us: number) => (Number.isNaN(us) ? 'n/a' : us < 1000 ? `${us.toFixed(0)} µs` : `${(us / 1000).toFixed(2)} ms`)
const ratio = (x: number, base: number) => (Number.isFinite(x / base) ? `${(x / base).toFixed(2)}×` : 'n/a')

/** One scenario's medians per server. */
interface Summary { rps: number; cpu: number; p99: number; rss: number; errors: number }

function summarize(results: Result[]): Summary {
  return {
    rps: median(results.map((r) => r.rps)),
    cpu: median(results.map((r) => r.cpuUsPerReq)),
    p99: median(results.map((r) => r.p99Us)),
    rss: median(results.map((r) => r.rssMiB)),
    errors: results.reduce((a, r) => a + r.errors, 0),
  }
}

/** A scenario's markdown table: each figure with its ratio to node:http, and fdpoll's to C. */
function printTable(scenario: Scenario, rows: Summary[]): void {
  const base = rows[HTTP_SERVERS.findIndex((s) => s.name === 'node:http')]
  const c = rows[HTTP_SERVERS.findIndex((s) => s.name === 'C epoll')]
  console.log(`### ${scenario.title} (\`wrk ${wrkArgs(scenario).join(' ')}\`)\n`)
  console.log('| server | req/s (× node:http) | CPU µs/req (× node:http) | CPU vs C | p99 (× node:http) | p99 vs C | max RSS MiB | errors |')
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  HTTP_SERVERS.forEach((server, i) => {
    const r = rows[i]
    console.log(
      `| ${server.name} | ${int(r.rps)} (${ratio(r.rps, base.rps)}) | ${r.cpu.toFixed(2)} (${ratio(r.cpu, base.cpu)}) | ${ratio(r.cpu, c.cpu)} | ` +
        `${latency(r.p99)} (${ratio(r.p99, base.p99)}) | ${ratio(r.p99, c.p99)} | ${r.rss.toFixed(1)} | ${r.errors} |`,
    )
  })
  console.log('')
}

/**
 * The issue's goals for fdpoll, each a ratio to the C server (or node:http, or for the mio
 * backend to the epoll one, or for the coroutine server to node:net) in the same run: from the rounds' medians and, for CPU, from the
 * paired runs too.
 */
function printGoals(summaries: Map<Scenario, Summary[]>, pairs: Map<Scenario, Pair[]>): void {
  if (CHOSEN) return // the goals need all three scenarios
  const [fifty, thousand, deep] = SCENARIOS.map((scenario) => summaries.get(scenario)!)
  const at = (rows: Summary[], name: string) => rows[HTTP_SERVERS.findIndex((s) => s.name === name)]
  const vsC = (rows: Summary[], key: 'cpu' | 'p99') => rows[0][key] / at(rows, 'C epoll')[key] // rows[0]: fdpoll
  const pairedCpu = (i: number) => pairedRatio(pairs.get(SCENARIOS[i])!).median
  const mioVsEpoll = (rows: Summary[]) => at(rows, FDPOLL_MIO.name).cpu / rows[0].cpu
  const pairedMio = (i: number) => pairedRatio(pairs.get(SCENARIOS[i])!, 'mio', 'fdpoll').median
  // name, target, from the rounds' medians, from the pairs, limit, whether lower is better
  const goals: [string, string, number, number | null, number, boolean][] = [
    ['50 connections: CPU per request vs C', '≤ 1.12×', vsC(fifty, 'cpu'), pairedCpu(0), 1.12, true],
    ['50 connections: req/s vs node:http', '≥ 3×', fifty[0].rps / at(fifty, 'node:http').rps, null, 3, false],
    ['1,000 connections: CPU per request vs C', '≤ 1.15×', vsC(thousand, 'cpu'), pairedCpu(1), 1.15, true],
    ['1,000 connections: p99 vs C', '≤ 1.5×', vsC(thousand, 'p99'), null, 1.5, true],
    ['1,000 connections: errors', '0', thousand[0].errors, null, 0, true],
    ['pipelining 16: CPU per request vs C', '≤ 1.30×', vsC(deep, 'cpu'), pairedCpu(2), 1.3, true],
    ['mio backend, 50 connections: CPU per request vs epoll', '≤ 1.30×', mioVsEpoll(fifty), pairedMio(0), 1.3, true],
    ['mio backend, 1,000 connections: CPU per request vs epoll', '≤ 1.30×', mioVsEpoll(thousand), pairedMio(1), 1.3, true],
    ['mio backend, pipelining 16: CPU per request vs epoll', '≤ 1.30×', mioVsEpoll(deep), pairedMio(2), 1.3, true],
    ['WebAssembly backend, 50 connections: req/s vs node:http', '≥ 1×', at(fifty, FDPOLL_WASM.name).rps / at(fifty, 'node:http').rps, null, 1, false],
    ...SCENARIOS.map((scenario, i): [string, string, number, null, number, boolean] => {
      const rows = [fifty, thousand, deep][i]
      return [`coroutines (hello-world-async), ${scenario.title}: CPU per request vs node:net`, '< 1×', at(rows, COROUTINES.name).cpu / at(rows, 'node:net').cpu, null, 1, true]
    }),
  ]
  const met = (value: number, limit: number, lower: boolean) => ((lower ? value <= limit : value >= limit) ? 'yes' : 'no')
  const shown = (name: string, value: number) => (name.endsWith('errors') ? String(value) : `${value.toFixed(3)}×`) // 3 places: 1.153 is not met
  console.log('### Goals: fdpoll against the C server (and node:http) in the same run\n')
  console.log('| goal | target | medians of the rounds | met | paired runs | met |')
  console.log('|---|---:|---:|---|---:|---|')
  for (const [name, target, value, pairedValue, limit, lower] of goals) {
    const pairedCells = pairedValue === null ? ' | |' : ` ${shown(name, pairedValue)} | ${met(pairedValue, limit, lower)} |`
    console.log(`| ${name} | ${target} | ${shown(name, value)} | ${met(value, limit, lower)} |${pairedCells}`)
  }
  console.log('')
}

/** The median of a scenario's paired CPU ratios (`of` / `to`: fdpoll / C unless asked), with their range. */
function pairedRatio(pairs: Pair[], of: keyof Pair = 'fdpoll', to: keyof Pair = 'c'): { median: number; min: number; max: number } {
  const ratios = pairs.map((p) => (p[of][0] + p[of][1]) / (p[to][0] + p[to][1]))
  return { median: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) }
}

/** The paired runs: per scenario, the medians of user and system time, and the CPU ratios. */
function printPairs(pairs: Map<Scenario, Pair[]>): void {
  console.log(`### Paired: fdpoll, C and fdpoll on mio started once per scenario, loaded in turn ${PAIRS} times for ${PAIR_SECONDS} s each\n`)
  console.log(
    '| scenario | fdpoll user µs/req | fdpoll system µs/req | C user µs/req | C system µs/req | CPU vs C, median (range) | ' +
      'mio user µs/req | mio system µs/req | mio CPU vs epoll, median (range) |',
  )
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
  const range = (r: { median: number; min: number; max: number }) => `${r.median.toFixed(2)}× (${r.min.toFixed(2)}–${r.max.toFixed(2)})`
  for (const [scenario, runs] of pairs) {
    const cell = (side: keyof Pair, k: number) => median(runs.map((p) => p[side][k])).toFixed(2)
    console.log(
      `| ${scenario.title} | ${cell('fdpoll', 0)} | ${cell('fdpoll', 1)} | ${cell('c', 0)} | ${cell('c', 1)} | ${range(pairedRatio(runs))} | ` +
        `${cell('mio', 0)} | ${cell('mio', 1)} | ${range(pairedRatio(runs, 'mio', 'fdpoll'))} |`,
    )
  }
  console.log('')
}

async function main() {
  if (!fs.existsSync(FDPOLL)) fail(`${shown(FDPOLL)} not found (pass --fdpoll FILE to bench another fdpoll server)`)
  if (!fs.existsSync(path.join(ROOT, 'npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm'))) fail('the WebAssembly build is missing: npm run build:wasm builds it')
  ensureWrk()
  const load = os.loadavg()[0]
  if (load > 1) notes.push(`load average ${load.toFixed(2)} when the bench started: other work shared these CPUs, numbers are noisy`)
  if (!HAS_TASKSET) notes.push('taskset not found: servers and wrk ran unpinned')
  else if (NCPU < 2) notes.push(`only ${NCPU} CPU: wrk ran unpinned, sharing CPU 0 with the server`)
  notes.push('uWebSockets.js: skipped. Its official package is not on the npm registry, and the republished copies there are third-party repacks of its binaries, which this bench does not install')
  if (SCENARIOS.some((s) => s.pipeline > 1)) notes.push("p99 n/a with pipelining: wrk's latency percentiles are invalid there")
  buildCServer()
  const mioAddon = execFileSync(process.execPath, [path.join(ROOT, 'scripts/mio-addon.mjs')], { encoding: 'utf8' }).trim()
  FDPOLL_MIO.env = { NAPI_RS_NATIVE_LIBRARY_PATH: mioAddon }

  const started = Date.now()
  const results = new Map(SCENARIOS.map((scenario) => [scenario, HTTP_SERVERS.map((): Result[] => [])]))
  for (let round = 1; round <= ROUNDS; round++) {
    for (const scenario of SCENARIOS) {
      for (const [i, server] of HTTP_SERVERS.entries()) {
        const r = await benchOne(server, scenario)
        results.get(scenario)![i].push(r)
        console.error(
          `round ${round}/${ROUNDS}, ${scenario.title}, ${server.name}: ${int(r.rps)} req/s, ` +
            `${r.cpuUsPerReq.toFixed(2)} CPU µs/req, p99 ${latency(r.p99Us)}, ${r.errors} errors`,
        )
      }
    }
  }
  const summaries = new Map(SCENARIOS.map((scenario) => [scenario, results.get(scenario)!.map(summarize)]))
  const pairs = new Map<Scenario, Pair[]>()
  for (const scenario of CHOSEN ? [] : SCENARIOS) pairs.set(scenario, await paired(scenario))

  const now = new Date()
  const machine = `${os.cpus()[0].model.trim()}, ${NCPU} cores`
  console.log(
    `${now.toISOString()} | ${machine} | node ${process.version} | ` +
      `python ${version('python3', ['--version'], /Python (\S+)/)} | wrk ${version('wrk', ['-v'], /^wrk (\S+)/)} | ` +
      `server on CPU 0, wrk on CPU 1 | ${DURATION} s per run, median of ${ROUNDS} interleaved round${ROUNDS > 1 ? 's' : ''}, ` +
      `errors summed | ${((Date.now() - started) / 60_000).toFixed(1)} min\n`,
  )
  for (const [scenario, rows] of summaries) printTable(scenario, rows)
  printGoals(summaries, pairs)
  if (!CHOSEN) printPairs(pairs)
  for (const note of notes) console.log(`note: ${note}\n`)

  const chart = barChart(
    'Server CPU time per HTTP request (µs)',
    [
      `${now.toISOString().slice(0, 10)} · ${machine} · node ${process.version}`,
      `wrk -t1 -d${DURATION}s, keep-alive · server on CPU 0, wrk on CPU 1 · median of ${ROUNDS} round${ROUNDS > 1 ? 's' : ''}`,
    ],
    'server CPU µs per request (user + system), lower is better',
    [...summaries].map(([scenario, rows]) => ({
      title: scenario.title,
      bars: HTTP_SERVERS.map((server, i) => ({ label: server.name, value: rows[i].cpu, highlight: server.name.startsWith('fdpoll') })),
    })),
  )
  fs.writeFileSync(path.join(OUT, 'cpu-per-request.svg'), chart)
  if (WRITE_CHART) fs.writeFileSync(path.join(__dirname, 'cpu-per-request.svg'), chart)
  console.error(`chart: ${shown(path.join(OUT, 'cpu-per-request.svg'))}${WRITE_CHART ? ` and ${shown(path.join(__dirname, 'cpu-per-request.svg'))}` : ''}`)
}

if (require.main === module) {
  main()
    .catch((e) => {
      console.error((e as Error).message)
      process.exitCode = 1
    })
    .finally(killAll)
}
