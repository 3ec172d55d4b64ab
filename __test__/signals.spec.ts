/**
 * Faults in the loop (issue 10, item 6): signals arriving at about 1 kHz. A Python process
 * (fixtures/signal-storm.py) sends SIGUSR2, each one delivered before the next, to a process that
 * listens for it, so every signal that finds it blocked in epoll_wait, poll or select interrupts
 * that wait with EINTR. The example servers (with the listener preloaded from
 * fixtures/on-sigusr2.cjs) must answer every request of a real client meanwhile, and fdpoll's
 * blocking waits must keep their timeouts.
 */
import test, { type ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

import { DefaultSelector, EPOLLIN, EVENT_READ, Epoll, IOLoop, POLLIN, poll, select } from '../src/index.js'
import { type Kind, probe } from './hostile-clients.js'
import { WASM, pair, testIf } from './helpers.js'
import { LINUX } from './inspect.js'
import { HTTP_ADDRESS, TCP_ADDRESS, start, until, within } from './servers.js'

const PRELOAD = path.join(__dirname, 'fixtures', 'on-sigusr2.cjs')
const STORM = path.join(__dirname, 'fixtures', 'signal-storm.py')
/** SIGUSR2's bit in /proc/PID/status's signal masks. */
const SIGUSR2_BIT = 1n << 11n

/** The sender reads /proc: Linux only. */
const linuxTest = testIf(LINUX, 'the signal sender reads /proc to deliver each signal before the next and to see where its target waits', { serial: true })

/** Whether process `pid` catches SIGUSR2 (SigCgt in /proc/PID/status). */
function catchesSigusr2(pid: number): boolean {
  const mask = /^SigCgt:\s*([0-9a-f]+)$/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  return mask !== undefined && (BigInt(`0x${mask}`) & SIGUSR2_BIT) !== 0n
}

/** A running signal-storm.py. */
interface Storm {
  /** How many signals have been delivered so far, and how many found the target blocked in a wait (both in hundreds of deliveries). */
  counts(): { delivered: number; inWait: number }
  /** Stops it and resolves with how many signals went, and how many of them found the target blocked in a wait. */
  stop(): Promise<{ sent: number; inWait: number }>
}

/** Starts signal-storm.py at 1 kHz against `pid` (for at most `seconds`) and resolves once it runs. */
async function storm(t: ExecutionContext, pid: number, seconds?: number): Promise<Storm> {
  const args = [STORM, String(pid), '1000', ...(seconds === undefined ? [] : [String(seconds)])]
  // On the WebAssembly backend a blocking wait is Atomics.wait: a futex, which a signal does not end with EINTR.
  const env = { ...process.env, STORM_WAITS: WASM ? 'futex' : 'poll,select' }
  const child = spawn('python3', args, { stdio: ['pipe', 'pipe', 'pipe'], env })
  t.teardown(() => child.kill('SIGKILL'))
  let out = ''
  let err = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (err += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve))
  await until(10_000, 'the signal sender starting', () => out.startsWith('started\n'))
  return {
    counts: () => { // its last count line
      const [, delivered = '0', inWait = '0'] = /^(\d+) (\d+)\n(?!.*\n)/ms.exec(out) ?? []
      return { delivered: Number(delivered), inWait: Number(inWait) }
    },
    async stop() {
      child.stdin.end()
      t.is(await within(10_000, 'the signal sender stopping', exited), 0, err)
      const { sent, in_wait: inWait } = JSON.parse(out.trimEnd().split('\n').at(-1)!) as { sent: number; in_wait: number }
      return { sent, inWait }
    },
  }
}

/** The servers, how they talk, how they wait, and whether one has settled (ioloop-hello runs a self-check request first). */
const EXAMPLES: { file: string; kind: Kind; waits: string; settled?: (lines: string[]) => boolean }[] = [
  { file: 'hello-world.ts', kind: 'http', waits: 'Epoll.poll(1), blocking' },
  { file: 'hello-world-edge.ts', kind: 'http', waits: 'Epoll.poll(1), blocking, edge-triggered' },
  { file: 'hello-world-fast.ts', kind: 'keepalive', waits: 'fastpath.pollRecv, blocking' },
  { file: 'ioloop-hello.ts', kind: 'http', waits: "IOLoop.start() on Node's loop", settled: (lines) => lines.length >= 2 },
  { file: 'echo-selectors.ts', kind: 'echo', waits: 'DefaultSelector.select(), blocking' },
]

