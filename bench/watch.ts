/**
 * What `Epoll.watch` costs on Node's loop.
 *
 * Wakeup latency: the time from `b.send()` of one byte on a socketpair to the watch callback for
 * the other end (which reads it), one message outstanding at a time; beside it the same for
 * `setImmediate` (call → callback) and Node's own net stack (`write` on one end of a loopback TCP
 * connection → 'data' on the other). Each runs twice: back-to-back (the next message is sent
 * from a setImmediate queued by the previous callback) and idle (from a 1 ms setTimeout, so the
 * waiting thread and Node's loop are both asleep in epoll_wait when the message is sent).
 *
 * Cost per dispatched event: 100 registered socketpairs all made readable (one byte each), then
 * the time from the last send to the end of the single `watchInto` callback that gets all 100
 * (it sums the fds; draining them is not timed), divided by 100. Beside it the same 100 through
 * a direct `pollInto(out, 0)` (no watch, no wakeup) and through node:net (100 loopback TCP
 * connections: last `write` → 100th 'data' event, which includes libuv reading each byte).
 *
 * Times from process.hrtime.bigint(); median and p99 over the samples (per round for the
 * 100-event rows), after a discarded warm-up.
 *
 * Run: node --import tsx bench/watch.ts [--quick]   (or BENCH_QUICK=1)
 */
import net from 'node:net'
import os from 'node:os'
import { EPOLLIN, Epoll, Socket, socketpair } from 'fdpoll'

const QUICK = process.argv.includes('--quick') || !!process.env.BENCH_QUICK
const BACK_TO_BACK = QUICK ? 500 : 5000 // samples per latency row, next from setImmediate
const IDLE = QUICK ? 100 : 1000 // samples per latency row, next from a 1 ms timer
const ROUNDS = QUICK ? 100 : 1000 // rounds of 100 ready fds
const FDS = 100

const ONE = Buffer.from('x')
const now = () => process.hrtime.bigint()
const us = (ns: bigint) => Number(ns) / 1000

function fail(message: string): never {
  throw new Error(`bench aborted: ${message}`)
}

/** Starts one measurement; calls `done(latency in µs)` when it completes. */
type Trigger = (done: (us: number) => void) => void

type Spacing = 'back-to-back' | 'idle'

/** `n` sequential samples of `trigger` (after `n / 10` discarded), spaced as `spacing` says. */
function sample(trigger: Trigger, n: number, spacing: Spacing): Promise<number[]> {
  const warmup = Math.ceil(n / 10)
  return new Promise((resolve) => {
    const samples: number[] = []
    let taken = 0
    const next = () => trigger((latency) => {
      if (taken++ >= warmup) samples.push(latency)
      if (samples.length === n) resolve(samples)
      else if (spacing === 'back-to-back') setImmediate(next)
      else setTimeout(next, 1)
    })
    next()
  })
}

function stats(samples: number[]): { median: number; p99: number; n: number } {
  const sorted = [...samples].sort((a, b) => a - b)
  return { median: sorted[sorted.length >> 1], p99: sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * 0.99))], n: sorted.length }
}

