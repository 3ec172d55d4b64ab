import test, { type ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'
import { setImmediate, setTimeout as sleep } from 'node:timers/promises'
import { isMainThread, threadId } from 'node:worker_threads'

import { EPOLLET, EPOLLIN, EPOLLOUT, Epoll, ValueError, createServer } from '../src/index.js'
import { WASM, kernelOnly, pair, testIf } from './helpers.js'
import { LINUX, fdCount, fdKinds, threadCount } from './inspect.js'

/** The repo's entry point, for the scripts the child processes run. */
const INDEX = path.resolve(__dirname, '../src/index.ts')
const ROOT = path.resolve(__dirname, '..')

const gc: () => void = (globalThis as any).gc

const X = Buffer.from('x')

/** `promise`, or a rejection after `ms`: no wait in these tests is unbounded. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms)
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

/** Resolves once `condition()` holds (checked every few ms), or rejects after `ms`. */
async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
    await sleep(2)
  }
}

/**
 * Waits `ms`, then lets one full loop iteration run: a dispatch queued before the timer fired
 * runs in the poll phase, which comes after the timers phase of the same iteration.
 */
async function quiet(ms: number): Promise<void> {
  await sleep(ms)
  await setImmediate()
  await setImmediate()
}

/** Whether this suite runs on waiting threads (watch-thread.spec.ts) instead of Node's own loop. */
const THREAD = process.env.FDPOLL_WATCH === 'thread'

/** The content of a /proc file, or undefined if it is gone (a thread that exited meanwhile). */
function readProc(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8')
  } catch {
    return undefined
  }
}

/** This process's waiting threads (named fdpoll-watch), by thread id; Linux's /proc. */
function watchThreads(): string[] {
  return fs.readdirSync('/proc/self/task').filter((tid) => readProc(`/proc/self/task/${tid}/comm`) === 'fdpoll-watch\n')
}

/**
 * Blocks the JS thread until `condition()` holds (at most `ms`): meanwhile nothing queued for it
 * can run.
 */
