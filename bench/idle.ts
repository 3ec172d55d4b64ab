/**
 * Memory per idle keep-alive connection: each of bench/http.ts's five servers is started (pinned
 * to CPU 0), warmed with one request, and its VmRSS read; then bench/idle_client.py (on CPU 1)
 * opens N connections and holds them idle, and VmRSS is read again. The table shows
 * (after - before) / N bytes per connection. Kernel memory (socket structures and buffers) is
 * not in a process's RSS, so this is the server's own user-space cost per connection.
 *
 * Run: node --import tsx bench/idle.ts [--quick] [--fdpoll FILE]   (--quick: 2,000 connections
 *      instead of 10,000; --fdpoll: another fdpoll server, as in bench/http.ts)
 */
import { ChildProcess, spawn, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { SERVERS, Server, buildCServer, pinned, probe, startServer, stopServer, track } from './http.js'

const N = process.argv.includes('--quick') ? 2_000 : 10_000
const CLIENT = path.join(__dirname, 'idle_client.py')
const SETTLE_MS = 300 // lets a server finish what the last request started before RSS is read

function fail(message: string): never {
  throw new Error(`bench aborted: ${message}`)
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function rssKiB(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) : fail(`no VmRSS in /proc/${pid}/status`)
}

const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length

/** Starts the client; resolves with it once it prints 'ready' (all N connections accepted). */
function openIdle(port: number): Promise<ChildProcess> {
  const [cmd, args] = pinned(1, 'python3', [CLIENT, String(port), String(N)])
  const child = track(spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] }))
  let out = ''
  let err = ''
  child.stderr!.on('data', (d) => { err += d })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`idle_client.py: not ready within 60 s ${err.trim()}`)), 60_000)
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
async function closeIdle(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise((resolve) => child.once('exit', resolve))
  child.stdin!.end()
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000)
  await exited
  clearTimeout(timer)
}

interface Result { beforeKiB: number; afterKiB: number }

async function measure(server: Server): Promise<Result> {
  const { child, port } = await startServer(server)
  let client: ChildProcess | null = null
  try {
    const warm = await probe(port).catch((e: Error) => fail(`${server.name}: warm-up request failed: ${e.message}`))
    if (!warm.endsWith('Hello, world!')) fail(`${server.name}: warm-up request got ${JSON.stringify(warm)}`)
    await sleep(SETTLE_MS)
    const pid = child.pid!
    const fdsBefore = openFds(pid)
    const beforeKiB = rssKiB(pid)
    client = await openIdle(port)
    await sleep(SETTLE_MS)
    const afterKiB = rssKiB(pid)
    const held = openFds(pid) - fdsBefore
    if (held < N) fail(`${server.name}: holds ${held} more fds with the client connected, expected ${N}`)
    if (child.exitCode !== null || child.signalCode !== null) fail(`${server.name} died during the run`)
    return { beforeKiB, afterKiB }
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

async function main() {
  buildCServer()
  const results: Result[] = []
  for (const server of SERVERS) {
    const started = Date.now()
    const r = await measure(server)
    results.push(r)
    console.error(`${server.name}: ${mib(r.beforeKiB)} -> ${mib(r.afterKiB)} MiB with ${int(N)} idle (${((Date.now() - started) / 1000).toFixed(1)} s)`)
  }
  console.log(
    `${new Date().toISOString()} | ${os.cpus()[0].model.trim()}, ${os.cpus().length} cores | node ${process.version} | ` +
      `python ${version('python3', ['--version'], /Python (\S+)/)} | N = ${int(N)} idle keep-alive connections ` +
      `(bench/idle_client.py) | server on CPU 0, client on CPU 1`,
  )
  console.log('')
  console.log(`| server | RSS before MiB | RSS with ${int(N)} idle MiB | bytes per idle connection |`)
  console.log('|---|---:|---:|---:|')
  SERVERS.forEach((server, i) => {
    const r = results[i]
    console.log(`| ${server.name} | ${mib(r.beforeKiB)} | ${mib(r.afterKiB)} | ${int(((r.afterKiB - r.beforeKiB) * 1024) / N)} |`)
  })
  console.log('\nnote: VmRSS only: the kernel\'s socket structures and buffers are kernel memory, not in any process\'s RSS.')
}

main().catch((e) => {
  console.error((e as Error).message)
  process.exitCode = 1
})
