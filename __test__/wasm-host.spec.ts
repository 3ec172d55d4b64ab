/**
 * The WebAssembly backend's socket host (src/wasm/host.ts): Node's sockets in a worker, reached
 * synchronously, with real clients on loopback. The clients run on this thread's event loop, so
 * the tests wait for them asynchronously (`until`); one test blocks this thread in `wait` with
 * the client in another process.
 */
import test, { type ExecutionContext } from 'ava'
import { spawn, spawnSync } from 'node:child_process'
import dgram from 'node:dgram'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

import { SocketHost } from '../src/wasm/host.js'
import { ARGS, CONTROL_SLOTS, REP, REQ, RESULT, serveRequests } from '../src/wasm/protocol.js'
import { RING_ENTRIES, RingReader, RingWriter, ringMemory } from '../src/wasm/ring.js'
import {
  AF_INET, AF_INET6, AF_UNIX, EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT, EPOLLRDHUP, EPOLLRDNORM,
  EPOLLWRNORM, IPPROTO_TCP, READ_KEY, SHUT_WR, SOCK_DGRAM, SOCK_NONBLOCK, SOCK_STREAM, SOL_SOCKET,
  SO_ERROR, SO_SNDBUF, SO_TYPE, TCP_NODELAY, WAKE_ALL, WRITE_KEY, errno,
} from '../src/wasm/linux.js'

const IPV6_LOOPBACK = Object.values(os.networkInterfaces()).some((list) => list?.some((a) => a.address === '::1'))
const ROOT = path.join(__dirname, '..')

type Entry = [fd: number, readiness: number, key: number]
const entries: Entry[] = []
const readiness = new Map<number, number>()
const host = new SocketHost((fd, bits, key) => {
  entries.push([fd, bits, key])
  readiness.set(fd, bits)
})
let nextFd = 100
/** A fresh fd number (the engine would give it). */
const fd = (): number => nextFd++