function blockUntil(condition: () => boolean, ms: number, what: string): void {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`)
  }
}

function byFd(events: [number, number][]): [number, number][] {
  return [...events].sort((a, b) => a[0] - b[0])
}

test.serial('watch delivers [fd, events] on the main thread without blocking the loop', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  // The interval sends once it has fired 5 times while watched: the loop kept running, and a
  // delivery that counts fewer ticks came before anything was ready.
  let ticks = 0
  const interval = setInterval(() => ++ticks === 5 && b.send(X), 5)
  t.teardown(() => clearInterval(interval))
  const delivered = new Promise<{ events: [number, number][]; ticks: number; main: boolean; data: string }>((resolve) => {
    ep.watch((events) => resolve({ events, ticks, main: isMainThread && threadId === 0, data: a.recv(16).toString() }))
  })
  t.true(ep.watching)
  const got = await within(delivered, 5000, 'the watch callback')
  t.true(got.ticks >= 5, `delivered after ${got.ticks} ticks: before the send, or the loop was blocked`)
  t.deepEqual(got.events, [[a.fileno(), EPOLLIN]])
  t.is(got.data, 'x')
  t.true(got.main)
})

test('the callback gets what poll() returns, in the same shape', async (t) => {
  const [a, b] = pair(t)
  const [c, d] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN | EPOLLOUT)
  ep.register(c, EPOLLIN)
  b.send(X)
  d.send(X)
  let expected: [number, number][] = []
  // On the WebAssembly backend the data reaches a socket a moment after send.
  await until(() => (expected = byFd(ep.poll(0))).length === 2, 5000, 'both readable')
  t.deepEqual(expected, byFd([[a.fileno(), EPOLLIN | EPOLLOUT], [c.fileno(), EPOLLIN]]))
  const first = new Promise<[number, number][]>((resolve) => ep.watch(resolve))
  const events = await within(first, 5000, 'the watch callback')
  ep.unwatch()
  t.true(Array.isArray(events))
  t.true(events.every((e) => Array.isArray(e) && e.length === 2))
  t.deepEqual(byFd(events), expected)
})

test('maxevents caps each batch; the rest comes in the next', async (t) => {
  const pairs = [pair(t), pair(t), pair(t)]
  using ep = new Epoll()
  for (const [a, b] of pairs) {
    ep.register(a, EPOLLIN)
    b.send(X)
  }
  const sizes: number[] = []
  const seen = new Set<number>()
  const all = new Promise<void>((resolve) => {
    ep.watch((events) => {
      sizes.push(events.length)
      for (const [fd] of events) {
        seen.add(fd)
        pairs.find(([a]) => a.fileno() === fd)![0].recv(16)
      }
      if (seen.size === pairs.length) resolve()
    }, 2)
  })
  await within(all, 5000, 'all three fds')
  ep.unwatch()
  t.deepEqual(sizes, [2, 1])
})

test.serial('level-triggered: a callback that reads is called once per send, never again for the same data', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  let calls = 0
  const received: string[] = []
  ep.watch(() => {
    calls++
    received.push(a.recv(16).toString())
  })
  b.send(Buffer.from('1'))
  await until(() => calls === 1, 5000, 'the first dispatch')
  await quiet(100)
  t.is(calls, 1, 'one send, one dispatch')
  b.send(Buffer.from('2'))
  await until(() => calls === 2, 5000, 'the second dispatch')
  await quiet(100)
  t.is(calls, 2)
  t.deepEqual(received, ['1', '2'])
})

test.serial('level-triggered: a serviced batch of several fds is dispatched exactly once', async (t) => {
  const pairs = [pair(t), pair(t), pair(t)]
  using ep = new Epoll()
  for (const [a] of pairs) ep.register(a, EPOLLIN)
  const batches: [number, number][][] = []
  for (const [, b] of pairs) b.send(X)
  // All three ready before the watch starts (on the WebAssembly backend data reaches a socket a
  // moment after send), so that the first dispatch is one batch of the three.
  await until(() => ep.poll(0).length === 3, 5000, 'all three readable')
  ep.watch((events) => {
    batches.push(events)
    for (const [fd] of events) pairs.find(([a]) => a.fileno() === fd)![0].recv(16)
  })
  await until(() => batches.length > 0, 5000, 'the dispatch')
  await quiet(100)
  t.is(batches.length, 1, `batches: ${JSON.stringify(batches)}`)
  t.deepEqual(byFd(batches[0]), byFd(pairs.map(([a]) => [a.fileno(), EPOLLIN])))
})

test.serial('level-triggered: an fd the callback leaves unread is reported again until read', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  let calls = 0
  let ticks = 0
  const interval = setInterval(() => ticks++, 5)
  t.teardown(() => clearInterval(interval))
  ep.watch(() => {
    calls++
    if (calls === 5) a.recv(16)
  })
  b.send(X)
  await until(() => calls >= 5, 5000, 'five dispatches')
  await quiet(100)
  t.is(calls, 5, 'reported on each wakeup until the fifth call read it, then no more')
  t.true(ticks >= 5, 'the repeated dispatches do not starve timers')
})

test.serial('edge-triggered (EPOLLIN | EPOLLET): one callback per send even if the callback does not read', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN | EPOLLET)
  const batches: [number, number][][] = []
  ep.watch((events) => batches.push(events))
  for (let i = 0; i < 3; i++) {
    b.send(X)
    await until(() => batches.length > i, 5000, `the dispatch of send ${i + 1}`)
    await quiet(50)
    t.is(batches.length, i + 1, `after send ${i + 1}`)
  }
  t.deepEqual(batches, [[[a.fileno(), EPOLLIN]], [[a.fileno(), EPOLLIN]], [[a.fileno(), EPOLLIN]]])
  t.is(a.recv(16).toString(), 'xxx', 'nothing was read')
})

test('watch and watchInto report what was ready before they started, an edge-triggered event included', async (t) => {
  for (const mask of [EPOLLIN, EPOLLIN | EPOLLET]) {
    for (const into of [false, true]) {
      const [a, b] = pair(t)
      using ep = new Epoll()
      ep.register(a, mask)
      b.send(X)
      const out = new Int32Array(2)
      const first = new Promise<[number, number][]>((resolve) => {
        if (into) ep.watchInto(out, () => resolve([[out[0], out[1]]]))
        else ep.watch(resolve)
      })
      t.deepEqual(await within(first, 5000, 'the pending event'), [[a.fileno(), EPOLLIN]], `${into ? 'watchInto' : 'watch'} ${mask}`)
    }
  }
})

test('watch works on a listening TCP socket: a connection from node:net arrives in the callback', async (t) => {
  const listener = createServer(['127.0.0.1', 0])
  t.teardown(() => listener.close())
  using ep = new Epoll()
  ep.register(listener, EPOLLIN)
  const accepted = new Promise<[number, number][]>((resolve) => {
    ep.watch((events) => {
      const [conn] = listener.accept()
      conn.close()
      resolve(events)
    })
  })
  const port = (listener.getsockname() as [string, number])[1]
  const client = net.connect(port, '127.0.0.1')
  client.on('error', () => {}) // the accepted end is closed at once
  t.teardown(() => client.destroy())
  t.deepEqual(await within(accepted, 5000, 'the connection'), [[listener.fileno(), EPOLLIN]])
})

test('watchInto fills the typed array as pollInto does and calls back with the count', async (t) => {
  for (const Type of [Int32Array, Uint32Array]) {
    const [a, b] = pair(t)
    const [c, d] = pair(t)
    using ep = new Epoll()
    ep.register(a, EPOLLIN)
    ep.register(c, EPOLLIN)
    const out = new Type(8).fill(-1 >>> 0)
    const counts: number[] = []
    const pairs: [number, number][] = []
    const got = new Promise<void>((resolve) => {
      ep.watchInto(out, (count) => {
        counts.push(count)
        for (let i = 0; i < count; i++) pairs.push([out[2 * i], out[2 * i + 1]])
        a.recv(16)
        c.recv(16)
        resolve()
      })
    })
    b.send(X)
    d.send(X)
    await within(got, 5000, 'the watchInto callback')
    await quiet(50)
    ep.unwatch()
    t.deepEqual(counts, [2], Type.name)
    t.deepEqual(byFd(pairs), byFd([[a.fileno(), EPOLLIN], [c.fileno(), EPOLLIN]]))
  }
})

test('watchInto with room for one pair delivers each ready fd, one batch at a time', async (t) => {
  const pairs = [pair(t), pair(t)]
  using ep = new Epoll()
  for (const [a, b] of pairs) {
    ep.register(a, EPOLLIN | EPOLLET)
    b.send(X)
  }
  const out = new Int32Array(2)
  const fds: number[] = []
  const both = new Promise<void>((resolve) => {
    ep.watchInto(out, (count) => {
      t.is(count, 1)
      fds.push(out[0])
      if (fds.length === 2) resolve()
    })
  })
  await within(both, 5000, 'two edge-triggered events')
  t.deepEqual(fds.sort((x, y) => x - y), pairs.map(([a]) => a.fileno()).sort((x, y) => x - y))
})

test('watchInto rejects a bad out (TypeError, RangeError) or callback before watching starts', (t) => {
  using ep = new Epoll()
  const cb = () => {}
  t.throws(() => ep.watchInto([0, 0] as any, cb), { instanceOf: TypeError })
  t.throws(() => ep.watchInto(new Float64Array(4) as any, cb), { instanceOf: TypeError })
  t.throws(() => ep.watchInto(new Int32Array(1), cb), { instanceOf: RangeError })
  t.throws(() => ep.watchInto(new Uint32Array(0), cb), { instanceOf: RangeError })
  t.throws(() => ep.watchInto(new Int32Array(2), 'cb' as any), { instanceOf: TypeError })
  t.throws(() => ep.watch('cb' as any), { instanceOf: TypeError })
  t.throws(() => ep.watch(cb, 0), { instanceOf: RangeError })
  t.false(ep.watching)
  ep.watchInto(new Int32Array(2), cb)
  t.true(ep.watching)
})

test('watch or watchInto on a watched Epoll is ValueError ERR_WATCHED and takes no event from the watch', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN | EPOLLET)
  const batches: [number, number][][] = []
  ep.watch((events) => batches.push(events))
  b.send(X)
  t.throws(() => ep.watch(() => {}), { instanceOf: ValueError, code: 'ERR_WATCHED' })
  t.throws(() => ep.watchInto(new Int32Array(8), () => {}), { instanceOf: ValueError, code: 'ERR_WATCHED' })
  await t.throwsAsync(ep[Symbol.asyncIterator]().next(), { instanceOf: ValueError, code: 'ERR_WATCHED' })
  await until(() => batches.length > 0, 5000, 'the dispatch')
  await quiet(100)
  t.true(ep.watching)
  t.deepEqual(batches, [[[a.fileno(), EPOLLIN]]], 'the edge-triggered event went to the running watch')
})

test('watch of a closed Epoll is ValueError ERR_CLOSED', (t) => {
  const ep = new Epoll()
  ep.close()
  t.throws(() => ep.watch(() => {}), { instanceOf: ValueError, code: 'ERR_CLOSED' })
  t.throws(() => ep.watchInto(new Int32Array(2), () => {}), { instanceOf: ValueError, code: 'ERR_CLOSED' })
  t.false(ep.watching)
})

test('unwatch is idempotent; after it no callback runs even when data arrives', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  let calls = 0
  ep.unwatch() // never watched
  ep.watch(() => calls++)
  ep.unwatch()
  ep.unwatch()
  t.false(ep.watching)
  b.send(X)
  await quiet(100)
  t.is(calls, 0)
  ep.unwatch()
  t.false(ep.watching)
})

testIf(LINUX || !THREAD, 'a waiting thread is seen queueing its dispatch in /proc, which only Linux has', { serial: true })(
  'a dispatch already queued when unwatch() runs is dropped', async (t) => {
  // Two Epolls made ready at once: both dispatches are queued before either runs (on Node's
  // loop, one poll sees both epoll fds ready; waiting threads are waited for), and they run in
  // the order the watches started. The first one's callback unwatches the second Epoll, whose
  // dispatch is queued by then. A control round without the unwatch shows that: the second
  // dispatch runs right after the first, before the turn of the loop ends.
  for (const unwatch of [false, true]) {
    const [a, b] = pair(t)
    const [c, d] = pair(t)
    using first = new Epoll()
    using second = new Epoll()
    first.register(a, EPOLLIN)
    second.register(c, EPOLLIN)
    const order: string[] = []
    const threadsBefore = THREAD ? watchThreads() : []
    // On the WebAssembly backend data reaches a socket a moment after send, each on its own: both
    // are made ready before the watches start, which queue both dispatches in the same turn.
    const sendBoth = () => [b, d].forEach((peer) => peer.send(X))
    if (WASM) {
      sendBoth()
      await until(() => first.poll(0).length === 1 && second.poll(0).length === 1, 5000, 'both readable')
    }
    first.watch(() => {
      order.push('first')
      a.recv(16)
      if (unwatch) second.unwatch()
      void setImmediate().then(() => order.push('next turn'))
    })
    second.watch(() => {
      order.push('second')
      c.recv(16)
    })
    /** Whether both new waiting threads are asleep in a kernel function matching `wchan`. */
    const threadsIn = (wchan: RegExp) => () => {
      const threads = watchThreads().filter((tid) => !threadsBefore.includes(tid))
      return threads.length === 2 && threads.every((tid) => wchan.test(readProc(`/proc/self/task/${tid}/wchan`) ?? ''))
    }
    if (THREAD) await until(threadsIn(/poll/), 5000, 'both waiting threads waiting in poll')
    if (!WASM) sendBoth()
    // A waiting thread queues its dispatch, then waits on a futex for it to have run.
    if (THREAD) blockUntil(threadsIn(/futex/), 5000, 'both waiting threads to queue their dispatch')
    await until(() => order.includes('next turn'), 5000, 'the first dispatch and the turn after it')
    await quiet(100)
    t.deepEqual(order, unwatch ? ['first', 'next turn'] : ['first', 'second', 'next turn'], unwatch ? 'dropped' : 'control round')
    t.is(second.watching, !unwatch)
  }
})

test('watch again after unwatch: the new callback gets the events', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  let old = 0
  ep.watch(() => old++)
  ep.unwatch()
  const got = new Promise<[number, number][]>((resolve) => ep.watch(resolve))
  b.send(X)
  t.deepEqual(await within(got, 5000, 'the second watch'), [[a.fileno(), EPOLLIN]])
  t.is(old, 0)
})

test('close() stops watching', async (t) => {
  const [a, b] = pair(t)
  const ep = new Epoll()
  ep.register(a, EPOLLIN)
  let calls = 0
  ep.watch(() => calls++)
  ep.close()
  t.false(ep.watching)
  t.true(ep.closed)
  b.send(X)
  await quiet(100)
  t.is(calls, 0)
  ep.unwatch() // still idempotent once closed
})

test('the callback may close the Epoll it is called from', async (t) => {
  const [a, b] = pair(t)
  const ep = new Epoll()
  ep.register(a, EPOLLIN)
  let calls = 0
  const closed = new Promise<void>((resolve) => {
    ep.watch(() => {
      calls++
      ep.close()
      resolve()
    })
  })
  b.send(X)
  await within(closed, 5000, 'the callback')
  b.send(X)
  await quiet(50)
  t.is(calls, 1)
  t.false(ep.watching)
})

test('for await yields batches; break unwatches', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  const batches: [number, number][][] = []
  const timer = setInterval(() => b.send(X), 20)
  t.teardown(() => clearInterval(timer))
  await within((async () => {
    for await (const events of ep) {
      t.true(ep.watching)
      batches.push(events)
      a.recv(16)
      if (batches.length === 3) break
    }
  })(), 5000, 'three batches')
  t.false(ep.watching)
  t.deepEqual(batches, [[[a.fileno(), EPOLLIN]], [[a.fileno(), EPOLLIN]], [[a.fileno(), EPOLLIN]]])
  ep.watch(() => {}) // the Epoll can be watched again
  t.true(ep.watching)
})

test('for await ends when the Epoll is unwatched or closed meanwhile', async (t) => {
  for (const stop of ['unwatch', 'close'] as const) {
    const [a] = pair(t)
    using ep = new Epoll()
    ep.register(a, EPOLLIN)
    const loop = (async () => {
      let batches = 0
      for await (const _ of ep) batches++
      return batches
    })()
    setTimeout(() => ep[stop](), 50)
    t.is(await within(loop, 5000, `the loop to end after ${stop}()`), 0, stop)
    t.false(ep.watching)
  }
})

test('an error thrown by the loop body unwatches', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  b.send(X)
  await t.throwsAsync(within((async () => {
    for await (const _ of ep) throw new Error('body')
  })(), 5000, 'the loop'), { message: 'body' })
  t.false(ep.watching)
})

/** The outcome of a child node process running `source` (TypeScript, with `INDEX` imported as `fdpoll`). */
interface Child {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/**
 * Runs `source` in a child `node --import tsx`; it is killed if it outlives `killAfter` ms.
 * With `aliveAfter`, resolves `alive: true` and kills it if it is still running that many ms
 * after it printed 'ready'.
 */
async function runChild(t: ExecutionContext, source: string, { killAfter = 15_000, aliveAfter }: { killAfter?: number; aliveAfter?: number } = {}): Promise<Child & { alive: boolean }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-watch-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'child.ts')
  fs.writeFileSync(file, `import * as fdpoll from ${JSON.stringify(INDEX)}\n${source}\n`)
  const start = process.hrtime.bigint()
  const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (code, signal) => resolve([code, signal])))
  let alive = false
  const killer = setTimeout(() => child.kill('SIGKILL'), killAfter)
  try {
    if (aliveAfter !== undefined) {
      const ready = new Promise<void>((resolve) => child.stdout.on('data', () => stdout.includes('ready') && resolve()))
      const early = await Promise.race([ready.then(() => false), exited.then(() => true)])
      if (!early) {
        const after = await Promise.race([sleep(aliveAfter).then(() => 'alive'), exited.then(() => 'exited')])
        alive = after === 'alive'
        if (alive) child.kill('SIGKILL')
      }
    }
    const [code, signal] = await exited
    return { code, signal, stdout, stderr, ms: Number(process.hrtime.bigint() - start) / 1e6, alive }
  } finally {
    clearTimeout(killer)
  }
}

test('a process that watches, gets one message and closes exits on its own', async (t) => {
  const child = await runChild(t, `
    const [a, b] = fdpoll.socketpair()
    const ep = new fdpoll.Epoll()
    ep.register(a, fdpoll.EPOLLIN)
    let closedAt = 0
    ep.watch((events) => {
      console.log('got', a.recv(16).toString(), JSON.stringify(events) === JSON.stringify([[a.fileno(), fdpoll.EPOLLIN]]))
      ep.close()
      a.close()
      b.close()
      closedAt = performance.now()
    })
    setTimeout(() => b.send(Buffer.from('hello')), 50)
    process.on('exit', () => console.log('ms from close to exit:', Math.round(performance.now() - closedAt)))
  `)
  t.is(child.stderr, '')
  t.is(child.code, 0)
  const [got, exit] = child.stdout.trimEnd().split('\n')
  t.is(got, 'got hello true')
  const ms = Number(/^ms from close to exit: (\d+)$/.exec(exit)?.[1])
  t.true(ms < 3000, `exited ${ms} ms after close() (${child.ms} ms after the spawn)`)
})

for (const [name, source] of [
  ['watch() then unref()', 'ep.watch(() => {}); ep.unref()'],
  ['unref() then watch()', 'ep.unref(); ep.watch(() => {})'],
  ['for await after unref()', 'ep.unref(); (async () => { for await (const _ of ep); })()'],
]) {
  test(`an unref'd watch does not keep the process alive: ${name}`, async (t) => {
    const child = await runChild(t, `
      const [a, b] = fdpoll.socketpair()
      const ep = new fdpoll.Epoll()
      ep.register(a, fdpoll.EPOLLIN)
      ${source}
      process.on('exit', () => console.log('exit', ep.watching))
    `)
    t.is(child.stderr, '')
    t.is(child.code, 0)
    t.is(child.stdout, 'exit true\n')
  })
}

