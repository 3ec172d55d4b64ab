/**
 * The WebAssembly build (npm/wasm32-wasi, `npm run build:wasm`), loaded as src/native.ts loads it
 * under FDPOLL_BACKEND=wasm: its exports, the constants (Linux's values on every host), and what
 * works so far: the backend's name and the epoll calls on the in-memory engine (crates/core
 * sys/memory.rs), whose errno numbers are the host's (`os.constants.errno`), not WASI's. Registered as skipped where the
 * build is missing.
 */
import ava from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import * as linux from '../src/wasm/linux.js'
import type { WasmHost } from '../src/wasm/wait.js'
import { testIf } from './helpers.js'
import { LINUX } from './inspect.js'

const root = path.join(__dirname, '..')
const built = fs.existsSync(path.join(root, 'npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm'))
const test = testIf(built, 'the WebAssembly build is missing (npm run build:wasm builds it)')
const { EAGAIN, EBADF, EEXIST, EINVAL, ENOENT } = os.constants.errno
/** Epoll bits (Linux's values, which the WebAssembly build uses on every host). */
const [IN, OUT] = [0x1, 0x4]

/** The WebAssembly build's exports that these tests call, and the rest by name. */
interface WasmBinding extends WasmHost {
  [name: string]: unknown
  epollCreate(): number
  epollRegister(epfd: number, fd: number, events: number): number
  epollUnregister(epfd: number, fd: number): number
  epollPollInto(epfd: number, out: Int32Array | Uint32Array, timeoutMs: number, maxevents: number): number
  fdClose(fd: number): number
  errnoUseHost(table: Record<string, number>): boolean
  wakerCreate(): number
  wakerSignal(fd: number): number
  wakerReset(fd: number): number
  wakerClose(fd: number): number
}

/** The WebAssembly build's exports, through its package's loader. */
function wasm(): WasmBinding {
  return require('../npm/wasm32-wasi/fdpoll.wasi.cjs')
}

/** Runs `script` with fdpoll loaded from `entry` in a child with FDPOLL_BACKEND set: its JSON output. */
function child(entry: string, script: string, backend = 'wasm'): unknown {
  const code = `const fdpoll = require(${JSON.stringify(entry)}); console.log(JSON.stringify((() => { ${script} })()))`
  const out = execFileSync(process.execPath, ['--import=tsx', '-e', code], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FDPOLL_BACKEND: backend },
  })
  return JSON.parse(out)
}

test("the build says it is the wasm backend and exports the constants, the epoll functions and the engine's host API", (t) => {
  const binding = wasm()
  t.is(binding.BACKEND, 'wasm')
  const host = ['vfdOpen', 'vfdReadiness', 'vfdSetReadiness', 'vfdNotify', 'epollPark', 'epollUnpark', 'epollTakeWoken']
  const wakers = ['wakerCreate', 'wakerSignal', 'wakerReset', 'wakerClose']
  for (const name of ['epollCreate', 'epollRegister', 'epollModify', 'epollUnregister', 'epollPollInto', 'fdClose', ...host, ...wakers]) {
    t.is(typeof binding[name], 'function', name)
  }
  t.is(binding.socketCreate, undefined, 'the OS socket calls are not in the WebAssembly build yet')
})

test("the socket host's Linux numbers (src/wasm/linux.ts, which the worker reads) are the build's, for every constant both name", (t) => {
  const binding = wasm()
  const numbers: Record<string, unknown> = { ...linux }
  const shared = Object.keys(numbers).filter((name) => typeof numbers[name] === 'number' && typeof binding[name] === 'number')
  t.true(shared.length >= 25, `${shared.length} constants in both: ${shared.join(' ')}`)
  for (const name of shared) t.is(numbers[name], binding[name], name)
})

