/**
 * Calls per second of `poll(0)` on an epoll instance with 10,000 registered fds (EPOLLIN) of
 * which exactly 1 is ready: fdpoll `ep.poll(0)`, fdpoll `ep.pollInto(out, 0)` and Python's
 * `select.epoll().poll(0)` (bench/poll_epoll.py, run as a child process once per round).
 * The fds are one FIFO holding a byte plus 9,999 opens of an empty FIFO: plain fs fds that
 * libuv never watches, so nothing drains the ready one. (Node dgram sockets would not do:
 * binding one starts libuv reading it.) Each variant runs for a fixed window, 3 interleaved
 * rounds, median reported.
 *
 * Run: node --import tsx bench/poll.ts [--quick]   (or BENCH_QUICK=1; 0.3 s windows)
 */
import { execFileSync, spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { Epoll, EPOLLIN } from 'fdpoll'

const QUICK = process.argv.includes('--quick') || !!process.env.BENCH_QUICK
const WINDOW = QUICK ? 0.3 : 1.5 // seconds per variant per round
const ROUNDS = 3
const WANTED_FDS = 10_000
const BATCH = 1000 // calls between clock reads

function openFileLimit(): number {
  const line = fs.readFileSync('/proc/self/limits', 'utf8').match(/^Max open files\s+(\S+)/m)
  return line && line[1] !== 'unlimited' ? Number(line[1]) : Infinity
}

function fail(message: string): never {
  throw new Error(`bench aborted: ${message}`)
}

/** Calls `call` (which must return the event count) in batches for `seconds`; returns calls/s. */
function measure(call: () => number, seconds: number): number {
  let calls = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  for (;;) {
    for (let i = 0; i < BATCH; i++) if (call() !== 1) fail('poll(0) did not return exactly 1 event')
    calls += BATCH
    const now = performance.now()
    if (now >= deadline) return (calls * 1000) / (now - start)
  }
}

function runPython(fds: number, seconds: number): { python: string; calls_per_s: number } {
  const script = path.join(__dirname, 'poll_epoll.py')
  const args = [script, '--fds', String(fds), '--seconds', String(seconds)]
  const child = spawnSync('python3', args, { encoding: 'utf8' })
  if (child.error) fail(`cannot run python3: ${child.error.message}`)
  if (child.status !== 0) fail(`python3 poll_epoll.py exited ${child.status}: ${child.stderr.trim()}`)
  return JSON.parse(child.stdout.trim().split('\n').pop()!)
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

function main() {
  const limit = openFileLimit()
  const nfds = Math.min(WANTED_FDS, limit - 100)
  if (nfds < WANTED_FDS) console.log(`note: open-file limit is ${limit}, registering ${nfds} fds instead of ${WANTED_FDS}`)

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-bench-'))
  const fds: number[] = []
  const ep = new Epoll()
  try {
    execFileSync('mkfifo', [path.join(tmp, 'ready'), path.join(tmp, 'idle')])
    const flags = fs.constants.O_RDWR | fs.constants.O_NONBLOCK
    fds.push(fs.openSync(path.join(tmp, 'ready'), flags))
    fs.writeSync(fds[0], 'x') // never read: stays readable (level-triggered)
    while (fds.length < nfds) fds.push(fs.openSync(path.join(tmp, 'idle'), flags))
    for (const fd of fds) ep.register(fd, EPOLLIN)

    const first = ep.poll(0)
    if (first.length !== 1 || first[0][0] !== fds[0]) fail(`expected only fd ${fds[0]} ready, got ${JSON.stringify(first)}`)

    const out = new Int32Array(2 * 1023) // same maxevents as poll()'s default and Python's
    const variants: [string, () => number][] = [
      ['fdpoll `ep.poll(0)`', () => ep.poll(0).length],
      ['fdpoll `ep.pollInto(out, 0)`', () => ep.pollInto(out, 0)],
    ]
    for (const [, call] of variants) measure(call, QUICK ? 0.1 : 0.3) // warm-up

    const rates: number[][] = [[], [], []]
    let pythonVersion = '?'
    for (let round = 0; round < ROUNDS; round++) {
      variants.forEach(([, call], i) => rates[i].push(measure(call, WINDOW)))
      const py = runPython(nfds, WINDOW)
      pythonVersion = py.python
      rates[2].push(py.calls_per_s)
    }

    const names = [...variants.map(([name]) => name), 'Python `select.epoll().poll(0)`']
    const py = median(rates[2])
    console.log(
      `${new Date().toISOString()} | ${os.cpus()[0].model} | node ${process.version} | ` +
        `python ${pythonVersion} | ${nfds} registered fds, 1 ready | ${WINDOW} s windows`,
    )
    console.log('')
    console.log('| variant | calls/s (median of 3) | ns/call | ratio to Python |')
    console.log('|---|---:|---:|---:|')
    names.forEach((name, i) => {
      const rate = median(rates[i])
      console.log(`| ${name} | ${Math.round(rate).toLocaleString('en-US')} | ${(1e9 / rate).toFixed(0)} | ${(rate / py).toFixed(2)}x |`)
    })
  } finally {
    ep.close()
    for (const fd of fds) fs.closeSync(fd)
    fs.rmSync(tmp, { recursive: true, force: true })
  }
}

main()