for (const [name, source] of [
  ['watch()', 'ep.watch(() => {})'],
  ['unref() then ref() then watch()', 'ep.unref().ref(); ep.watch(() => {})'],
  ['watch() then unref() then ref()', 'ep.watch(() => {}); ep.unref(); ep.ref()'],
]) {
  test(`a ref'd watch keeps the process alive: ${name}`, async (t) => {
    const child = await runChild(t, `
      const [a, b] = fdpoll.socketpair()
      const ep = new fdpoll.Epoll()
      ep.register(a, fdpoll.EPOLLIN)
      ${source}
      console.log('ready')
    `, { aliveAfter: 1000 })
    t.is(child.stderr, '')
    t.true(child.alive, `exited on its own: ${child.code ?? child.signal}`)
    t.is(child.signal, 'SIGKILL')
  })
}

for (const [name, source] of [
  ['nothing ever registered', 'ep.watch(() => {})'],
  ['the last fd unregistered', 'ep.register(a, fdpoll.EPOLLIN); ep.watch(() => {}); setTimeout(() => ep.unregister(a), 100)'],
  ['the last fd closed, then unregistered (EBADF)', `ep.register(a, fdpoll.EPOLLIN); ep.watch(() => {})
      setTimeout(() => { const fd = a.fileno(); a.close(); try { ep.unregister(fd) } catch (e) { console.log(e.code) } }, 100)`],
]) {
  test(`a ref'd watch lets the process exit once nothing is registered: ${name}`, async (t) => {
    const child = await runChild(t, `
      const [a, b] = fdpoll.socketpair()
      const ep = new fdpoll.Epoll()
      ${source}
      process.on('exit', () => console.log('exit', ep.watching))
    `)
    t.is(child.stderr, '')
    t.is(child.code, 0)
    t.regex(child.stdout, /exit true\n$/)
  })
}

