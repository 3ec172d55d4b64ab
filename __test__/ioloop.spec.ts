/**
 * IOLoop (Tornado's PollIOLoop): handlers, callbacks, timeouts, errors, start()/runSync()/stop()/
 * close(), the loop's own fds, and RemoteIOLoop from a worker thread. Most behaviour is checked
 * in both run modes: `await loop.start()` (on Node's loop) and `loop.runSync()` (blocking), each
 * stopped from inside the loop. All tests are serial: runSync() blocks the thread, which would
 * distort the timings of concurrent tests, and the fd-count tests need a quiet process.
 */
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'
import { spawn } from 'node:child_process'
import path from 'node:path'
import { Worker } from 'node:worker_threads'

import {
  BrokenPipeError,
  ConnectionResetError,
  EPOLLHUP,
  Epoll,
  IOLoop,
  OSError,
  RemoteIOLoop,
  type RemoteHandle,
  RuntimeError,
  Socket,
  type Timeout,
  backend,
  createServer,
  errno,
  select,
  socketpair,
} from '../src/index.js'
import { TimeoutQueue } from '../src/timeouts.js'
import { pythonConstants } from './cpython.js'
import { WASM, kernelOnly, pair, peerClosed, testIf } from './helpers.js'
import { LINUX, fdKinds, openFds } from './inspect.js'

type Mode = 'start' | 'runSync'
const MODES: Mode[] = ['start', 'runSync']

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const gc: () => void = (globalThis as any).gc