test("the constants are Linux's values, whatever the host", (t) => {
  const binding = wasm()
  t.deepEqual([binding.AF_INET, binding.AF_INET6, binding.SOL_SOCKET, binding.SO_REUSEPORT], [2, 10, 1, 15])
  t.deepEqual([binding.SOCK_NONBLOCK, binding.SOCK_CLOEXEC, binding.TCP_CORK, binding.MSG_NOSIGNAL], [0o4000, 0o2000000, 3, 0x4000])
  t.deepEqual([binding.POLLIN, binding.POLLOUT, binding.POLLNVAL, binding.POLLRDHUP], [1, 4, 0x20, 0x2000])
  if (LINUX) {
    // On a Linux host the native addon has the same values, constant for constant (SOMAXCONN is
    // glibc's 4096, which musl's 128 is not; WAKE_ALL is the in-memory engine's, not Linux's).
    const native: Record<string, unknown> = require('../src/binding.js')
    t.is(binding.SOMAXCONN, 4096)
    const own = ['SOMAXCONN', 'WAKE_ALL']
    const constants = Object.keys(binding).filter((name) => typeof binding[name] === 'number' && !own.includes(name))
    t.true(constants.length >= 50, `${constants.length} constants`)
    for (const name of constants) t.is(binding[name], native[name], name)
  }
})

test("the in-memory engine answers the epoll calls with the kernel's errors, in the host's errno numbers", (t) => {
  const binding = wasm()
  const ep = binding.epollCreate()
  const inner = binding.epollCreate()
  t.true(ep >= 3 && inner > ep, `fds ${ep} and ${inner}: numbered from 3, as the kernel's lowest free ones`)
  t.is(binding.epollRegister(ep, ep, 1), -EINVAL, 'an epoll in itself')
  t.is(binding.epollRegister(ep, 1000, 1), -EBADF, 'an fd that is not open')
  t.is(binding.epollRegister(ep, inner, 1), 0, 'an epoll in another')
  t.is(binding.epollRegister(ep, inner, 1), -EEXIST)
  t.is(binding.epollPollInto(ep, new Int32Array(64), 0, 1), 0, 'nothing is ready')
  t.is(binding.epollPollInto(ep, new Int32Array(64), 10, 1), -EAGAIN, 'a wait with nothing ready is left to the host')
  t.is(binding.epollPollInto(ep, new Int32Array(0), 0, 1), -EINVAL, 'no room for one event is refused before polling')
  t.is(binding.epollUnregister(ep, inner), 0)
  t.is(binding.epollUnregister(ep, inner), -ENOENT)
  t.is(binding.fdClose(inner), 0)
  t.is(binding.fdClose(inner), -EBADF)
  t.is(binding.fdClose(ep), 0)
  t.false(binding.errnoUseHost({ EBADF: 1 }), 'the loader has set the table; a second one is ignored')
  t.is(binding.fdClose(ep), -EBADF)
})

test("epollPollInto fills a small Int32Array or Uint32Array, in the caller's own memory", (t) => {
  const binding = wasm()
  const ep = binding.epollCreate()
  const [r, w] = [binding.vfdOpen(IN), binding.vfdOpen(OUT)]
  t.is(binding.epollRegister(ep, r, IN), 0)
  t.is(binding.epollRegister(ep, w, OUT), 0)
  const two = new Int32Array(4).fill(-7)
  t.is(binding.epollPollInto(ep, two, 0, 8), 2, 'two pairs fit in 16 bytes')
  t.deepEqual([...two], [r, IN, w, OUT], "the events are in the caller's array")
  const one = new Uint32Array(2)
  t.is(binding.epollPollInto(ep, one, 0, 8), 1, 'one pair fits in 8 bytes')
  t.deepEqual([...one], [r, IN])
  const backing = new Int32Array(8).fill(-7)
  t.is(binding.epollPollInto(ep, backing.subarray(2, 6), 0, 8), 2)
  t.deepEqual([...backing], [-7, -7, w, OUT, r, IN, -7, -7], "a view's events land at its offset, nothing around it changes")
  const room = new Int32Array(16).fill(-7)
  t.is(binding.epollPollInto(ep, room, 0, 1), 1, 'maxevents 1')
  t.deepEqual([...room.subarray(2)], new Array(14).fill(-7), 'one pair written, the rest untouched')
  t.is(binding.epollPollInto(ep, new Int32Array(1), 0, 8), -EINVAL, 'no room for one pair')
  t.is(binding.epollPollInto(ep, room, 0, 0), -EINVAL, 'maxevents 0')
  for (const fd of [r, w, ep]) t.is(binding.fdClose(fd), 0)
})

