/**
 * Soak: 10 million requests through examples/hello-world-fast.ts, with the server's memory (VmRSS)
 * and open fds read against the requests served so far. Is the curve flat?
 *
 * The load is wrk (`-t1 -c50`, keep-alive, pinned to CPU 1; the server on CPU 0) run in rounds
 * of 1 s until the rounds' summed counts reach the target, one request at a time per connection
 * in odd rounds and pipelined 16 deep in even ones (bench/http.ts's first and third loads), so
 * both of the server's paths soak, and 10 million requests take minutes, not a quarter of an
 * hour, on a busy machine. Each round's count is wrk's own count of completed responses, so the
 * total is exact: it exceeds the target by at most one round, and the server saw at most 50 × 16
 * more requests per round than were counted (those in flight when wrk stops). Each round also
 * opens and closes 50 connections, so the accept and close paths soak too. After each round the
 * bench waits (up to 2 s) for the server's fd count to come back to its start count, then takes
 * a sample: requests so far, VmRSS (/proc/PID/status) and open fds (/proc/PID/fd). One sample a
 * round, so one every 1–1.5 s.
 *
 * The verdict: flat when (1) RSS after the warm-up (the first 10% of the requests) grows by less
 * than 4 MiB: the median of the last 5 samples against the median of the 5 samples from the end
 * of the warm-up (medians so one sample caught in a GC does not decide), and (2) the fds come back
 * to their start count after every round and at the end. Why 4 MiB: the server allocates nothing
 * per request in its steady state, so its RSS only moves with V8's heap and with the pages of its
 * preallocated 16 MiB read area that a busier turn touches for the first time; and over the 9
 * million requests after the warm-up, 4 MiB is less than half a byte per request and, with 50
 * connections a round, from a few hundred bytes to a few KiB per connection (as the rounds
 * number): a leak of one byte per request or of one buffer per connection fails it. The bench
 * prints both figures for its own run.
 *
 * Output: a markdown table of about 20 samples on stdout, with the verdict; every sample in
 * bench/out/soak.csv; the curve as an SVG line chart in bench/out/soak.svg. --write-chart also
 * writes the committed bench/soak.svg (the README's chart). Exits 1 when the curve is not flat.
 *
 * Run: node --import tsx bench/soak.ts [--requests N] [--write-chart] [--fdpoll FILE]
 *      (`npm run bench:soak`; --requests: another target, 10,000,000 by default; --fdpoll:
 *      another fdpoll server, as in bench/http.ts). 3.5 minutes on this project's busy 2-core
 *      machine; installs wrk from Debian's packages when it is missing.
 */
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { lineChart } from './chart.js'
import { SERVERS, type Scenario, ensureWrk, parseWrk, probe, runWrk, startServer, stopServer } from './http.js'

const ROOT = path.join(__dirname, '..')
const OUT = path.join(__dirname, 'out')
const CONNECTIONS = 50
/** The rounds' loads, in turn. */
const LOADS: Scenario[] = [
  { title: 'keep-alive', connections: CONNECTIONS, pipeline: 1 },
  { title: 'pipelining 16', connections: CONNECTIONS, pipeline: 16 },
]
const ROUND_SECONDS = 1
const WARMUP_SHARE = 0.1
const THRESHOLD_MIB = 4
const MEDIAN_OF = 5
const TABLE_ROWS = 20

function fail(message: string): never {
  throw new Error(`soak aborted: ${message}`)
}

/** The --requests target: a positive integer, underscores and commas allowed (10_000_000). */
function target(): number {
  const i = process.argv.findIndex((a) => a === '--requests' || a.startsWith('--requests='))
  if (i < 0) return 10_000_000
  const text = (process.argv[i].includes('=') ? process.argv[i].split('=')[1] : process.argv[i + 1]) ?? ''
  const n = Number(text.replace(/[_,]/g, ''))
  return Number.isSafeInteger(n) && n > 0 ? n : fail(`--requests must be a positive integer, got ${JSON.stringify(text)}`)
}