/** Rejects with `what` if `promise` has not settled within `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/** Resolves once `check()` is true, or rejects after `ms`. */
async function until(ms: number, what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`)
    await sleep(20)
  }
}

/**
 * A TCP connection on 127.0.0.1 whose other end, a child bash, sends one byte after `seconds` (a
 * child process cannot hold an fd of the WebAssembly backend's, so not a socketpair's end).
 * Made at once (bash connects within milliseconds), so that the test's own timeouts keep their time.
 */
function watchdogConnection(seconds: number): { watchdog: Socket; stop(): Promise<void> } {
  using server = createServer(['127.0.0.1', 0])
  const script = 'exec 3<>"/dev/tcp/127.0.0.1/$1"; sleep "$2"; printf x >&3; exec sleep 10'
  const child = spawn('bash', ['-c', script, 'bash', String(server.getsockname()[1]), String(seconds)], { stdio: 'ignore' })
  const exited = new Promise<unknown>((resolve) => child.on('exit', resolve).on('error', resolve))
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    await exited
  }
  if (select([server], [], [], 5)[0].length === 0) throw new Error('the watchdog did not connect within 5 s')
  const [watchdog] = server.accept()
  return { watchdog, stop }
}

/**
 * Runs `loop` in `mode` until something inside it calls `stop()`, for at most `seconds`. Under
 * start() a Node timer bounds the wait. runSync() blocks this thread, so no Node timer can fire;
 * its bound is a child process that writes to a socket the loop watches after `seconds` (which
 * does not rely on the loop's own timeouts, under test themselves).
 */
async function run(loop: IOLoop, mode: Mode, seconds = 5): Promise<void> {
  if (mode === 'start') {
    const stopped = loop.start()
    try {
      await within(seconds * 1000, 'the loop stopping', stopped)
    } catch (e) {
      loop.stop()
      throw e
    }
    return
  }
  const { watchdog, stop } = watchdogConnection(seconds)
  let timedOut = false
  loop.addHandler(watchdog, () => {
    timedOut = true
    loop.stop()
  }, IOLoop.READ)
  try {
    loop.runSync()
  } finally {
    loop.removeHandler(watchdog)
    watchdog.close()
    await stop()
  }
  if (timedOut) throw new Error(`timed out after ${seconds} s: the loop stopping`)
}

/** A new loop, closed when the test ends; an exception inside it fails the test (unless `onError` is replaced). */
function newLoop(t: ExecutionContext): IOLoop {
  const loop = new IOLoop()
  loop.onError = (e) => t.fail(`an exception in the loop: ${e}`)
  t.teardown(() => loop.close())
  return loop
}

/**
 * Socketpairs, opened until one end lands on `fd` (which must be free: just closed). Returns
 * that end and its peer; every socket opened is closed when the test ends.
 */
function socketOnFd(t: ExecutionContext, fd: number): [Socket, Socket] {
  const opened: Socket[] = []
  t.teardown(() => opened.forEach((s) => s.close()))
  for (let i = 0; i < 1000; i++) {
    const [x, y] = socketpair()
    opened.push(x, y)
    if (x.fileno() === fd) return [x, y]
    if (y.fileno() === fd) return [y, x]
  }
  throw new Error(`fd ${fd} was not reused`)
}

/** How many poller (epoll or kqueue) and waker fds this process has open (Node's own included). */
const loopFds = () => {
  const { poller, waker } = fdKinds()
  return { pollers: poller, wakers: waker }
}
/** Poller fds per Epoll: the mio backend holds a second one (a clone of mio's Registry). */
const POLLER_FDS = backend === 'mio' ? 2 : 1
/** Waker fds per waker: an eventfd on Linux, a pipe (both ends) elsewhere. */
const WAKER_FDS = LINUX ? 1 : 2
/** kqueue (the mio backend off Linux) reports a hang-up only through the read and write filters. */
const HUP_ON_LINUX = 'kqueue reports no EPOLLHUP unless both its read and write filters saw the end (crates/core/src/sys/mio.rs)'

// Constants

testIf(LINUX, "CPython's select module has epoll, and so its constants, only on Linux", { serial: true })(
  "READ, WRITE and ERROR are Tornado's: CPython's select.EPOLLIN, EPOLLOUT and EPOLLERR | EPOLLHUP", (t) => {
  const python = pythonConstants('select', 'EPOLL')
  t.is(IOLoop.READ, python.EPOLLIN)
  t.is(IOLoop.WRITE, python.EPOLLOUT)
  t.is(IOLoop.ERROR, python.EPOLLERR | python.EPOLLHUP)
})

// Handlers

for (const mode of MODES) {
  test.serial(`addHandler: the handler gets the object it was given and the events (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, b] = pair(t)
    const [c, d] = pair(t)
    const calls: [unknown, number, string][] = []
    const stopAfterBoth = () => calls.length === 2 && loop.stop()
    b.send(Buffer.from('hi'))
    b.close()
    loop.addHandler(a, (sock, events) => {
      calls.push([sock, events, sock.recv(10).toString()])
      loop.removeHandler(sock)
      stopAfterBoth()
    }, IOLoop.READ)
    // A plain fd is handed back as the number it was registered with.
    const fd = c.fileno()
    d.send(Buffer.from('x'))
    loop.addHandler(fd, (got, events) => {
      calls.push([got, events, c.recv(10).toString()])
      loop.removeHandler(got)
      stopAfterBoth()
    }, IOLoop.READ)
    await run(loop, mode)
    t.is(calls.length, 2)
    const [sockCall] = calls.filter(([got]) => got === a)
    t.truthy(sockCall, 'the handler got the Socket itself')
    t.true((sockCall[1] & IOLoop.READ) !== 0, `events ${sockCall[1]}`)
    t.is(sockCall[2], 'hi')
    const [fdCall] = calls.filter(([got]) => got === fd)
    t.truthy(fdCall, 'the handler got the fd number')
    t.is(fdCall[1], IOLoop.READ)
    t.is(fdCall[2], 'x')
  })

  testIf(LINUX, HUP_ON_LINUX, { serial: true })(`addHandler: a peer that closed is EPOLLHUP in the events, beside READ (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, b] = pair(t)
    b.send(Buffer.from('hi'))
    b.close()
    peerClosed(a) // on the WebAssembly backend the close arrives a moment after the data
    let events = -1
    loop.addHandler(a, (sock, ev) => {
      events = ev
      loop.removeHandler(sock)
      loop.stop()
    }, IOLoop.READ)
    await run(loop, mode)
    t.true((events & IOLoop.READ) !== 0, `events ${events}`)
    t.true((events & EPOLLHUP) !== 0, `the peer closed: EPOLLHUP in events ${events}`)
  })

  testIf(LINUX, HUP_ON_LINUX, { serial: true })(
    `addHandler: a handler registered for no events still sees a hang-up (ERROR always watched) (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, b] = pair(t)
    b.send(Buffer.from('unread data: READ is not asked for'))
    const calls: [Socket, number][] = []
    loop.addHandler(a, (sock, events) => {
      calls.push([sock, events])
      loop.removeHandler(sock)
      loop.stop()
    }, 0)
    let before = -1
    loop.callLater(0.05, () => {
      before = calls.length // readable all along, but nothing fired for it
      b.close()
    })
    await run(loop, mode)
    t.is(before, 0)
    t.is(calls.length, 1)
    t.is(calls[0][0], a)
    t.is(calls[0][1], EPOLLHUP)
  })

  test.serial(`updateHandler: READ to WRITE makes a writable socket fire, and back to READ quiets it (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a] = pair(t)
    const events: number[] = []
    loop.addHandler(a, (_, ev) => {
      events.push(ev)
      loop.updateHandler(a, IOLoop.READ) // level-triggered WRITE would fire on every turn
    }, IOLoop.READ)
    let before = -1
    loop.callLater(0.05, () => {
      before = events.length
      loop.updateHandler(a, IOLoop.WRITE)
    })
    loop.callLater(0.15, () => loop.stop())
    await run(loop, mode)
    t.is(before, 0, 'nothing to read: no events before the update')
    t.deepEqual(events, [IOLoop.WRITE])
  })

  test.serial(`removeHandler: no more events, and the fd can be added again (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, b] = pair(t)
    b.send(Buffer.from('never read: a level-triggered fd stays readable'))
    let first = 0
    let second = 0
    loop.addHandler(a, () => {
      first++
      loop.removeHandler(a)
    }, IOLoop.READ)
    loop.callLater(0.1, () => {
      loop.addHandler(a, () => { // EEXIST if the fd were still registered
        second++
        loop.stop()
      }, IOLoop.READ)
    })
    await run(loop, mode)
    t.is(first, 1)
    t.is(second, 1)
  })

  test.serial(`removeHandler: an event still pending in the same batch is dropped, even for a reused fd (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, a2] = pair(t)
    const [b, b2] = pair(t)
    a2.send(Buffer.from('x'))
    b2.send(Buffer.from('x')) // both readable before the loop starts: one batch
    const ran: string[] = []
    let reused = -1
    let stale = 0
    /** Whichever handler runs first removes the other one, closes its socket and reuses its fd. */
    const handler = (name: string, other: Socket) => (sock: Socket) => {
      ran.push(name)
      loop.removeHandler(sock)
      if (ran.length > 1) return
      const fd = other.fileno()
      loop.removeHandler(other)
      other.close()
      const [fresh] = socketOnFd(t, fd) // quiet: nothing to read
      reused = fresh.fileno() === fd ? fd : -1
      loop.addHandler(fresh, () => {
        stale++
        loop.removeHandler(fresh)
      }, IOLoop.READ)
    }
    loop.addHandler(a, handler('a', b), IOLoop.READ)
    loop.addHandler(b, handler('b', a), IOLoop.READ)
    loop.callLater(0.1, () => loop.stop())
    await run(loop, mode)
    t.is(ran.length, 1, `handlers that ran: ${ran}`)
    t.true(reused >= 0, 'the removed fd number was reused')
    t.is(stale, 0, "the new socket on the reused fd got the removed one's pending event")
  })

  test.serial(`removeHandler: a socket closed before removal, or never added, does not throw (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, a2] = pair(t)
    const [never] = pair(t)
    let oldCalls = 0
    loop.addHandler(a, () => oldCalls++, IOLoop.READ)
    const fd = a.fileno()
    a.close()
    t.notThrows(() => loop.removeHandler(a))
    t.notThrows(() => loop.removeHandler(a)) // twice
    t.notThrows(() => loop.removeHandler(never))
    a2.close()
    // The loop forgot it: a socket on the same fd number is a new registration that works.
    const [fresh, peer] = socketOnFd(t, fd)
    const got: Socket[] = []
    loop.addHandler(fresh, (sock) => {
      got.push(sock)
      loop.removeHandler(sock)
      loop.stop()
    }, IOLoop.READ)
    peer.send(Buffer.from('x'))
    await run(loop, mode)
    t.deepEqual(got, [fresh])
    t.is(oldCalls, 0)
  })
}

