/**
 * Memory per idle keep-alive connection, in the server and in the kernel, and fdpoll at the fd
 * limit. Each server runs pinned to CPU 0 and bench/idle_client.py (which opens connections and
 * holds them idle) on CPU 1.
 *
 * 1. Each of bench/http.ts's five servers is started, warmed with one request, and its VmRSS and
 *    the kernel's slab memory (/proc/meminfo Slab, system-wide) read; the client then opens N
 *    connections and both are read again. The table shows (after - before) / N: the server's
 *    user-space bytes per connection, and the kernel's slab KiB per connection, which counts both
 *    ends (server and client sockets live in this kernel) and the server's epoll item.
 * 2. fdpoll's server and the C epoll server hold M connections, M = this process's hard fd limit
 *    minus 1,000 (servers inherit the soft limit, which must reach M + 200), and while they are
 *    held wrk (on CPU 1) loads the server with 50 more connections (1 s of warm-up, then 5 s): RSS, slab per
 *    connection, req/s, server CPU µs per request (utime + stime from /proc/PID/stat) and errors.
 *
 * bench/coroutines-idle.ts imports the idle client's start and stop and the /proc readers from here.
 *
 * Run: node --import tsx bench/idle.ts [--quick] [--fdpoll FILE]   (--quick: N = M = 2,000
 *      instead of N = 10,000 and M = fd limit - 1,000; --fdpoll: another fdpoll server, as in
 *      bench/http.ts). Takes about 25 s with an fd limit of 20,000, --quick about 20 s.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import {
  SERVERS, Server, buildCServer, cpuTicks, ensureWrk, parseWrk, pinned, probe, runWrk, startServer, stopServer, track,
} from './http.js'

const QUICK = process.argv.includes('--quick')
const CLIENT = path.join(__dirname, 'idle_client.py')
const SETTLE_MS = 300 // lets a server finish what the last request started before RSS is read
const WRK_SECONDS = 5
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

function fail(message: string): never {
  throw new Error(`bench aborted: ${message}`)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

/** The first number after `re` in `file`, or a clear failure. */
function readNumber(file: string, re: RegExp): number {
  const m = re.exec(fs.readFileSync(file, 'utf8'))
  return m ? Number(m[1]) : fail(`no ${re.source} in ${file}`)
}

export const rssKiB = (pid: number) => readNumber(`/proc/${pid}/status`, /^VmRSS:\s+(\d+) kB/m)
/**
 * The anonymous part of VmRSS: the memory the process has allocated, without the pages of its
 * executable and libraries (RssFile), which grow the first time a code path runs.
 */
export const anonKiB = (pid: number) => readNumber(`/proc/${pid}/status`, /^RssAnon:\s+(\d+) kB/m)
/** Kernel slab memory, all caches, system-wide. */
const slabKiB = () => readNumber('/proc/meminfo', /^Slab:\s+(\d+) kB/m)
/** Pages of socket buffers charged to TCP, all sockets. */
const tcpMemPages = () => readNumber('/proc/net/sockstat', /^TCP:.* mem (\d+)/m)
export const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length

/** The soft and hard "Max open files" limits of a process ('self': this one). */
export function fdLimits(pid: number | 'self'): { soft: number; hard: number } {
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(fs.readFileSync(`/proc/${pid}/limits`, 'utf8'))
  if (!m) fail(`no "Max open files" in /proc/${pid}/limits`)
  const value = (s: string) => (s === 'unlimited' ? Infinity : Number(s))
  return { soft: value(m[1]), hard: value(m[2]) }
}

const N = QUICK ? 2_000 : 10_000
const M = QUICK ? 2_000 : fdLimits('self').hard - 1_000

/**
 * Starts the client; resolves with it once it prints 'ready' (all n connections accepted). With
 * `echo`, it talks to an upper-casing echo server (bench/coroutines-idle.ts) instead of HTTP.
 */