test("the host API: virtual fds, their readiness, park and unpark, wakers, with the engine's errors", (t) => {
  const binding = wasm()
  const ep = binding.epollCreate()
  const fd = binding.vfdOpen(IN | OUT)
  t.is(binding.vfdReadiness(fd), IN | OUT)
  t.is(binding.vfdSetReadiness(fd, 0), 0)
  t.is(binding.epollRegister(ep, fd, IN), 0)
  t.is(binding.epollPark(ep), 1, 'nothing ready: parked')
  t.is(binding.vfdNotify(fd, IN, 0), 0)
  t.deepEqual(binding.epollTakeWoken(), [ep], 'the rising EPOLLIN woke the parked waiter')
  t.is(binding.epollUnpark(ep), 0, 'it had been woken')
  t.is(binding.epollPark(ep), 0, 'events are ready: poll, do not park')
  t.is(binding.vfdReadiness(ep), IN | 0x40, 'an epoll with events is readable (EPOLLIN | EPOLLRDNORM)')
  t.is(binding.vfdSetReadiness(fd, 0), 0)
  t.is(binding.epollPark(ep), 1)
  t.is(binding.epollUnpark(ep), 1, 'a deadline passed: it was still parked')
  t.deepEqual(binding.epollTakeWoken(), [])
  t.is(binding.WAKE_ALL, 0xffffffff)
  t.is(binding.vfdSetReadiness(ep, IN), -EINVAL, "an epoll's readiness is its own")
  t.is(binding.epollPark(fd), -EINVAL, 'not an epoll')
  t.is(binding.vfdNotify(1000, IN, 0), -EBADF)
  t.is(binding.vfdReadiness(1000), -EBADF)
  t.is(binding.epollUnpark(1000), -EBADF)
  const waker = binding.wakerCreate()
  t.is(binding.vfdReadiness(waker), OUT | 0x100, 'a waker is writable, as an eventfd')
  t.is(binding.epollRegister(ep, waker, IN), 0)
  const out = new Int32Array(8)
  t.is(binding.epollPollInto(ep, out, 0, 4), 0)
  t.is(binding.wakerSignal(waker), 0)
  t.is(binding.epollPollInto(ep, out, 0, 4), 1)
  t.deepEqual([...out.subarray(0, 2)], [waker, IN])
  t.is(binding.wakerReset(waker), 0)
  t.is(binding.epollPollInto(ep, out, 0, 4), 0)
  t.is(binding.wakerClose(waker), 0)
  t.is(binding.wakerClose(waker), -EBADF)
  for (const f of [fd, ep]) t.is(binding.fdClose(f), 0)
})

/** Runs `script` in a child under FDPOLL_BACKEND=wasm with `fdpoll` (src) and `host`, the binding (src/native.ts). */
function wasmChild(script: string): any {
  return child('./src/index.ts', `const host = require('./src/native.ts'); ${script}`)
}