// Callbacks and timeouts

for (const mode of MODES) {
  test.serial(`addCallback: next turn, with its arguments, in order; one added by a callback runs a turn later (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, b] = pair(t)
    const order: string[] = []
    loop.addCallback((n: number, s: string, o: object) => {
      order.push(`first ${n} ${s} ${JSON.stringify(o)}`)
      loop.addCallback(() => {
        order.push('added by a callback')
        loop.stop()
      })
    }, 1, 'two', { three: 3 })
    loop.addCallback(() => order.push('second'))
    t.deepEqual(order, [], 'nothing runs before the loop does')
    // Due before the first turn: a turn runs its callbacks, then its due timeouts, then waits
    // (not at all, a callback is pending) and dispatches fd events; the new callback is next.
    loop.callAt(loop.time() - 1, () => order.push('due timeout'))
    if (mode === 'runSync') {
      b.send(Buffer.from('x'))
      loop.addHandler(a, () => {
        order.push('handler')
        loop.removeHandler(a)
      }, IOLoop.READ)
    }
    await run(loop, mode)
    t.deepEqual(order, [
      'first 1 two {"three":3}',
      'second',
      'due timeout',
      ...(mode === 'runSync' ? ['handler'] : []),
      'added by a callback',
    ])
  })

  test.serial(`callLater/callAt: by deadline, equal deadlines in scheduling order (${mode})`, async (t) => {
    const loop = newLoop(t)
    const order: string[] = []
    const base = loop.time() + 0.03
    // Scheduled out of order, with many ties, so that a heap without a tie-break would reorder.
    loop.callAt(base + 0.03, () => order.push('c'))
    for (let i = 0; i < 20; i++) {
      loop.callAt(base + 0.02, () => order.push(`b${i}`))
      if (i % 5 === 0) loop.callAt(base + 0.01 + i / 10_000, () => order.push(`a${i}`))
    }
    loop.callAt(base, () => order.push('0'))
    loop.callLater(0.01, (x: string, y: string) => order.push(`early ${x}${y}`), 'p', 'q')
    loop.callAt(base + 0.03, () => {
      order.push('d')
      loop.stop()
    })
    await run(loop, mode)
    t.deepEqual(order, [
      'early pq', '0', 'a0', 'a5', 'a10', 'a15',
      ...Array.from({ length: 20 }, (_, i) => `b${i}`),
      'c', 'd',
    ])
  })

  test.serial(`removeTimeout: a cancelled timeout never runs, even one due in the same turn (${mode})`, async (t) => {
    const loop = newLoop(t)
    const ran: string[] = []
    loop.removeTimeout(loop.callLater(0.01, () => ran.push('cancelled at once')))
    const deadline = loop.time() + 0.02
    let second: Timeout | undefined
    loop.callAt(deadline, () => {
      ran.push('first')
      loop.removeTimeout(second!) // due too, already taken off the heap for this turn
    })
    second = loop.callAt(deadline, () => ran.push('second'))
    const last = loop.callLater(0.06, () => {
      ran.push('last')
      loop.stop()
    })
    await run(loop, mode)
    t.deepEqual(ran, ['first', 'last'])
    t.notThrows(() => loop.removeTimeout(last), 'cancelling a timeout that ran is a no-op')
  })

  test.serial(`the wait lasts until the next deadline: a lone callLater(0.05) fires after 50 ms, not 3600 s (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [idle] = pair(t)
    loop.addHandler(idle, () => t.fail('the idle socket fired'), IOLoop.READ)
    const start = performance.now()
    let elapsed = -1
    loop.callLater(0.05, () => {
      elapsed = performance.now() - start
      loop.stop()
    })
    await run(loop, mode)
    t.true(elapsed >= 50, `fired after ${elapsed} ms`)
    t.true(elapsed < 500, `fired after ${elapsed} ms`)
  })

  test.serial(`the wait is 0 while callbacks are pending: 200 chained callbacks do not wait for a far timeout (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [idle] = pair(t)
    loop.addHandler(idle, () => t.fail('the idle socket fired'), IOLoop.READ)
    loop.callLater(30, () => t.fail('the far timeout ran'))
    let turns = 0
    const start = performance.now()
    const chain = () => {
      if (++turns < 200) loop.addCallback(chain)
      else loop.stop()
    }
    loop.addCallback(chain)
    await run(loop, mode)
    const elapsed = performance.now() - start
    t.is(turns, 200)
    t.true(elapsed < 2000, `200 turns took ${elapsed} ms`)
  })
}

test.serial('callAt: a deadline that is not a number is TypeError, and nothing is scheduled', async (t) => {
  const loop = newLoop(t)
  let ran = 0
  t.throws(() => loop.callAt(Number.NaN, () => ran++), { instanceOf: TypeError })
  t.throws(() => loop.callAt('1' as unknown as number, () => ran++), { instanceOf: TypeError })
  t.throws(() => loop.callLater('0' as unknown as number, () => ran++), { instanceOf: TypeError })
  loop.callLater(0.02, () => loop.stop())
  await run(loop, 'start')
  t.is(ran, 0, 'a rejected callback never runs')
})

test.serial('TimeoutQueue: cancelled timeouts stay until more than 512, and over half, are cancelled; then the heap compacts', (t) => {
  const q = new TimeoutQueue()
  const far = 1e9
  const timeouts = Array.from({ length: 1200 }, (_, i) => q.add(far + i, () => {}))
  t.is(q.size, 1200)
  const live = timeouts.filter((_, i) => i % 6 === 0) // 200 kept
  const doomed = timeouts.filter((_, i) => i % 6 !== 0) // 1,000 cancelled
  const sizes: number[] = []
  for (const timeout of doomed) {
    q.cancel(timeout)
    sizes.push(q.size)
  }
  // More than 512 and more than half of 1,200: at the 601st cancellation, down to 599.
  t.is(sizes[599], 1200, 'lazy until then')
  t.is(sizes[600], 599, 'compacted at the 601st cancellation')
  t.is(q.size, 599, 'the next 399 cancelled stay in the heap: fewer than 513')
  t.true(q.size < 1200)
  t.is(q.nextDeadline(), far)
  const due = q.popDue(Infinity)
  t.deepEqual(due, live, 'exactly the live ones, in deadline order')
  t.is(q.size, 0)
  t.is(q.nextDeadline(), undefined)
})

test.serial('TimeoutQueue: a small heap is never compacted; cancelled tops are dropped as they surface', (t) => {
  const q = new TimeoutQueue()
  const timeouts = Array.from({ length: 10 }, (_, i) => q.add(i, () => {}))
  for (const timeout of timeouts.slice(0, 9)) q.cancel(timeout)
  t.is(q.size, 10, '9 cancelled out of 10: still there (not more than 512)')
  t.is(q.nextDeadline(), 9, 'the live one')
  t.is(q.size, 1, 'the cancelled ones above it were dropped on the way')
  q.cancel(timeouts[9])
  q.cancel(timeouts[9]) // twice: counted once
  t.deepEqual(q.popDue(Infinity), [])
  t.is(q.size, 0)
  // Ties in scheduling order, and only what is due.
  const x = q.add(5, () => {})
  const y = q.add(5, () => {})
  const z = q.add(4, () => {})
  q.add(6, () => {})
  t.deepEqual(q.popDue(5), [z, x, y])
  t.is(q.size, 1)
})

test.serial('time(): seconds on a monotonic clock, the one callLater() deadlines are kept by', async (t) => {
  const loop = newLoop(t)
  // In seconds: it advances as the process's monotonic clock (CLOCK_MONOTONIC) does, over 50 ms.
  const [t0, h0] = [loop.time(), process.hrtime.bigint()]
  await until(5000, '50 ms on the monotonic clock', () => process.hrtime.bigint() - h0 >= 50_000_000n)
  const [t1, h1] = [loop.time(), process.hrtime.bigint()]
  const clock = Number(h1 - h0) / 1e9
  t.true(Math.abs(t1 - t0 - clock) < 0.005, `time() advanced ${t1 - t0} while the clock advanced ${clock} s`)
  // Never backwards.
  let previous = loop.time()
  let decreased = 0
  for (let i = 0; i < 10_000; i++) {
    const now = loop.time()
    if (now < previous) decreased++
    previous = now
  }
  t.is(decreased, 0)
  // callLater(0.05) runs once time() has passed its deadline, 50 ms later on the same clock.
  const start = [loop.time(), process.hrtime.bigint()] as const
  let fired: [number, bigint] | undefined
  loop.callLater(0.05, () => {
    fired = [loop.time(), process.hrtime.bigint()]
    loop.stop()
  })
  await run(loop, 'start')
  t.true(fired![0] >= start[0] + 0.05, `ran at time() ${fired![0]}, deadline ${start[0] + 0.05}`)
  const waited = Number(fired![1] - start[1]) / 1e6
  t.true(waited >= 50 && waited < 1000, `ran ${waited} ms after callLater(0.05)`)
})

// Errors

for (const mode of MODES) {
  test.serial(`exceptions in callbacks, timeouts and handlers go to onError and the loop keeps going (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, b] = pair(t)
    const errors: unknown[] = []
    loop.onError = (e) => errors.push(e)
    const fromCallback = new Error('from a callback')
    const fromTimeout = new Error('from a timeout')
    const fromHandler = new Error('from a handler')
    loop.addCallback(() => {
      throw fromCallback
    })
    loop.callLater(0, () => {
      throw fromTimeout
    })
    b.send(Buffer.from('x'))
    loop.addHandler(a, () => {
      loop.removeHandler(a)
      throw fromHandler
    }, IOLoop.READ)
    const later: string[] = []
    loop.callLater(0.05, () => loop.addCallback(() => {
      later.push('a later callback ran')
      loop.stop()
    }))
    await run(loop, mode)
    t.deepEqual(later, ['a later callback ran'])
    // Under start(), fd events arrive on Node's loop apart from the turns: any order.
    const expected = [fromCallback, fromTimeout, fromHandler]
    t.deepEqual(mode === 'runSync' ? errors : expected.filter((e) => errors.includes(e)), expected)
    t.is(errors.length, 3)
  })

  test.serial(`an EPIPE (BrokenPipeError) from a handler is ignored; other OSErrors are not (${mode})`, async (t) => {
    const loop = newLoop(t)
    const [a, b] = pair(t)
    b.close()
    const errors: unknown[] = []
    loop.onError = (e) => errors.push(e)
    let thrown: unknown
    // Once the handler and the callback have both thrown, a callback stops the loop: it runs
    // after the loop has dealt with both errors.
    let pending = 2
    const settled = () => --pending === 0 && loop.addCallback(() => loop.stop())
    loop.addHandler(a, () => {
      loop.removeHandler(a)
      try {
        a.send(Buffer.from('to nobody')) // the peer is gone
      } catch (e) {
        thrown = e
        throw e
      } finally {
        settled()
      }
    }, IOLoop.WRITE)
    const reset = new ConnectionResetError(errno.ECONNRESET, 'recv')
    loop.addCallback(() => {
      settled()
      throw reset
    })
    await run(loop, mode)
    t.true(thrown instanceof BrokenPipeError, `the handler threw ${thrown}`)
    t.is((thrown as BrokenPipeError).code, 'EPIPE')
    t.deepEqual(errors, [reset])
  })
}