test('an exception thrown by the callback is an uncaughtException', async (t) => {
  const child = await runChild(t, `
    process.on('uncaughtException', (e) => {
      console.log('uncaught:', e.message)
      process.exit(0)
    })
    const [a, b] = fdpoll.socketpair()
    const ep = new fdpoll.Epoll()
    ep.register(a, fdpoll.EPOLLIN)
    ep.watch(() => { throw new Error('boom from the callback') })
    b.send(Buffer.from('x'))
  `)
  t.is(child.stderr, '')
  t.is(child.stdout, 'uncaught: boom from the callback\n')
  t.is(child.code, 0)
})

test('an uncaught exception from the callback ends the process with an error, as in any Node callback', async (t) => {
  const child = await runChild(t, `
    const [a, b] = fdpoll.socketpair()
    const ep = new fdpoll.Epoll()
    ep.register(a, fdpoll.EPOLLIN)
    ep.watch(() => { throw new Error('boom unhandled') })
    b.send(Buffer.from('x'))
  `)
  t.is(child.code, 1)
  t.regex(child.stderr, /boom unhandled/)
})

/**
 * A child whose Epoll's fd is closed behind its watch's back (`behindItsBack()`), after which
 * `reuse` may open another file at the freed number (with `reopenAt`, setting `intact()`, which
 * uses that file). `report(error)` prints what the watcher got; the test then expects the
 * process to exit on its own.
 */