for (const { file, kind, waits, settled } of EXAMPLES) {
  linuxTest(`${file} (${waits}): every request is answered while SIGUSR2 arrives at about 1 kHz`, async (t) => {
    const server = await start(t, file, {
      address: kind === 'echo' ? TCP_ADDRESS : HTTP_ADDRESS,
      env: { NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(PRELOAD)}` },
    })
    const pid = server.process.pid!
    if (settled) await until(5000, `${file} settling after its start`, () => settled(server.lines()))
    t.true(catchesSigusr2(pid), 'the preloaded SIGUSR2 listener is installed')
    const signals = await storm(t, pid)

    // At least 200 requests, one connection each, and on until 500 signals have gone and 100 of
    // them have interrupted a blocked wait (how many do depends on how busy the server is).
    const began = Date.now()
    let answered = 0
    const enough = ({ delivered, inWait }: { delivered: number; inWait: number }) => delivered >= 500 && inWait >= 100
    while (answered < 200 || !enough(signals.counts())) {
      if (Date.now() - began > 30_000) throw new Error(`not enough signals in 30 s: ${JSON.stringify(signals.counts())}`)
      try {
        await probe(server.port, kind) // throws unless answered in full within 3 s
      } catch (e) {
        throw new Error(`request ${answered + 1} failed: ${(e as Error).message}; the server's stderr: ${server.stderr()}`)
      }
      answered++
    }
    const { sent, inWait } = await signals.stop()
    const seconds = (Date.now() - began) / 1000
    t.log(`${answered} requests answered in ${seconds.toFixed(1)} s; ${sent} signals delivered (${Math.round(sent / seconds)}/s), ${inWait} into a blocked wait`)
    t.true(sent >= 500, `only ${sent} signals went`)
    t.true(inWait >= 100, `only ${inWait} of ${sent} signals found the server blocked in a wait`)
    t.is(server.process.exitCode, null, 'still running')
    t.is(server.stderr(), '')
  })
}

linuxTest('every blocking wait keeps its timeout while SIGUSR2 arrives at about 1 kHz: each EINTR is retried with the time left', async (t) => {
  const listener = () => {}
  process.on('SIGUSR2', listener)
  t.teardown(() => process.off('SIGUSR2', listener))
  const [a] = pair(t) // never readable
  // Each wait lasts 0.3 s. One that restarted its whole timeout after each EINTR would last until
  // the signals stop: 10 s at most.
  const waits: [string, () => unknown][] = [
    ['Epoll.poll(0.3)', () => {
      using ep = new Epoll()
      ep.register(a, EPOLLIN)
      return ep.poll(0.3)
    }],
    ['select(..., 0.3)', () => select([a], [], [], 0.3)],
    ['Poll.poll(300)', () => {
      const p = poll()
      p.register(a, POLLIN)
      return p.poll(300)
    }],
    ['DefaultSelector.select(0.3)', () => {
      using sel = new DefaultSelector()
      sel.register(a, EVENT_READ)
      return sel.select(0.3)
    }],
    ['IOLoop.runSync() until callLater(0.3)', () => {
      using loop = new IOLoop()
      loop.addHandler(a, () => {}, IOLoop.READ)
      loop.callLater(0.3, () => loop.stop())
      loop.runSync()
      return []
    }],
  ]
  const signals = await storm(t, process.pid, 10)
  for (const [name, wait] of waits) {
    const start = process.hrtime.bigint()
    const result = wait()
    const ms = Number(process.hrtime.bigint() - start) / 1e6
    t.deepEqual(result, name.startsWith('select(') ? [[], [], []] : [], name)
    t.true(ms >= 300 && ms < 600, `${name} returned after ${ms} ms`)
  }
  const { sent, inWait } = await signals.stop()
  t.log(`${sent} signals delivered, ${inWait} into a blocked wait`)
  t.true(inWait >= 300, `only ${inWait} of ${sent} signals found this process blocked in a wait`)
})