// start(), runSync(), stop(), close()

test.serial('start(): a promise that settles at stop(); ERR_RUNNING while running; restartable; ERR_CLOSED after close()', async (t) => {
  const loop = newLoop(t)
  const stopped = loop.start()
  t.teardown(() => loop.stop())
  t.true(stopped instanceof Promise)
  let settled = false
  void stopped.then(() => (settled = true))
  await new Promise<void>((resolve) => loop.callLater(0.02, resolve)) // the loop has run for a while
  t.false(settled, 'pending while the loop runs')
  t.throws(() => loop.start(), { instanceOf: RuntimeError, code: 'ERR_RUNNING' })
  t.throws(() => loop.runSync(), { instanceOf: RuntimeError, code: 'ERR_RUNNING' })
  loop.addCallback(() => loop.stop())
  await within(2000, 'start() settling after stop()', stopped)
  t.true(settled)

  // Stopped, it can start again; work queued meanwhile runs then.
  const ran: string[] = []
  loop.addCallback(() => ran.push('queued while stopped'))
  loop.callLater(0.02, () => loop.stop())
  await within(2000, 'the second start() settling', loop.start())
  t.deepEqual(ran, ['queued while stopped'])

  loop.close()
  t.throws(() => loop.start(), { instanceOf: RuntimeError, code: 'ERR_CLOSED' })
  t.throws(() => loop.runSync(), { instanceOf: RuntimeError, code: 'ERR_CLOSED' })
  t.notThrows(() => loop.close(), 'close() twice')
})