test('Epoll over virtual fds: level-triggered, edge-triggered, EPOLLONESHOT, maxevents, pollInto', (t) => {
  const r = wasmChild(`
    const { Epoll, EPOLLIN: IN, EPOLLET: ET, EPOLLONESHOT: ONESHOT } = fdpoll
    const ep = new Epoll()
    const [lt, et, one] = [host.vfdOpen(0), host.vfdOpen(0), host.vfdOpen(0)]
    ep.register(lt, IN)
    ep.register(et, IN | ET)
    ep.register(one, IN | ONESHOT)
    const r = { fds: [lt, et, one], none: ep.poll(0) }
    for (const fd of [lt, et, one]) host.vfdSetReadiness(fd, IN)
    r.first = ep.poll(0)
    r.second = ep.poll(0)
    host.vfdNotify(et, IN, IN)
    r.newEdge = ep.poll(0)
    ep.modify(one, IN | ONESHOT)
    r.rearmed = ep.poll(0)
    ep.modify(one, IN)
    r.max1 = [ep.poll(0, 1), ep.poll(0, 1), ep.poll(0, 1)]
    const out = new Int32Array(4).fill(-7)
    r.count = ep.pollInto(out, 0)
    r.out = [...out]
    const wide = new Uint32Array(8).fill(7)
    r.wideCount = ep.pollInto(wide, 0)
    r.wide = [...wide]
    for (const fd of [lt, et, one]) host.vfdSetReadiness(fd, 0)
    r.drained = ep.poll(0)
    ep.close()
    for (const fd of [lt, et, one]) host.fdClose(fd)
    return r`)
  const [lt, et, one] = r.fds
  t.deepEqual(r.none, [])
  t.deepEqual(r.first, [[lt, IN], [et, IN], [one, IN]])
  t.deepEqual(r.second, [[lt, IN]], 'only the level-triggered fd again')
  t.deepEqual(r.newEdge, [[lt, IN], [et, IN]], 'a new event on the edge-triggered fd is a new edge')
  t.deepEqual(r.rearmed, [[lt, IN], [one, IN]], 'modify re-arms the oneshot fd')
  t.deepEqual(r.max1, [[[lt, IN]], [[one, IN]], [[lt, IN]]], 'maxevents 1: level-triggered fds take turns')
  t.is(r.count, 2)
  t.deepEqual(r.out, [one, IN, lt, IN])
  t.is(r.wideCount, 2)
  t.deepEqual(r.wide, [one, IN, lt, IN, 7, 7, 7, 7])
  t.deepEqual(r.drained, [])
})

test('Epoll.poll blocks until its timeout (rounded up to the ms), and returns at once when events are ready', (t) => {
  const r = wasmChild(`
    const { Epoll, EPOLLIN: IN } = fdpoll
    const time = (f) => { const t0 = performance.now(); const events = f(); return { events, ms: performance.now() - t0 } }
    const ep = new Epoll()
    const fd = host.vfdOpen(0)
    ep.register(fd, IN)
    const r = { fd, epfd: ep.fileno() }
    r.idle = time(() => ep.poll(0.2))
    r.tiny = time(() => ep.poll(0.0001))
    const out = new Int32Array(2)
    r.idleInto = time(() => ep.pollInto(out, 0.05))
    host.vfdSetReadiness(fd, IN)
    r.ready = time(() => ep.poll(-1))
    const outer = new Epoll()
    outer.register(ep.fileno(), IN)
    r.nested = time(() => outer.poll(5))
    const waker = host.wakerCreate()
    const w = new Epoll()
    w.register(waker, IN)
    host.wakerSignal(waker)
    r.waker = time(() => w.poll(null))
    r.woken = { waker, list: host.epollTakeWoken() }
    for (const e of [ep, outer, w]) e.close()
    host.fdClose(fd)
    host.wakerClose(waker)
    return r`)
  t.deepEqual(r.idle.events, [])
  t.true(r.idle.ms >= 200 && r.idle.ms < 5000, `poll(0.2) with nothing ready took ${r.idle.ms} ms`)
  t.deepEqual(r.tiny.events, [])
  t.true(r.tiny.ms >= 1, `poll(0.0001) waits 1 ms, not 0: took ${r.tiny.ms} ms`)
  t.is(r.idleInto.events, 0)
  t.true(r.idleInto.ms >= 50 && r.idleInto.ms < 5000, `pollInto(out, 0.05) took ${r.idleInto.ms} ms`)
  t.deepEqual(r.ready.events, [[r.fd, IN]])
  t.deepEqual(r.nested.events, [[r.epfd, IN]], 'an epoll with events inside another wakes it')
  t.deepEqual(r.waker.events, [[r.woken.waker, IN]], 'poll(None) returns for a signalled waker')
  for (const what of ['ready', 'nested', 'waker']) t.true(r[what].ms < 1000, `${what}: ${r[what].ms} ms`)
  t.deepEqual(r.woken.list, [], 'the waits left no waiter behind')
})