const rssMiB = (pid: number) => {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))
  return m ? Number(m[1]) / 1024 : fail(`no VmRSS in /proc/${pid}/status`)
}
const openFds = (pid: number) => fs.readdirSync(`/proc/${pid}/fd`).length
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
const int = (x: number) => Math.round(x).toLocaleString('en-US')

/** Resolves with `pid`'s fd count once it is at most `goal`, or with what it is after `ms`. */
async function settledFds(pid: number, goal: number, ms: number): Promise<number> {
  const end = Date.now() + ms
  let fds = openFds(pid)
  while (fds > goal && Date.now() < end) {
    await sleep(5)
    fds = openFds(pid)
  }
  return fds
}

/** One reading, after a round. */
interface Sample { round: number; requests: number; seconds: number; rssMiB: number; fds: number }

async function main() {
  const goal = target()
  ensureWrk()
  const server = SERVERS[0]
  const { child, port, stderr } = await startServer(server)
  const samples: Sample[] = []
  let errors = 0
  let peakMiB = NaN
  const started = Date.now()
  try {
    const pid = child.pid!
    const listening = openFds(pid)
    const reply = await probe(port).catch((e: Error) => fail(`the first request failed: ${e.message}`))
    if (!reply.endsWith('Hello, world!')) fail(`the first request got ${JSON.stringify(reply)}`)
    const startFds = await settledFds(pid, listening, 2000)
    samples.push({ round: 0, requests: 0, seconds: 0, rssMiB: rssMiB(pid), fds: startFds })
    console.error(`${server.name}: pid ${pid}, ${startFds} fds, ${samples[0].rssMiB.toFixed(1)} MiB; ${int(goal)} requests in rounds of ${ROUND_SECONDS} s`)
    let served = 0
    for (let round = 1; served < goal; round++) {
      const wrk = parseWrk(await runWrk(port, LOADS[(round - 1) % LOADS.length], ROUND_SECONDS))
      if (child.exitCode !== null || child.signalCode !== null) fail(`the server died in round ${round}: ${stderr()}`)
      if (wrk.requests === 0) fail(`round ${round} completed no request`)
      served += wrk.requests
      errors += wrk.errors
      const fds = await settledFds(pid, startFds, 2000)
      samples.push({ round, requests: served, seconds: (Date.now() - started) / 1000, rssMiB: rssMiB(pid), fds })
      if (round % 10 === 0) console.error(`round ${round}: ${int(served)} requests, ${samples.at(-1)!.rssMiB.toFixed(1)} MiB, ${fds} fds`)
    }
    peakMiB = Number(/^VmHWM:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024
  } finally {
    await stopServer(child)
  }
  report(server.name, goal, samples, errors, peakMiB, (Date.now() - started) / 1000)
}

/** Prints the table and the verdict, writes the CSV and the chart; sets the exit code. */
function report(name: string, goal: number, samples: Sample[], errors: number, peakMiB: number, seconds: number): void {
  const last = samples.at(-1)!
  const startFds = samples[0].fds
  const warmIndex = samples.findIndex((s) => s.requests >= WARMUP_SHARE * last.requests)
  const warmMiB = median(samples.slice(warmIndex, warmIndex + MEDIAN_OF).map((s) => s.rssMiB))
  const endMiB = median(samples.slice(-MEDIAN_OF).map((s) => s.rssMiB))
  const growth = endMiB - warmMiB
  const afterWarmup = last.requests - samples[warmIndex].requests
  const connections = (last.round - samples[warmIndex].round) * CONNECTIONS
  const strayFds = samples.filter((s) => s.fds !== startFds)
  const flatRss = growth < THRESHOLD_MIB
  const flatFds = strayFds.length === 0
  const now = new Date()
  const machine = `${os.cpus()[0].model.trim()}, ${os.cpus().length} cores`

  console.log(
    `${now.toISOString()} | ${machine} | node ${process.version} | ${name} on CPU 0, wrk -t1 -c${CONNECTIONS} on CPU 1 | ` +
      `${last.round} rounds of ${ROUND_SECONDS} s | ${(seconds / 60).toFixed(1)} min\n`,
  )
  console.log('| requests | RSS MiB | open fds | seconds |')
  console.log('|---:|---:|---:|---:|')
  const shown = new Set(Array.from({ length: TABLE_ROWS + 1 }, (_, i) => Math.round((i * (samples.length - 1)) / TABLE_ROWS)))
  for (const i of shown) {
    const s = samples[i]
    console.log(`| ${int(s.requests)} | ${s.rssMiB.toFixed(1)} | ${s.fds} | ${s.seconds.toFixed(0)} |`)
  }
  console.log('')
  console.log(`requests: ${int(last.requests)} (target ${int(goal)}), ${int(last.requests / seconds)} a second overall; wrk errors: ${errors}`)
  console.log(
    `RSS: ${samples[0].rssMiB.toFixed(1)} MiB at the start, ${warmMiB.toFixed(1)} MiB after the warm-up (${int(samples[warmIndex].requests)} requests), ` +
      `${endMiB.toFixed(1)} MiB at the end (medians of ${MEDIAN_OF} samples), peak ${peakMiB.toFixed(1)} MiB: ` +
      `growth ${growth >= 0 ? '+' : ''}${growth.toFixed(2)} MiB after the warm-up, limit ${THRESHOLD_MIB} MiB ` +
      `(${((THRESHOLD_MIB * 2 ** 20) / afterWarmup).toFixed(2)} bytes a request, ${int((THRESHOLD_MIB * 2 ** 20) / connections)} bytes a connection over ${int(connections)} connections)`,
  )
  console.log(
    `fds: ${startFds} at the start, ${last.fds} at the end; ` +
      (flatFds ? `back to ${startFds} after every one of ${last.round} rounds` : `not back to ${startFds} after ${strayFds.length} rounds (at most ${Math.max(...strayFds.map((s) => s.fds))})`),
  )
  console.log(`verdict: ${flatRss && flatFds ? 'FLAT' : 'NOT FLAT'} (RSS ${flatRss ? 'flat' : 'grows'}, fds ${flatFds ? 'flat' : 'leak'})\n`)
  if (!(flatRss && flatFds)) process.exitCode = 1

  fs.mkdirSync(OUT, { recursive: true })
  const csv = path.join(OUT, 'soak.csv')
  fs.writeFileSync(csv, ['round,requests,seconds,rss_mib,fds', ...samples.map((s) => `${s.round},${s.requests},${s.seconds.toFixed(2)},${s.rssMiB.toFixed(2)},${s.fds}`), ''].join('\n'))
  const chart = lineChart(
    `Soak: ${int(last.requests)} requests through examples/hello-world-fast.ts`,
    [
      `${now.toISOString().slice(0, 10)} · ${machine} · node ${process.version}`,
      `wrk -t1 -c${CONNECTIONS} in ${last.round} rounds of ${ROUND_SECONDS} s (odd: one request at a time, even: pipelining 16) · server on CPU 0, wrk on CPU 1`,
      `RSS ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} MiB after the warm-up (limit ${THRESHOLD_MIB} MiB) · ` +
        `fds back to ${startFds} after every round: ${flatFds ? 'yes' : 'no'} · verdict: ${flatRss && flatFds ? 'flat' : 'NOT FLAT'}`,
    ],
    'samples after each round of load; RSS from /proc/PID/status, fds from /proc/PID/fd',
    'requests served (millions)',
    [
      { title: 'server RSS (MiB)', points: samples.map((s) => [s.requests / 1e6, s.rssMiB]) },
      { title: 'server open fds', points: samples.map((s) => [s.requests / 1e6, s.fds]) },
    ],
    { x: samples[warmIndex].requests / 1e6, label: 'end of warm-up' },
  )
  const svg = path.join(OUT, 'soak.svg')
  fs.writeFileSync(svg, chart)
  const committed = path.join(__dirname, 'soak.svg')
  if (process.argv.includes('--write-chart')) fs.writeFileSync(committed, chart)
  const rel = (file: string) => path.relative(ROOT, file)
  console.error(`samples: ${rel(csv)}; chart: ${rel(svg)}${process.argv.includes('--write-chart') ? ` and ${rel(committed)}` : ''}`)
}

main().catch((e) => {
  console.error((e as Error).message)
  process.exitCode = 1
})