function closedBehind(watch: string, reuse = '') {
  return `
    import fs from 'node:fs'
    const [a, b] = fdpoll.socketpair()
    const ep = new fdpoll.Epoll()
    ep.register(a, fdpoll.EPOLLIN)
    const fd = ep.fileno()
    let closedAt = 0
    let reused = false
    let intact = () => true
    /**
     * Opens a file with \`open\` at the freed number: every lower number is filled first (fds
     * are allocated lowest first), so that a file opening several fds gets it for its first.
     */
    function reopenAt(open) {
      const fillers = []
      for (;;) {
        const filler = new fdpoll.Socket(fdpoll.AF_INET, fdpoll.SOCK_DGRAM)
        const number = filler.fileno()
        if (number >= fd) {
          filler.close()
          if (number === fd) break
          throw new Error('the fd number was taken meanwhile')
        }
        fillers.push(filler)
      }
      const file = open()
      for (const filler of fillers) filler.close()
      reused = file.fileno() === fd
      return file
    }
    function behindItsBack() {
      fs.closeSync(fd)
      closedAt = performance.now()
      ${reuse}
    }
    function report(e) {
      ep.close() // a no-op now: must not close the number, which another file may hold
      console.log('error', e.constructor.name, e.code, e.errno, e.syscall, /closed behind the watch's back/.test(e.message), ep.closed, ep.watching, reused, intact())
    }
    ${watch}
    console.log('mode', ep.watchMode)
    process.on('exit', () => console.log('exit', Math.round(performance.now() - closedAt), 'ms after the close'))
  `
}