/** Drains the ring and waits on this thread's loop (the clients run here) until `ready()`. */
async function until(what: string, ready: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms
  for (;;) {
    host.drain()
    if (ready()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

const has = (f: number, bits: number) => ((readiness.get(f) ?? 0) & bits) === bits
const text = (b: Uint8Array, n: number) => Buffer.from(b.subarray(0, n)).toString()

/** A listening host socket on `host`: its fd and port. */
function listener(t: ExecutionContext, family: number, address: string): { lfd: number; port: number } {
  const lfd = fd()
  t.is(host.socket(lfd, family, SOCK_STREAM | SOCK_NONBLOCK), 0)
  t.is(host.bind(lfd, address, 0), 0)
  const name = host.name(lfd, false)
  if (typeof name === 'number') throw new Error(`getsockname: ${name}`)
  t.is(host.listen(lfd), 0)
  return { lfd, port: name.port }
}

/** Accepts once the listener is readable: the new fd. */
async function acceptOne(t: ExecutionContext, lfd: number): Promise<number> {
  await until('a pending connection', () => has(lfd, EPOLLIN))
  const cfd = fd()
  const peer = host.accept(lfd, cfd)
  if (typeof peer === 'number') throw new Error(`accept: ${peer}`)
  return cfd
}

test.serial('a no-op request is one round trip to the worker (µs reported)', (t) => {
  for (let i = 0; i < 1000; i++) host.noop()
  const n = 20000
  const start = process.hrtime.bigint()
  for (let i = 0; i < n; i++) t.is(host.noop(), 0)
  const us = Number(process.hrtime.bigint() - start) / n / 1000
  t.log(`no-op round trip: ${us.toFixed(1)} µs`)
})

for (const [name, family, address, runs] of [
  ['IPv4', AF_INET, '127.0.0.1', true],
  ['IPv6', AF_INET6, '::1', IPV6_LOOPBACK],
] as const) {
  const register = runs ? test.serial : test.serial.skip
  register(`TCP over ${name}: listen, accept, EAGAIN, recv, send, shutdown, EOF, close; the ring's bits in order`, async (t) => {
    const { lfd, port } = listener(t, family, address)
    t.is(host.accept(lfd, fd()), -errno.EAGAIN, 'nothing pending')
    const client = net.connect({ host: address, port })
    const got: Buffer[] = []
    let ended = false
    client.on('data', (b) => got.push(b)).on('end', () => (ended = true))
    await new Promise((resolve) => client.once('connect', resolve))
    const cfd = await acceptOne(t, lfd)
    const peer = host.name(cfd, true)
    t.like(peer, { family, host: address, port: client.localPort })
    t.like(host.name(cfd, false), { family, host: address, port })
    const buf = new Uint8Array(64)
    t.is(host.recvInto(cfd, buf), -errno.EAGAIN)
    const start = entries.length
    client.write('hello')
    await until('data', () => has(cfd, EPOLLIN))
    t.is(text(buf, host.recvInto(cfd, buf)), 'hello')
    t.is(host.send(cfd, Buffer.from('world')), 5)
    await until('the reply', () => Buffer.concat(got).toString() === 'world')
    t.is(host.shutdown(cfd, SHUT_WR), 0)
    await until("the client's end", () => ended)
    client.end()
    await until('the FIN', () => has(cfd, EPOLLRDHUP))
    t.is(host.recvInto(cfd, buf), 0, 'end of stream')
    const OUT = EPOLLOUT | EPOLLWRNORM
    const IN = EPOLLIN | EPOLLRDNORM
    const ours = entries.slice(start).filter(([f]) => f === cfd)
    const closed = OUT | IN | EPOLLRDHUP | EPOLLHUP
    t.deepEqual(ours.slice(0, 4), [
      [cfd, IN | OUT, READ_KEY], // the data: one wakeup
      [cfd, OUT, 0], // read: IN falls, no wakeup
      [cfd, OUT, WAKE_ALL], // our shutdown(SHUT_WR)
      [cfd, closed, WAKE_ALL], // the peer's FIN
    ])
    t.deepEqual(ours.slice(4), ours.slice(4).map(() => [cfd, closed, WAKE_ALL]), 'then at most the close, a wake-all')
    t.is(host.close(cfd), 0)
    t.is(host.close(lfd), 0)
    t.is(host.close(lfd), -errno.EBADF)
  })
}

test.serial('connect to a closed port: EINPROGRESS, then ERR and SO_ERROR ECONNREFUSED', async (t) => {
  const server = net.createServer().listen(0, '127.0.0.1')
  await new Promise((resolve) => server.once('listening', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  const cfd = fd()
  t.is(host.socket(cfd, AF_INET, SOCK_STREAM), 0)
  t.is(readiness.get(cfd), EPOLLOUT | EPOLLWRNORM | EPOLLHUP, 'a fresh socket polls as Linux has it')
  t.is(host.connect(cfd, '127.0.0.1', port), -errno.EINPROGRESS)
  await until('the refusal', () => has(cfd, EPOLLERR))
  t.is(entries.filter(([f]) => f === cfd).pop()?.[2], WAKE_ALL)
  t.is(host.getsockopt(cfd, SOL_SOCKET, SO_ERROR), errno.ECONNREFUSED)
  t.is(host.getsockopt(cfd, SOL_SOCKET, SO_ERROR), 0, 'reading SO_ERROR clears it')
  t.false(has(cfd, EPOLLERR))
  t.is(host.close(cfd), 0)
})

test.serial("a peer's reset: ERR, ECONNRESET once, then end of stream", async (t) => {
  const { lfd, port } = listener(t, AF_INET, '127.0.0.1')
  const client = net.connect({ host: '127.0.0.1', port })
  await new Promise((resolve) => client.once('connect', resolve))
  const cfd = await acceptOne(t, lfd)
  client.resetAndDestroy()
  await until('the reset', () => has(cfd, EPOLLERR | EPOLLHUP))
  const buf = new Uint8Array(16)
  t.is(host.recvInto(cfd, buf), -errno.ECONNRESET)
  t.is(host.recvInto(cfd, buf), 0)
  t.is(host.send(cfd, buf), -errno.EPIPE)
  host.close(cfd)
  host.close(lfd)
})

test.serial("send after the peer's close: EPIPE", async (t) => {
  const { lfd, port } = listener(t, AF_INET, '127.0.0.1')
  const client = net.connect({ host: '127.0.0.1', port })
  await new Promise((resolve) => client.once('connect', resolve))
  const cfd = await acceptOne(t, lfd)
  client.destroy()
  await until('the FIN', () => has(cfd, EPOLLRDHUP))
  let result = 0
  await until('a failed send', () => (result = host.send(cfd, Buffer.from('x'))) < 0)
  t.is(result, -errno.EPIPE)
  host.close(cfd)
  host.close(lfd)
})

test.serial('close with unread bytes resets the connection, as Linux does; without, the peer reads every byte sent', async (t) => {
  const { lfd, port } = listener(t, AF_INET, '127.0.0.1')
  for (const unread of [true, false]) {
    const client = net.connect({ host: '127.0.0.1', port })
    let error = ''
    let got = ''
    client.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? '')).on('data', (b) => (got += b))
    let ended = false
    client.on('end', () => (ended = true))
    await new Promise((resolve) => client.once('connect', resolve))
    const cfd = await acceptOne(t, lfd)
    if (unread) {
      client.write('never read')
      await until('the bytes', () => has(cfd, EPOLLIN))
    }
    if (!unread) t.is(host.send(cfd, Buffer.from('bye')), 3) // Node resets no socket it has just written to
    t.is(host.close(cfd), 0)
    if (unread) await until('the reset', () => error === 'ECONNRESET')
    else await until('the end', () => ended && got === 'bye' && error === '')
    client.destroy()
  }
  host.close(lfd)
})

test.serial('send under backpressure: partial, then EAGAIN with OUT fallen; OUT comes back once with a write wakeup', async (t) => {
  const { lfd, port } = listener(t, AF_INET, '127.0.0.1')
  const client = net.connect({ host: '127.0.0.1', port })
  client.pause()
  await new Promise((resolve) => client.once('connect', resolve))
  const cfd = await acceptOne(t, lfd)
  t.is(host.setsockopt(cfd, SOL_SOCKET, SO_SNDBUF, 32768), 0)
  t.is(host.getsockopt(cfd, SOL_SOCKET, SO_SNDBUF), 65536, 'doubled, as Linux does')
  const chunk = Buffer.alloc(50000, 97)
  let sent = 0
  let partial = false
  let result = 0
  // The kernel's buffers fill first, then Node's queue; bounded by 64 MiB.
  await until('EAGAIN', () => {
    result = host.send(cfd, chunk)
    if (result > 0) sent += result
    if (result > 0 && result < chunk.length) partial = true
    return result < 0 || sent > 64 << 20
  }, 20000)
  t.is(result, -errno.EAGAIN)
  t.true(partial, 'the last send before EAGAIN took part of the chunk')
  t.false(has(cfd, EPOLLOUT))
  const start = entries.length
  let received = 0
  client.on('data', (b) => (received += b.length)).resume()
  await until('room to write', () => has(cfd, EPOLLOUT), 20000)
  t.deepEqual(entries.slice(start).filter(([f]) => f === cfd), [[cfd, EPOLLOUT | EPOLLWRNORM, WRITE_KEY]])
  await until('every byte at the client', () => received === sent, 20000)
  host.close(cfd)
  host.close(lfd)
  client.destroy()
})

test.serial('UDP: sendto, recvfrom with the sender, EAGAIN when empty', async (t) => {
  const ufd = fd()
  t.is(host.socket(ufd, AF_INET, SOCK_DGRAM), 0)
  t.is(host.getsockopt(ufd, SOL_SOCKET, SO_TYPE), SOCK_DGRAM)
  t.is(host.bind(ufd, '127.0.0.1', 0), 0)
  const { port } = host.name(ufd, false) as { port: number }
  const buf = new Uint8Array(100)
  t.is(host.recvInto(ufd, buf), -errno.EAGAIN)
  const peer = dgram.createSocket('udp4')
  await new Promise<void>((resolve) => peer.bind(0, '127.0.0.1', resolve))
  const echoed = new Promise<string>((resolve) => peer.once('message', (m) => resolve(m.toString())))
  t.is(host.sendto(ufd, Buffer.from('ping'), 0, '127.0.0.1', peer.address().port), 4)
  t.is(await echoed, 'ping')
  peer.send('pong', port, '127.0.0.1')
  await until('a datagram', () => has(ufd, EPOLLIN))
  const got = host.recvfrom(ufd, buf)
  if (typeof got === 'number') throw new Error(`recvfrom: ${got}`)
  t.is(text(buf, got.nbytes), 'pong')
  t.like(got.address, { family: AF_INET, host: '127.0.0.1', port: peer.address().port })
  t.false(has(ufd, EPOLLIN))
  t.is(host.sendto(ufd, Buffer.from('x'), 0, 'no-such-host.invalid', 9), -65536, 'GAI_NOT_FOUND')
  peer.close()
  t.is(host.close(ufd), 0)
})

test.serial('options Node can honour; ENOPROTOOPT for the rest', (t) => {
  const f = fd()
  host.socket(f, AF_INET, SOCK_STREAM)
  t.is(host.getsockopt(f, IPPROTO_TCP, TCP_NODELAY), 0)
  t.is(host.setsockopt(f, IPPROTO_TCP, TCP_NODELAY, 1), 0)
  t.is(host.getsockopt(f, IPPROTO_TCP, TCP_NODELAY), 1)
  t.is(host.setsockopt(f, SOL_SOCKET, 15 /* SO_REUSEPORT */, 1), -errno.ENOPROTOOPT)
  t.is(host.getsockopt(f, SOL_SOCKET, 13 /* SO_LINGER */), -errno.ENOPROTOOPT)
  t.is(host.recvInto(f, new Uint8Array(1)), -errno.ENOTCONN)
  t.is(host.send(f, new Uint8Array(1)), -errno.EPIPE, 'as Linux answers send on an unconnected TCP socket')
  t.is(host.socket(fd(), 99, SOCK_STREAM), -errno.EAFNOSUPPORT)
  host.close(f)
})

test.serial('Unix stream sockets', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-host-'))
  const file = path.join(dir, 's')
  const lfd = fd()
  t.is(host.socket(lfd, AF_UNIX, SOCK_STREAM), 0)
  t.is(host.bind(lfd, file, 0), 0)
  t.is(host.listen(lfd), 0)
  const cfd = fd()
  t.is(host.socket(cfd, AF_UNIX, SOCK_STREAM), 0)
  t.is(host.connect(cfd, file, 0), 0, 'a Unix connect completes at once')
  const afd = await acceptOne(t, lfd)
  t.is(host.send(cfd, Buffer.from('via unix')), 8)
  await until('data', () => has(afd, EPOLLIN))
  const buf = new Uint8Array(32)
  t.is(text(buf, host.recvInto(afd, buf)), 'via unix')
  t.like(host.name(cfd, true), { family: AF_UNIX, host: file })
  for (const f of [afd, cfd, lfd]) host.close(f)
  const other = fd()
  host.socket(other, AF_UNIX, SOCK_STREAM)
  t.is(host.connect(other, path.join(dir, 'missing'), 0), -errno.ENOENT)
  host.close(other)
  fs.rmSync(dir, { recursive: true, force: true })
})

test.serial('socketpair: two connected Unix stream sockets; EOPNOTSUPP for datagrams', async (t) => {
  const [a, b] = [fd(), fd()]
  t.is(host.socketpair(a, b, SOCK_STREAM), 0)
  t.is(host.send(a, Buffer.from('to b')), 4)
  t.is(host.send(b, Buffer.from('to a')), 4)
  await until('both ends readable', () => has(a, EPOLLIN) && has(b, EPOLLIN))
  const buf = new Uint8Array(16)
  t.is(text(buf, host.recvInto(b, buf)), 'to b')
  t.is(text(buf, host.recvInto(a, buf)), 'to a')
  t.is(host.getsockopt(a, SOL_SOCKET, 39 /* SO_DOMAIN */), AF_UNIX)
  t.is(host.send(a, Buffer.from('unread')), 6)
  await until('the unread bytes', () => has(b, EPOLLIN))
  t.is(host.close(b), 0, 'closing with unread bytes (a reset on TCP) closes a Unix stream too')
  await until("a sees b's close", () => has(a, EPOLLRDHUP))
  t.is(host.recvInto(a, buf), 0)
  t.is(host.close(a), 0)
  t.is(host.socketpair(fd(), fd(), SOCK_DGRAM), -errno.EOPNOTSUPP)
})

test.serial('sendMany and recvMany: many sockets in a round trip, as many trips as the data buffer needs, each result in its place', async (t) => {
  const pairs = [0, 1, 2].map(() => {
    const [a, b] = [fd(), fd()]
    t.is(host.socketpair(a, b, SOCK_STREAM | SOCK_NONBLOCK), 0)
    return [a, b]
  })
  const unknown = fd()
  // 300 KiB is more than the data buffer: it goes alone, cut to what fits; the others share a trip.
  const payloads = [300, 100, 100, 1].map((kib, i) => new Uint8Array(kib * 1024).fill(i + 1))
  const sent = new Int32Array(4)
  host.sendMany(Int32Array.of(...pairs.map(([a]) => a), unknown), payloads, 4, sent)
  t.true(sent[0] > 0 && sent[0] < payloads[0].length, `the first payload cut: ${sent[0]} bytes taken`)
  t.deepEqual([...sent.subarray(1)], [100 * 1024, 100 * 1024, -errno.EBADF])

  // 64 KiB slots: three fit in the data buffer, so the fourth fd goes in a second trip.
  const slot = 64 * 1024
  const area = new Uint8Array(4 * slot)
  const slots = Int32Array.of(3, 2, 1, 0) // fd k's bytes go to slot 3 - k
  const got = new Int32Array(4)
  const received = [0, 0, 0]
  const readers = Int32Array.of(...pairs.map(([, b]) => b), unknown)
  while (received.some((n, i) => n < sent[i])) {
    await until('more bytes', () => pairs.some(([, b]) => has(b, EPOLLIN)))
    host.recvMany(readers, slots, 4, area, slot, got)
    t.is(got[3], -errno.EBADF)
    for (let k = 0; k < 3; k++) {
      if (got[k] === -errno.EAGAIN) continue
      t.true(got[k] > 0 && got[k] <= slot, `recv ${k}: ${got[k]}`)
      const bytes = area.subarray(slots[k] * slot, slots[k] * slot + got[k])
      t.true(bytes.every((byte) => byte === k + 1), `pair ${k}'s bytes in slot ${slots[k]}`)
      received[k] += got[k]
    }
  }
  t.deepEqual(received, [...sent.subarray(0, 3)], 'every byte sent received, once')
  for (const [a, b] of pairs) t.deepEqual([host.close(a), host.close(b)], [0, 0])
})

test.serial('a wait that blocks this thread wakes when data arrives', (t) => {
  const { lfd, port } = listener(t, AF_INET, '127.0.0.1')
  // The client is another process: this thread's loop does not run while it blocks.
  const child = spawn(process.execPath, ['-e', `const s = require('net').connect(${port}, '127.0.0.1', () => setTimeout(() => s.end('late'), 300))`])
  const deadline = Date.now() + 10_000
  while (!has(lfd, EPOLLIN) && Date.now() < deadline) host.wait(deadline - Date.now())
  const cfd = fd()
  t.like(host.accept(lfd, cfd), { family: AF_INET })
  const before = Date.now()
  t.true(host.wait(10_000), 'woken by the arrival')
  const blocked = Date.now() - before
  t.true(has(cfd, EPOLLIN))
  t.true(blocked >= 100, `blocked ${blocked} ms until the data came`)
  const buf = new Uint8Array(16)
  t.is(text(buf, host.recvInto(cfd, buf)), 'late')
  host.close(cfd)
  host.close(lfd)
  child.kill()
})

test.serial("with onWake, a change wakes this thread's event loop, drained before the call", async (t) => {
  const { lfd, port } = listener(t, AF_INET, '127.0.0.1')
  const client = net.connect({ host: '127.0.0.1', port })
  await new Promise((resolve) => client.once('connect', resolve))
  const cfd = await acceptOne(t, lfd)
  let wakes = 0
  const woken = new Promise<boolean>((resolve) => host.onWake(() => {
    wakes++
    resolve(has(cfd, EPOLLIN))
  }))
  client.write('wake')
  t.true(await woken, 'the data was in the sink when the listener ran')
  host.onWake(null)
  client.write('no wake')
  await until('the second write', () => host.recvInto(cfd, new Uint8Array(64)) > 0 && !has(cfd, EPOLLIN))
  t.is(wakes, 1, 'no wake once disarmed')
  client.destroy()
  host.close(cfd)
  host.close(lfd)
})

test.serial('a full ring keeps later entries in order until the reader drains', async (t) => {
  const memory = ringMemory()
  let wakes = 0
  const bell = new SharedArrayBuffer(4)
  const writer = new RingWriter(memory, bell, () => wakes++)
  const reader = new RingReader(memory, bell)
  const total = RING_ENTRIES + 1000
  for (let i = 0; i < total; i++) writer.push(i, i * 2, i % 3 === 0 ? WAKE_ALL : 0)
  const got: number[] = []
  const sink = (f: number, bits: number, key: number) => {
    t.is(bits, f * 2)
    t.is(key, f % 3 === 0 ? WAKE_ALL : 0)
    got.push(f)
  }
  t.is(reader.drain(sink), RING_ENTRIES, 'the ring holds RING_ENTRIES')
  await until('the queued entries', () => reader.pending())
  t.is(reader.drain(sink), 1000)
  t.deepEqual(got, Array.from({ length: total }, (_, i) => i))
  t.is(wakes, 0, 'no wake message unless armed')
})

test.serial("a late wake (a caller's notify that comes after its request was answered) serves nothing again", async (t) => {
  // The worker's request loop over a channel of its own, served on this thread's loop: this
  // thread plays a caller preempted between storing REQ and notifying.
  const control = new Int32Array(new SharedArrayBuffer(CONTROL_SLOTS * 4))
  const served: number[] = []
  serveRequests(control, async () => {
    served.push(control[ARGS])
    return -control[ARGS]
  })
  const request = async (seq: number, arg: number): Promise<number> => {
    control[ARGS] = arg
    Atomics.store(control, REQ, seq)
    Atomics.notify(control, REQ)
    await until(`the answer to request ${seq}`, () => Atomics.load(control, REP) === seq)
    return control[RESULT]
  }
  t.is(await request(1, 7), -7)
  // The late notify, twice: each once the loop waits again (a notify that wakes a waiter says so).
  for (let i = 0; i < 2; i++) await until('the loop to wait', () => Atomics.notify(control, REQ) === 1)
  t.deepEqual(served, [7], 'the answered request was not served again')
  t.is(control[RESULT], -7, 'nor its answer overwritten')
  t.is(await request(2, 9), -9, 'the next request is served')
  t.deepEqual(served, [7, 9])
})

test.serial('every socket closed leaves the worker with no fd and no Node socket', async (t) => {
  await until('closing sockets to finish', () => host.count().alive === 0)
  t.deepEqual(host.count(), { open: 0, alive: 0 })
})

test.serial('the worker does not keep the process alive', (t) => {
  const script = `
    const { SocketHost } = require('./src/wasm/host.ts')
    const host = new SocketHost(() => {})
    host.socket(3, ${AF_INET}, ${SOCK_STREAM})
    host.bind(3, '127.0.0.1', 0)
    host.listen(3)
    host.close(3)
    console.log('done')`
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { cwd: ROOT, timeout: 20_000, encoding: 'utf8' })
  t.is(run.stdout.trim(), 'done', run.stderr)
  t.is(run.status, 0, 'exited on its own')
})

test.serial('a wait that blocks this thread with no limit ends, with the stopped error, when the worker dies', (t) => {
  // A preload, which the worker runs too, throws there after 300 ms, outside any request.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const preload = path.join(dir, 'crash-worker.cjs')
  fs.writeFileSync(preload, `if (!require('node:worker_threads').isMainThread) setTimeout(() => { throw new Error('crash') }, 300)`)
  const script = `
    const { SocketHost } = require('./src/wasm/host.ts')
    const host = new SocketHost(() => {})
    try {
      host.wait(-1)
      console.log('woke')
    } catch (err) {
      console.log(err.message)
    }`
  const run = spawnSync(process.execPath, ['--require', preload, '--import', 'tsx', '-e', script], { cwd: ROOT, timeout: 20_000, encoding: 'utf8' })
  t.is(run.stdout.trim(), "fdpoll: the WebAssembly backend's socket host has stopped", run.stderr)
})