/** A connected loopback TCP pair: [client, the server's end], Nagle off on both. */
async function tcpPairs(count: number): Promise<{ pairs: [net.Socket, net.Socket][]; close: () => Promise<void> }> {
  const accepted: net.Socket[] = []
  let onAccept: (() => void) | undefined
  const server = net.createServer((sock) => {
    sock.setNoDelay(true)
    accepted.push(sock)
    onAccept?.()
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port
  const clients: net.Socket[] = []
  for (let i = 0; i < count; i++) {
    const client = net.connect(port, '127.0.0.1')
    client.setNoDelay(true)
    await new Promise<void>((resolve) => client.once('connect', resolve))
    clients.push(client)
  }
  while (accepted.length < count) await new Promise<void>((resolve) => (onAccept = resolve))
  // Pair each client with its accepted end by port.
  const byPort = new Map(accepted.map((s) => [s.remotePort, s]))
  const pairs = clients.map((c): [net.Socket, net.Socket] => [c, byPort.get(c.localPort!) ?? fail('unpaired TCP connection')])
  const close = async () => {
    for (const [c, s] of pairs) {
      c.destroy()
      s.destroy()
    }
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return { pairs, close }
}

async function latencies(): Promise<[string, string, number[]][]> {
  const rows: [string, string, number[]][] = []

  // fdpoll watch: b.send() → callback on a's readiness.
  const [a, b] = socketpair()
  const ep = new Epoll()
  ep.register(a, EPOLLIN)
  const buf = Buffer.alloc(16)
  let sentAt = 0n
  let pending: ((us: number) => void) | undefined
  ep.watch(() => {
    const latency = us(now() - sentAt)
    a.recvInto(buf)
    const done = pending ?? fail('a dispatch without a message')
    pending = undefined
    done(latency)
  })
  const watchTrigger: Trigger = (done) => {
    pending = done
    sentAt = now()
    b.send(ONE)
  }

  // setImmediate: call → callback.
  const immediateTrigger: Trigger = (done) => {
    const start = now()
    setImmediate(() => done(us(now() - start)))
  }

  // node:net: client.write() → 'data' on the server's end.
  const tcp = await tcpPairs(1)
  const [client, server] = tcp.pairs[0]
  let writtenAt = 0n
  let tcpPending: ((us: number) => void) | undefined
  server.on('data', () => {
    const latency = us(now() - writtenAt)
    const done = tcpPending ?? fail('TCP data without a message')
    tcpPending = undefined
    done(latency)
  })
  const tcpTrigger: Trigger = (done) => {
    tcpPending = done
    writtenAt = now()
    client.write(ONE)
  }

  for (const spacing of ['back-to-back', 'idle'] as const) {
    const n = spacing === 'back-to-back' ? BACK_TO_BACK : IDLE
    rows.push([`fdpoll \`ep.watch\` wakeup, ${spacing}`, '`b.send()` → watch callback', await sample(watchTrigger, n, spacing)])
    rows.push([`\`setImmediate\`, ${spacing}`, '`setImmediate()` → callback', await sample(immediateTrigger, n, spacing)])
    rows.push([`node:net, ${spacing}`, "`write()` → 'data' (loopback TCP)", await sample(tcpTrigger, n, spacing)])
  }

  ep.close()
  a.close()
  b.close()
  await tcp.close()
  return rows
}

/** Per-event costs with FDS ready at once: µs per event, one sample per round. */
async function perEvent(): Promise<[string, string, number[]][]> {
  const pairs: [Socket, Socket][] = []
  for (let i = 0; i < FDS; i++) pairs.push(socketpair())
  const byFd = new Map(pairs.map(([a]) => [a.fileno(), a]))
  const ep = new Epoll()
  for (const [a] of pairs) ep.register(a, EPOLLIN)
  const out = new Int32Array(4 * FDS)
  const buf = Buffer.alloc(16)
  const sendAll = () => {
    for (const [, b] of pairs) b.send(ONE)
  }
  const drain = (count: number) => {
    for (let i = 0; i < count; i++) byFd.get(out[2 * i])!.recvInto(buf)
  }
  const warmup = Math.ceil(ROUNDS / 10)
  let sink = 0

  // Direct pollInto(out, 0): no watch, no wakeup.
  const direct: number[] = []
  for (let round = 0; round < warmup + ROUNDS; round++) {
    sendAll()
    const start = now()
    const count = ep.pollInto(out, 0)
    for (let i = 0; i < count; i++) sink += out[2 * i]
    const elapsed = us(now() - start)
    if (count !== FDS) fail(`pollInto returned ${count} events, not ${FDS}`)
    drain(count)
    if (round >= warmup) direct.push(elapsed / FDS)
  }

  // watchInto: last send → end of the one callback that gets all FDS events.
  const watched = await new Promise<number[]>((resolve) => {
    const samples: number[] = []
    let round = 0
    let sentAt = 0n
    ep.watchInto(out, (count) => {
      for (let i = 0; i < count; i++) sink += out[2 * i]
      const elapsed = us(now() - sentAt)
      if (count !== FDS) fail(`the watchInto dispatch had ${count} events, not ${FDS}`)
      drain(count)
      if (round++ >= warmup) samples.push(elapsed / FDS)
      if (samples.length === ROUNDS) resolve(samples)
      else setImmediate(next)
    })
    const next = () => {
      sendAll()
      sentAt = now()
    }
    next()
  })
  ep.close()
  for (const [a, b] of pairs) {
    a.close()
    b.close()
  }

  // node:net: FDS loopback TCP connections, last write → the FDS-th 'data' event.
  const tcp = await tcpPairs(FDS)
  const viaNet = await new Promise<number[]>((resolve) => {
    const samples: number[] = []
    let round = 0
    let received = 0
    let writtenAt = 0n
    const onData = () => {
      if (++received < FDS) return
      const elapsed = us(now() - writtenAt)
      received = 0
      if (round++ >= warmup) samples.push(elapsed / FDS)
      if (samples.length === ROUNDS) resolve(samples)
      else setImmediate(next)
    }
    for (const [, server] of tcp.pairs) server.on('data', onData)
    const next = () => {
      for (const [client] of tcp.pairs) client.write(ONE)
      writtenAt = now()
    }
    next()
  })
  await tcp.close()
  if (sink === 0) fail('no events were read')

  return [
    [`fdpoll \`ep.watchInto\` dispatch, ${FDS} ready socketpairs`, 'last `send()` → end of the one callback, ÷ events', watched],
    [`fdpoll \`ep.pollInto(out, 0)\`, ${FDS} ready (no watch)`, 'the call and the loop over the events, ÷ events', direct],
    [`node:net, ${FDS} loopback TCP connections`, "last `write()` → last 'data' (reads included), ÷ events", viaNet],
  ]
}

async function main() {
  const watchdog = setTimeout(() => {
    console.error('bench aborted: still running after 120 s')
    process.exit(1)
  }, 120_000)
  watchdog.unref()

  const wakeups = await latencies()
  const events = await perEvent()

  const fmt = (x: number) => (x < 10 ? x.toFixed(2) : x.toFixed(1))
  console.log(
    `${new Date().toISOString()} | ${os.cpus()[0].model} | node ${process.version} | ` +
      `${os.cpus().length} CPUs | ${QUICK ? 'quick' : 'full'} run`,
  )
  console.log('')
  console.log('| measurement | what is timed | median µs | p99 µs | samples |')
  console.log('|---|---|---:|---:|---:|')
  for (const [name, what, samples] of wakeups) {
    const s = stats(samples)
    console.log(`| ${name} | ${what} | ${fmt(s.median)} | ${fmt(s.p99)} | ${s.n} |`)
  }
  for (const [name, what, samples] of events) {
    const s = stats(samples)
    console.log(`| ${name} | ${what} (µs per event) | ${fmt(s.median)} | ${fmt(s.p99)} | ${s.n} rounds |`)
  }
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
})