const WATCH_MODE = process.env.FDPOLL_WATCH === 'thread' ? 'thread' : 'loop'
/** A test whose child closes its epoll's fd number with fs.closeSync: an OS fd, which the WebAssembly backend's epoll is not. */
const closesOsFd = kernelOnly("closes the epoll's fd number with fs.closeSync; the WebAssembly backend's epoll fd is the in-memory engine's, no OS fd", { serial: true })

for (const [name, watch, reuse, reused] of [
  ['closed while idle', 'ep.watch(() => {}, -1, report); setTimeout(behindItsBack, 300)', '', false],
  ['closed by the callback itself', 'ep.watch(() => { a.recv(16); behindItsBack() }, -1, report); b.send(Buffer.from("x"))', '', false],
  ['closed in the middle of a for await', '(async () => { try { for await (const _ of ep) a.recv(16) } catch (e) { report(e) } })(); setTimeout(behindItsBack, 300)', '', false],
  ['its number reused by a socket', 'ep.watch(() => {}, -1, report); setTimeout(behindItsBack, 300)', `
      const socket = reopenAt(() => new fdpoll.Socket(fdpoll.AF_INET, fdpoll.SOCK_DGRAM))
      intact = () => { socket.bind(['127.0.0.1', 0]); return socket.getsockname()[0] === '127.0.0.1' }`, true],
  ['its number reused by another Epoll, idle', 'ep.watch(() => {}, -1, report); setTimeout(behindItsBack, 300)', `
      const other = reopenAt(() => new fdpoll.Epoll())
      intact = () => { other.register(b, fdpoll.EPOLLOUT); return other.poll(0).length === 1 }`, true],
  ['its number reused by another Epoll while its own fds have events', 'ep.watch(() => {}, -1, report); setTimeout(behindItsBack, 300)', `
      const other = reopenAt(() => new fdpoll.Epoll())
      b.send(Buffer.from('x')) // the watched instance, out of reach of the number now, gets an event
      intact = () => { other.register(b, fdpoll.EPOLLOUT); return other.poll(0).length === 1 }`, true],
] as const) {
  // Serial: a burst of child processes on a loaded machine makes every child of this file slow.
  closesOsFd(`an epoll fd closed behind its watch's back is EBADF to the watcher, and the process exits: ${name}`, async (t) => {
    const child = await runChild(t, closedBehind(watch, reuse), { killAfter: 60_000 })
    t.is(child.stderr, '')
    t.is(child.code, 0, 'the process exited on its own')
    const lines = child.stdout.trimEnd().split('\n')
    t.deepEqual(lines.slice(0, 2), [`mode ${WATCH_MODE}`, `error OSError EBADF 9 watch true true false ${reused} true`])
    const ms = Number(/^exit (\d+) ms after the close$/.exec(lines[2])?.[1])
    t.true(ms < 5000, `exited ${ms} ms after the close`)
  })
}