test.serial('runSync(): ERR_RUNNING from inside, returns at stop(), restartable, ERR_CLOSED after close()', async (t) => {
  const loop = newLoop(t)
  const thrown: unknown[] = []
  loop.addCallback(() => {
    for (const call of [() => loop.runSync(), () => loop.start()]) {
      try {
        call()
      } catch (e) {
        thrown.push(e)
      }
    }
    loop.stop()
  })
  await run(loop, 'runSync')
  t.is(thrown.length, 2)
  for (const e of thrown) {
    t.true(e instanceof RuntimeError)
    t.is((e as RuntimeError).code, 'ERR_RUNNING')
  }
  let again = false
  loop.addCallback(() => {
    again = true
    loop.stop()
  })
  await run(loop, 'runSync')
  t.true(again)
  loop.close()
  t.throws(() => loop.runSync(), { instanceOf: RuntimeError, code: 'ERR_CLOSED' })
})

for (const mode of MODES) {
  test.serial(`close() from inside the running loop ends the run (${mode})`, async (t) => {
    const loop = newLoop(t)
    let after = false
    loop.addCallback(() => loop.close())
    loop.callLater(0.2, () => (after = true))
    const [a] = pair(t)
    loop.addHandler(a, () => {}, IOLoop.READ)
    await run(loop, mode)
    t.false(after, 'nothing ran after close()')
    t.throws(() => loop.start(), { code: 'ERR_CLOSED' })
    t.notThrows(() => loop.removeHandler(a), 'removeHandler after close() is a no-op')
    t.false(a.closed, 'close() without allFds')
  })
}

