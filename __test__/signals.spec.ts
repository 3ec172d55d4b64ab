/**
 * Faults in the loop (issue 10, item 6): signals arriving at about 1 kHz while the example
 * servers run. Each server gets a SIGUSR2 listener (fixtures/on-sigusr2.cjs, preloaded), so every
 * signal that finds it blocked in epoll_wait, poll or select interrupts that wait with EINTR; a
 * Python process (fixtures/signal-storm.py) sends them, one after the other is delivered, while
 * this process makes real requests, every one of which must be answered.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import { type Kind, probe } from './hostile-clients.js'
import { testIf } from './helpers.js'
import { LINUX } from './inspect.js'
import { HTTP_ADDRESS, TCP_ADDRESS, start, until, within } from './servers.js'

const PRELOAD = path.join(__dirname, 'fixtures', 'on-sigusr2.cjs')
const STORM = path.join(__dirname, 'fixtures', 'signal-storm.py')
/** SIGUSR2's bit in /proc/PID/status's signal masks. */
const SIGUSR2_BIT = 1n << 11n

/** The servers, how they talk, and whether one has settled (ioloop-hello runs a self-check request first). */
const EXAMPLES: { file: string; kind: Kind; waits: string; settled?: (lines: string[]) => boolean }[] = [
  { file: 'hello-world.ts', kind: 'http', waits: 'Epoll.poll(1), blocking' },
  { file: 'hello-world-edge.ts', kind: 'http', waits: 'Epoll.poll(1), blocking, edge-triggered' },
  { file: 'hello-world-fast.ts', kind: 'keepalive', waits: 'fastpath.pollRecv, blocking' },
  { file: 'ioloop-hello.ts', kind: 'http', waits: "IOLoop.start() on Node's loop", settled: (lines) => lines.length >= 2 },
  { file: 'echo-selectors.ts', kind: 'echo', waits: 'DefaultSelector.select(), blocking' },
]

/** Whether process `pid` catches SIGUSR2 (SigCgt in /proc/PID/status): the preload has run. */
function catchesSigusr2(pid: number): boolean {
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return mask !== undefined && (BigInt(`0x${mask}`) & SIGUSR2_BIT) !== 0n
}

for (const { file, kind, waits, settled } of EXAMPLES) {
  testIf(LINUX, 'the signal sender reads /proc to deliver each signal before the next and to see where the server waits', { serial: true })(
    `${file} (${waits}): every request is answered while SIGUSR2 arrives at about 1 kHz`, async (t) => {
    const server = await start(t, file, {
      address: kind === 'echo' ? TCP_ADDRESS : HTTP_ADDRESS,
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${PRELOAD}` },
    })
    const pid = server.process.pid!
    if (settled) await until(5000, `${file} settling after its start`, () => settled(server.lines()))
    t.true(catchesSigusr2(pid), 'the preloaded SIGUSR2 listener is installed')

    const storm = spawn('python3', [STORM, String(pid), '1000'], { stdio: ['pipe', 'pipe', 'pipe'] })
    t.teardown(() => storm.kill('SIGKILL'))
    let out = ''
    let err = ''
    storm.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
    storm.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
    const exited = new Promise<number | null>((resolve) => storm.on('exit', resolve))
    await until(10_000, 'the signal sender starting', () => out.startsWith('started\n'))

    // At least 200 requests, one connection each, and on until 500 signals have gone.
    /** The sender's last count line (0 before the first). */
    const delivered = () => Number(/(\d+)\n(?!.*\n)/s.exec(out)?.[1] ?? 0)
    const began = Date.now()
    let answered = 0
    while (answered < 200 || delivered() < 500) {
      if (Date.now() - began > 30_000) throw new Error(`only ${delivered()} signals went in 30 s`)
      try {
        await probe(server.port, kind) // throws unless answered in full within 3 s
      } catch (e) {
        throw new Error(`request ${answered + 1} failed: ${(e as Error).message}; the server's stderr: ${server.stderr()}`)
      }
      answered++
    }
    storm.stdin.end()
    t.is(await within(10_000, 'the signal sender stopping', exited), 0, err)
    const { sent, in_wait: inWait } = JSON.parse(out.trimEnd().split('\n').at(-1)!) as { sent: number; in_wait: number }
    const seconds = (Date.now() - began) / 1000
    t.log(`${answered} requests answered in ${seconds.toFixed(1)} s; ${sent} signals delivered (${Math.round(sent / seconds)}/s), ${inWait} into a blocked wait`)
    t.true(sent >= 500, `only ${sent} signals went`)
    t.true(inWait >= 100, `only ${inWait} of ${sent} signals found the server blocked in a wait`)
    t.is(server.process.exitCode, null, 'still running')
    t.is(server.stderr(), '')
  })
}