closesOsFd('an epoll fd closed behind the back of a watch without onError is an uncaughtException EBADF', async (t) => {
  const child = await runChild(t, closedBehind('ep.watch(() => {}); setTimeout(behindItsBack, 300)'), { killAfter: 60_000 })
  t.is(child.code, 1)
  t.regex(child.stdout, new RegExp(`^mode ${WATCH_MODE}\nexit \\d+ ms after the close\n$`))
  t.regex(child.stderr, /OSError: EBADF: bad file descriptor, watch \(epoll fd \d+ was closed behind the watch's back\)/)
})

test('ep.watcher is the handle the watch methods delegate to', async (t) => {
  const [a, b] = pair(t)
  using ep = new Epoll()
  const { watcher } = ep
  t.is(ep.watcher, watcher, 'one handle per Epoll')
  ep.register(a, EPOLLIN)
  t.true(watcher.hasRef())
  t.is(ep.unref(), ep)
  t.false(watcher.hasRef())
  watcher.ref()
  t.true(watcher.hasRef())
  const got = new Promise<[number, number][]>((resolve) => watcher.start(resolve))
  t.true(ep.watching)
  t.is(ep.watchMode, watcher.mode)
  t.throws(() => ep.watch(() => {}), { instanceOf: ValueError, code: 'ERR_WATCHED' })
  b.send(X)
  t.deepEqual(await within(got, 5000, 'the handle\'s callback'), [[a.fileno(), EPOLLIN]])
  ep.unwatch()
  t.false(watcher.active)
  const batches: [number, number][][] = []
  await within((async () => {
    for await (const events of watcher) {
      batches.push(events)
      break
    }
  })(), 5000, 'a batch from the handle\'s iterator')
  t.deepEqual(batches, [[[a.fileno(), EPOLLIN]]])
  t.false(watcher.active)
})

test('onError must be a function', (t) => {
  using ep = new Epoll()
  t.throws(() => ep.watch(() => {}, -1, 'onError' as any), { instanceOf: TypeError })
  t.throws(() => ep.watchInto(new Int32Array(2), () => {}, 42 as any), { instanceOf: TypeError })
  t.false(ep.watching)
})

/** Waker fds (each waiting thread has a waker) plus poller fds. */
const watchFds = () => {
  const { waker, poller } = fdKinds()
  return waker + poller
}

/**
 * Collects garbage until `done()` (at most ~2 s). `gc()` runs in a later macrotask than
 * `done()`: a WeakRef deref() keeps its target alive until the end of the job that called it.
 */
async function settle(done: () => boolean): Promise<void> {
  for (let tries = 0; tries < 100 && !done(); tries++) {
    await sleep(10)
    gc()
    await setImmediate()
  }
}

kernelOnly("counts the OS's epoll, eventfd and waiting-thread fds in /proc/self/fd; the WebAssembly backend's are the in-memory engine's", { serial: true })('200 watch/unwatch/close cycles leak no waker or poller fd', async (t) => {
  const [a, b] = pair(t)
  b.send(X) // always readable: some cycles stop with a dispatch in flight
  const before = watchFds()
  const wakers = fdCount('waker')
  for (let i = 0; i < 200; i++) {
    const ep = new Epoll()
    ep.register(a, EPOLLIN)
    let loop: Promise<void> | undefined
    if (i % 3 === 0) ep.watch(() => {})
    else if (i % 3 === 1) ep.watchInto(new Int32Array(2), () => {})
    else loop = (async () => { for await (const _ of ep); })()
    if (i % 10 === 0) await sleep(2)
    if (i % 2 === 0) ep.unwatch()
    ep.close()
    if (loop) await within(loop, 5000, 'the for-await loop to end')
  }
  // An earlier test's waiting thread may still be closing its waker when `wakers` is counted,
  // so the count may end below it; a leak would leave it above.
  await settle(() => watchFds() === before && fdCount('waker') <= wakers)
  t.true(fdCount('waker') <= wakers, `each waiting thread closed its waker (${fdCount('waker')} open, ${wakers} before)`)
  t.is(watchFds(), before)
})

test.serial('an unwatched callback can be garbage-collected', async (t) => {
  const [a, b] = pair(t)
  b.send(X)
  const refs: WeakRef<object>[] = []
  const watchAndClose = () => {
    for (let i = 0; i < 10; i++) {
      const ep = new Epoll()
      ep.register(a, EPOLLIN)
      const callback = () => {}
      refs.push(new WeakRef(callback))
      ep.watch(callback)
      ep.close()
    }
  }
  watchAndClose()
  await settle(() => refs.every((ref) => ref.deref() === undefined))
  t.deepEqual(refs.map((ref, i) => (ref.deref() === undefined ? -1 : i)).filter((i) => i >= 0), [])
})

test.serial('the default watch mode is Node\'s own loop; FDPOLL_WATCH=thread selects the waiting thread', (t) => {
  const ep = new Epoll()
  t.teardown(() => ep.close())
  const before = threadCount()
  ep.watch(() => {})
  const thread = process.env.FDPOLL_WATCH === 'thread'
  t.is(ep.watchMode, thread ? 'thread' : 'loop')
  t.is(threadCount() - before, thread ? 1 : 0, 'the loop mode runs no thread of its own')
  ep.unwatch()
  t.is(ep.watchMode, undefined)
})