test.serial('close({ allFds: true }) closes registered Sockets, Epolls and plain fds; close() leaves them open', (t) => {
  const [a, b] = pair(t)
  const [c, d] = pair(t)
  const fd = c.detach() // a plain fd
  const ep = new Epoll()
  t.teardown(() => ep.close())
  const loop = new IOLoop()
  loop.addHandler(a, () => {}, IOLoop.READ)
  loop.addHandler(fd, () => {}, IOLoop.READ)
  loop.addHandler(ep, () => {}, IOLoop.READ)
  loop.close({ allFds: true })
  t.is(a.fileno(), -1)
  t.true(a.closed)
  t.true(ep.closed)
  t.throws(() => select([fd], [], [], 0), { code: 'EBADF' }, 'the plain fd is closed') // an fd of the backend's: the WebAssembly one's are no OS fds
  b.close()
  d.close()

  const [e, f] = pair(t)
  const [g, h] = pair(t)
  const plain = g.detach()
  t.teardown(() => new Socket(-1, -1, -1, plain).close())
  const ep2 = new Epoll()
  t.teardown(() => ep2.close())
  const loop2 = new IOLoop()
  loop2.addHandler(e, () => {}, IOLoop.READ)
  loop2.addHandler(plain, () => {}, IOLoop.READ)
  loop2.addHandler(ep2, () => {}, IOLoop.READ)
  loop2.close()
  t.true(e.fileno() >= 0)
  t.false(ep2.closed)
  t.notThrows(() => select([plain], [], [], 0))
  f.send(Buffer.from('still open'))
  t.is(e.recv(100).toString(), 'still open')
  h.close()
})