test('Epoll.poll is woken early by a readiness change from another thread, through the wake source', (t) => {
  // A worker stands in for the socket host: once the poll blocks, it publishes a readiness change
  // in shared memory, which the wake source hands to the engine.
  const r = wasmChild(`
    const { Worker } = require('node:worker_threads')
    const { useWakeSource } = require('./src/wasm/wait.ts')
    const [WAITING, PUBLISHED, READINESS] = [0, 1, 2]
    const shared = new Int32Array(new SharedArrayBuffer(12))
    const ep = new fdpoll.Epoll()
    const fd = host.vfdOpen(0)
    ep.register(fd, fdpoll.EPOLLIN)
    const worker = new Worker(\`
      const s = require('node:worker_threads').workerData
      Atomics.wait(s, \${WAITING}, 0)
      s[\${READINESS}] = \${fdpoll.EPOLLIN}
      Atomics.store(s, \${PUBLISHED}, 1)
      Atomics.notify(s, \${PUBLISHED})\`, { eval: true, workerData: shared })
    worker.unref()
    let waits = 0
    useWakeSource({
      wait(timeoutMs) {
        waits++
        Atomics.store(shared, WAITING, 1)
        Atomics.notify(shared, WAITING)
        Atomics.wait(shared, PUBLISHED, 0, timeoutMs < 0 ? Infinity : timeoutMs)
        if (Atomics.exchange(shared, PUBLISHED, 0) !== 1) return false
        host.vfdSetReadiness(fd, shared[READINESS])
        return true
      },
    })
    const t0 = performance.now()
    const events = ep.poll(30)
    const ms = performance.now() - t0
    useWakeSource(null)
    return { events, ms, fd, waits, woken: host.epollTakeWoken() }`)
  t.deepEqual(r.events, [[r.fd, IN]])
  t.is(r.waits, 1, 'one wait, ended by the change')
  t.true(r.ms < 20_000, `woken after ${r.ms} ms of a 30 s timeout`)
  t.deepEqual(r.woken, [], 'the woken waiter was taken off the list')
})

test('IOLoop.runSync works: a callback, then a timeout that stops it', (t) => {
  const r = wasmChild(`
    const loop = new fdpoll.IOLoop()
    const order = []
    loop.addCallback(() => order.push('callback'))
    loop.callLater(0.05, () => { order.push('timeout'); loop.stop() })
    const t0 = performance.now()
    loop.runSync()
    const ms = performance.now() - t0
    loop.close()
    return { order, ms }`)
  t.deepEqual(r.order, ['callback', 'timeout'])
  t.true(r.ms >= 50 && r.ms < 5000, `runSync ran ${r.ms} ms for a 0.05 s timeout`)
})

for (const [what, entry] of Object.entries({ 'the package (dist)': 'fdpoll', 'the sources (src)': './src/index.ts' })) {
  test(`${what} under FDPOLL_BACKEND=wasm: backend is 'wasm', Epoll works on the in-memory engine`, (t) => {
    const result = child(entry, `
      const ep = new fdpoll.Epoll()
      const events = ep.poll(0)
      let error
      try { ep.register(ep.fileno()) } catch (e) { error = { name: e.name, osError: e instanceof fdpoll.OSError, code: e.code, errno: e.errno, syscall: e.syscall } }
      ep.close()
      return { backend: fdpoll.backend, AF_INET6: fdpoll.AF_INET6, events, error, closed: ep.closed }`)
    t.deepEqual(result, {
      backend: 'wasm', AF_INET6: 10, events: [], closed: true,
      error: { name: 'OSError', osError: true, code: 'EINVAL', errno: EINVAL, syscall: 'epoll_ctl' },
    })
  })
}

ava('FDPOLL_BACKEND must name a backend', (t) => {
  const error = t.throws(() => child('./src/index.ts', 'return fdpoll.backend', 'wsam'))
  t.regex(String(error?.message), /FDPOLL_BACKEND is 'wsam': it can be 'native' \(the default\) or 'wasm'/)
  t.regex(String(child('./src/index.ts', 'return fdpoll.backend', 'native')), /^(epoll|mio)$/)
})