export function openIdle(port: number, n: number, { echo = false } = {}): Promise<ChildProcess> {
  const [cmd, args] = pinned(1, 'python3', [CLIENT, String(port), String(n), ...(echo ? ['echo'] : [])])
  const child = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] }))
  let out = ''
  let err = ''
  child.stderr!.on('data', (d) => { err += d })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`idle_client.py: not ready within 180 s ${err.trim()}`)), 180_000)
    child.stdout!.on('data', (d) => {
      out += d
      if (out.startsWith('ready\n')) { clearTimeout(timer); resolve(child) }
    })
    child.on('error', (e) => { clearTimeout(timer); reject(new Error(`cannot run python3: ${e.message}`)) })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`idle_client.py exited (${code ?? signal}) before 'ready': ${(err || out).trim()}`))
    })
  })
}

/** Closes the client's stdin (it then closes its connections and exits); resolves once it has. */
export async function closeIdle(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.stdin!.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

interface Load { rps: number; requests: number; errors: number }

interface Result {
  beforeKiB: number; afterKiB: number // the server's VmRSS
  slabBeforeKiB: number; slabAfterKiB: number
  tcpMemBefore: number; tcpMemAfter: number
  load?: Load & { cpuUsPerReq: number } // with `withLoad`: wrk while the n connections are held
}

/** One server: RSS and slab before and with `n` idle connections, then (`withLoad`) wrk on top. */
async function measure(server: Server, n: number, withLoad: boolean): Promise<Result> {
  const { child, port } = await startServer(server)
  let client: ChildProcess | null = null
  try {
    const pid = child.pid!
    const { soft } = fdLimits(pid)
    if (soft < n + 200) fail(`${server.name}: its fd soft limit is ${soft}, below the ${n + 200} that ${n} connections need (raise it with ulimit -n)`)
    const warm = await probe(port).catch((e: Error) => fail(`${server.name}: warm-up request failed: ${e.message}`))
    if (!warm.endsWith('Hello, world!')) fail(`${server.name}: warm-up request got ${JSON.stringify(warm)}`)
    await sleep(SETTLE_MS)
    const fdsBefore = openFds(pid)
    const beforeKiB = rssKiB(pid)
    const slabBeforeKiB = slabKiB()
    const tcpMemBefore = tcpMemPages()
    client = await openIdle(port, n)
    await sleep(SETTLE_MS)
    const afterKiB = rssKiB(pid)
    const slabAfterKiB = slabKiB()
    const tcpMemAfter = tcpMemPages()
    const held = openFds(pid) - fdsBefore
    if (held < n) fail(`${server.name}: holds ${held} more fds with the client connected, expected ${n}`)
    const result: Result = { beforeKiB, afterKiB, slabBeforeKiB, slabAfterKiB, tcpMemBefore, tcpMemAfter }
    if (withLoad) {
      const active = { title: '50 active', connections: 50, pipeline: 1 }
      await runWrk(port, active, 1) // warm-up, as in bench/http.ts
      const ticks = cpuTicks(pid)
      const load = parseWrk(await runWrk(port, active, WRK_SECONDS))
      result.load = { ...load, cpuUsPerReq: ((cpuTicks(pid) - ticks) / CLK_TCK / load.requests) * 1e6 }
    }
    if (child.exitCode !== null || child.signalCode !== null) fail(`${server.name} died during the run`)
    return result
  } finally {
    if (client) await closeIdle(client)
    await stopServer(child)
  }
}

function version(cmd: string, args: string[], re: RegExp): string {
  const run = spawnSync(cmd, args, { encoding: 'utf8' })
  return re.exec(`${run.stdout ?? ''}${run.stderr ?? ''}`)?.[1] ?? '?'
}

const int = (x: number) => Math.round(x).toLocaleString('en-US')
const mib = (kib: number) => (kib / 1024).toFixed(1)
const bytesPer = (r: Result, n: number) => int(((r.afterKiB - r.beforeKiB) * 1024) / n)
const slabPer = (r: Result, n: number) => ((r.slabAfterKiB - r.slabBeforeKiB) / n).toFixed(2)

async function main() {
  ensureWrk()
  buildCServer()
  const atLimit = SERVERS.filter((s, i) => i === 0 || s.name === 'C epoll')
  const results: Result[] = []
  for (const server of SERVERS) {
    const started = Date.now()
    const r = await measure(server, N, false)
    results.push(r)
    console.error(`${server.name}: ${mib(r.beforeKiB)} -> ${mib(r.afterKiB)} MiB, slab +${int(r.slabAfterKiB - r.slabBeforeKiB)} KiB with ${int(N)} idle (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }
  const limitResults: Result[] = []
  for (const server of atLimit) {
    const started = Date.now()
    const r = await measure(server, M, true)
    limitResults.push(r)
    console.error(`${server.name}: ${mib(r.afterKiB)} MiB with ${int(M)} idle, ${int(r.load!.rps)} req/s, ${r.load!.cpuUsPerReq.toFixed(1)} CPU µs/req (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }

  console.log(
    `${new Date().toISOString()} | ${os.cpus()[0].model.trim()}, ${os.cpus().length} cores | linux ${os.release()} | node ${process.version} | ` +
      `python ${version('python3', ['--version'], /Python (\S+)/)} | wrk ${version('wrk', ['-v'], /^wrk (\S+)/)} | ` +
      `idle keep-alive connections from bench/idle_client.py | server on CPU 0, client and wrk on CPU 1`,
  )
  console.log('')
  console.log(`| server | RSS before MiB | RSS with ${int(N)} idle MiB | bytes per idle connection | kernel slab KiB per connection (both ends) |`)
  console.log('|---|---:|---:|---:|---:|')
  SERVERS.forEach((server, i) => {
    const r = results[i]
    console.log(`| ${server.name} | ${mib(r.beforeKiB)} | ${mib(r.afterKiB)} | ${bytesPer(r, N)} | ${slabPer(r, N)} |`)
  })
  console.log('')
  console.log(`At the fd limit: M = ${int(M)} idle connections held${QUICK ? ' (--quick)' : ` (hard fd limit ${int(fdLimits('self').hard)} - 1,000)`}, then \`wrk -t1 -c50 -d${WRK_SECONDS}s\` on top`)
  console.log('')
  console.log('| server | connections held | RSS MiB | bytes per idle connection | kernel slab KiB per connection (both ends) | req/s with 50 active on top | CPU µs/request | errors |')
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|')
  atLimit.forEach((server, i) => {
    const r = limitResults[i]
    console.log(
      `| ${server.name} | ${int(M)} | ${mib(r.afterKiB)} | ${bytesPer(r, M)} | ${slabPer(r, M)} | ` +
        `${int(r.load!.rps)} | ${r.load!.cpuUsPerReq.toFixed(1)} | ${r.load!.errors} |`,
    )
  })
  const all = [...results, ...limitResults]
  const tcpMem = all.map((r) => r.tcpMemAfter - r.tcpMemBefore)
  console.log(`\nnote: bytes per idle connection: the server's VmRSS growth only (RSS MiB is read with the connections held, before wrk); the kernel's socket structures are kernel memory, in no process's RSS.`)
  console.log(`\nnote: req/s and CPU µs/request come from one ${WRK_SECONDS} s wrk run per server, so they vary more between runs than bench/http.ts's medians.`)
  console.log(
    `\nnote: kernel slab per connection: growth of /proc/meminfo Slab (all slab caches, system-wide, so a little noisy) / connections. ` +
      `It counts both ends of each connection, since the server's and the client's socket live in this kernel (TCP socket, socket inode, ` +
      `file and dentry each), and the server's epoll item. Socket buffers are not slab, and idle connections' are empty: /proc/net/sockstat's ` +
      `TCP mem (pages of socket buffers, all TCP sockets) changed by ${Math.min(...tcpMem)} to ${Math.max(...tcpMem)} pages while the connections opened, over all runs.`,
  )
}

if (require.main === module) {
  main().catch((e) => {
    console.error((e as Error).message)
    process.exitCode = 1
  })
}