test.serial('using: a loop in a `using` block is closed at its end', (t) => {
  let escaped: IOLoop
  {
    using loop = new IOLoop()
    escaped = loop
  }
  t.throws(() => escaped.start(), { instanceOf: RuntimeError, code: 'ERR_CLOSED' })
})

// The loop's own fds

/** A test that counts the loop's fds among the OS's (/proc/self/fd): not on the WebAssembly backend. */
const countsOsLoopFds = kernelOnly("counts the OS's epoll and eventfd fds in /proc/self/fd; the WebAssembly backend's loop fds are the in-memory engine's", { serial: true })

countsOsLoopFds("the loop's own fds (a poller and a waker) are released: 50 create/close cycles", (t) => {
  const before = loopFds()
  const first = new IOLoop()
  t.deepEqual(loopFds(), { pollers: before.pollers + POLLER_FDS, wakers: before.wakers + WAKER_FDS }, 'one of each per loop')
  first.close()
  for (let i = 0; i < 49; i++) new IOLoop().close()
  t.deepEqual(loopFds(), before)
})

countsOsLoopFds("the loop's own fds are released after start()/stop() and runSync() cycles", async (t) => {
  const before = loopFds()
  for (let i = 0; i < 10; i++) {
    const loop = new IOLoop()
    loop.addCallback(() => loop.stop())
    await run(loop, 'start')
    loop.close()
    const sync = new IOLoop()
    sync.addCallback(() => sync.stop())
    await run(sync, 'runSync')
    sync.close()
  }
  // start() may watch through a thread with a waker of its own, which it closes as it exits.
  await until(3000, `the fd counts back to ${JSON.stringify(before)}`, () => {
    const now = loopFds()
    return now.pollers === before.pollers && now.wakers === before.wakers
  })
  t.deepEqual(loopFds(), before)
})

countsOsLoopFds("a loop dropped without close() has its fds closed when it is garbage-collected", async (t) => {
  const before = loopFds()
  ;(() => {
    for (let i = 0; i < 20; i++) new IOLoop().addCallback(() => {})
  })()
  t.is(loopFds().pollers, before.pollers + 20 * POLLER_FDS)
  await until(5000, `the fd counts back to ${JSON.stringify(before)} after gc`, () => {
    gc()
    const now = loopFds()
    return now.pollers === before.pollers && now.wakers === before.wakers
  })
  t.deepEqual(loopFds(), before)
})

// Node is not blocked

test.serial('start() does not block Node: Node timers fire while the loop waits', async (t) => {
  const loop = newLoop(t)
  const [idle] = pair(t)
  loop.addHandler(idle, () => t.fail('the idle socket fired'), IOLoop.READ)
  loop.callLater(60, () => t.fail('the far timeout ran'))
  let ticks = 0
  const interval = setInterval(() => ticks++, 10)
  t.teardown(() => clearInterval(interval))
  const started = loop.time()
  let firedAfter = -1
  setTimeout(() => {
    firedAfter = loop.time() - started
    loop.stop()
  }, 200) // scheduled before start()
  await within(3000, 'the Node timer stopping the loop', loop.start())
  t.true(firedAfter >= 0.19 && firedAfter < 2, `the timer fired after ${firedAfter} s`)
  t.true(ticks >= 5, `the interval ticked ${ticks} times in 200 ms`)
})

// Other threads

for (const mode of MODES) {
  test.serial(`RemoteIOLoop on the loop's own thread: messages reach onMessage in order, on a turn (${mode})`, async (t) => {
    const loop = newLoop(t)
    const remote = new RemoteIOLoop(loop.remote())
    t.teardown(() => remote.close())
    const got: unknown[] = []
    let idleCpuMs = -1
    loop.onMessage = (message) => {
      got.push(message)
      if (message !== 'last') return
      // Then idle: the waker was reset, so the loop does not spin on it.
      const from = process.cpuUsage()
      loop.callLater(0.3, () => {
        const { user, system } = process.cpuUsage(from)
        idleCpuMs = (user + system) / 1000
        loop.stop()
      })
    }
    loop.addCallback(() => {
      remote.addCallback('one')
      remote.addCallback({ two: [2] })
      t.deepEqual(got, [], 'not delivered synchronously')
      remote.addCallback('last')
    })
    await run(loop, mode)
    t.deepEqual(got, ['one', { two: [2] }, 'last'])
    t.true(idleCpuMs >= 0 && idleCpuMs < 100, `${idleCpuMs} ms of CPU in 300 ms idle`)
  })
}

for (const mode of MODES) test.serial(`RemoteIOLoop from the main thread wakes a worker's loop in ${mode}(); the worker closes and exits cleanly`, async (t) => {
  const before = loopFds()
  const worker = new Worker(path.join(__dirname, 'fixtures', 'ioloop-worker.ts'), { execArgv: ['--require', 'tsx/cjs'], workerData: { mode } })
  const messages: unknown[] = []
  let exitCode: number | undefined
  const exited = new Promise<number>((resolve) => worker.on('exit', (code) => resolve((exitCode = code))))
  worker.on('message', (message) => messages.push(message))
  const errors: unknown[] = []
  worker.on('error', (e) => errors.push(e))
  // If the test fails before 'stop', the worker's own 10 s guard ends runSync(); terminate() then works.
  t.teardown(async () => {
    if (exitCode === undefined) await worker.terminate()
  })

  await until(15_000, 'the worker posting its handle', () => messages.length > 0 || errors.length > 0 || exitCode !== undefined)
  t.deepEqual(errors, [])
  const { handle } = messages[0] as { handle: RemoteHandle }
  t.true(Number.isInteger(handle.waker) && handle.waker > 0)
  const remote = new RemoteIOLoop(handle)
  t.teardown(() => remote.close())
  // On the WebAssembly backend, the worker's epolls and waker are its own engine's, not OS fds.
  if (!WASM) t.true(loopFds().pollers > before.pollers, 'the worker has its loop and its Epoll open')

  const sent = performance.now()
  remote.addCallback('ping')
  await until(3000, "the worker's pong", () => messages.includes('pong'))
  t.true(performance.now() - sent < 3000)

  remote.addCallback('stop')
  t.is(await within(5000, 'the worker exiting', exited), 0)
  t.deepEqual(messages.slice(1), ['pong', { closed: true }])
  t.deepEqual(errors, [])
  await until(3000, `the fd counts back to ${JSON.stringify(before)}`, () => {
    const now = loopFds()
    return now.pollers === before.pollers && now.wakers === before.wakers
  })
  t.deepEqual(loopFds(), before)
})

kernelOnly("finds the loop's epoll fd in /proc/self/fd and closes it with fs.closeSync: an OS fd", { serial: true })("start(): the loop's epoll fd closed behind its back stops the loop and goes to onError as EBADF", async (t) => {
  const pollers = (): number[] => [...openFds()].filter(([, kind]) => kind === 'poller').map(([fd]) => fd)
  const before = new Set(pollers())
  const loop = new IOLoop()
  t.teardown(() => loop.close())
  const [epfd] = pollers().filter((fd) => !before.has(fd))
  const errors: unknown[] = []
  loop.onError = (error) => errors.push(error)
  const stopped = loop.start()
  fs.closeSync(epfd)
  await stopped // settles once the watch has found out (within about a second) and stopped the loop
  t.is(errors.length, 1)
  t.true(errors[0] instanceof OSError, String(errors[0]))
  t.is((errors[0] as OSError).code, 'EBADF')
})
