import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'
import fs from 'node:fs'
import { setImmediate } from 'node:timers/promises'

import {
  EPOLL_CLOEXEC,
  EPOLLET,
  EPOLLEXCLUSIVE,
  EPOLLHUP,
  EPOLLIN,
  EPOLLONESHOT,
  EPOLLOUT,
  EPOLLRDHUP,
  Epoll,
  backend,
  FileExistsError,
  FileNotFoundError,
  OSError,
  PermissionError,
  ValueError,
  errno,
} from '../src/index.js'
import * as fdpoll from '../src/index.js'
import { pythonConstants } from './cpython.js'
import { WASM, kernelOnly, pipe, testIf, until, writtenLater } from './helpers.js'
import { cameDuring, signaller } from './interrupt.js'
import { LINUX, childFds, fdCount, unusedFd } from './inspect.js'

const gc: () => void = (globalThis as any).gc

function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6
}

function byFd(events: [number, number][]): [number, number][] {
  return [...events].sort((a, b) => a[0] - b[0])
}

/** Asserts that `fn` throws an instance of `Class` with this `code`, and the platform's errno for it. */
function throwsOS(t: ExecutionContext, fn: () => unknown, Class: typeof OSError, code: keyof typeof errno): void {
  const err = t.throws(fn, { instanceOf: Class, code })
  t.is(err.errno, errno[code])
}

testIf(LINUX, "CPython's select module has epoll, and so its constants, only on Linux")(
  "constants have the Linux kernel values: every EPOLL* name and value is CPython's select module's", (t) => {
  const python = pythonConstants('select', 'EPOLL')
  const ours = Object.fromEntries(Object.entries(fdpoll).filter(([name]) => name.startsWith('EPOLL')))
  t.deepEqual(ours, python)
  t.is(Object.keys(python).length, 15, `CPython 3.11's fifteen: ${Object.keys(python)}`)
})

test('new Epoll() and new Epoll(16) open an epoll fd that close() closes', (t) => {
  for (const ep of [new Epoll(), new Epoll(16)]) {
    t.true(ep.fileno() > 2)
    t.false(ep.closed)
    ep.close()
    t.true(ep.closed)
  }
})

test('flags may be EPOLL_CLOEXEC; unknown flags are OSError EINVAL', (t) => {
  new Epoll(-1, EPOLL_CLOEXEC).close()
  throwsOS(t, () => new Epoll(-1, 12356), OSError, 'EINVAL')
})

test('a bad sizehint is TypeError when not an integer, RangeError when 0 or below -1', (t) => {
  for (const sizehint of ['foo', null, {}, 1.5]) {
    t.throws(() => new Epoll(sizehint as any), { instanceOf: TypeError })
  }
  t.throws(() => new Epoll(0), { instanceOf: RangeError })
  t.throws(() => new Epoll(-2), { instanceOf: RangeError })
})

test('`using` closes the Epoll at the end of the block', (t) => {
  let ep: Epoll
  {
    using scoped = new Epoll()
    ep = scoped
    t.false(ep.closed)
  }
  t.true(ep.closed)
})

test('[Symbol.dispose]() closes the Epoll', (t) => {
  const ep = new Epoll()
  ep[Symbol.dispose]()
  t.true(ep.closed)
})

test('register takes an fd or an object with fileno(); the default mask is IN | PRI | OUT', (t) => {
  using p = pipe()
  using ep = new Epoll()
  ep.register(p.r)
  ep.register({ fileno: () => p.w })
  // A pipe's read end is not writable; the WebAssembly backend's stand-in, a socket, is.
  const readEndOut = WASM ? EPOLLOUT : 0
  const ready: [number, number][] = [[p.r, readEndOut], [p.w, EPOLLOUT]]
  t.deepEqual(byFd(ep.poll(0)), byFd(ready.filter(([, events]) => events !== 0)))
  p.write('x')
  t.deepEqual(
    byFd(ep.poll(0)),
    byFd([
      [p.r, EPOLLIN | readEndOut],
      [p.w, EPOLLOUT],
    ]),
  )
})

test('register rejects what is not an fd with TypeError, a negative fd with RangeError', (t) => {
  using ep = new Epoll()
  for (const bad of ['1', {}, { fileno: 5 }, { fileno: () => 'x' }, 1.5]) {
    t.throws(() => ep.register(bad as any), { instanceOf: TypeError })
  }
  t.throws(() => ep.register(-1), { instanceOf: RangeError })
})

test('registering an fd twice is FileExistsError (EEXIST)', (t) => {
  using p = pipe()
  using ep = new Epoll()
  ep.register(p.r)
  const err = t.throws(() => ep.register(p.r), { instanceOf: FileExistsError })
  t.true(err instanceof OSError)
  t.true(err instanceof Error)
  t.is(err.code, 'EEXIST')
  t.is(err.errno, errno.EEXIST)
  t.is(err.syscall, 'epoll_ctl')
  t.is(err.message, 'EEXIST: file already exists, epoll_ctl')
})

test('modify and unregister of an unregistered fd are FileNotFoundError (ENOENT)', (t) => {
  using p = pipe()
  using ep = new Epoll()
  throwsOS(t, () => ep.modify(p.r, EPOLLIN), FileNotFoundError, 'ENOENT')
  throwsOS(t, () => ep.unregister(p.r), FileNotFoundError, 'ENOENT')
})

test('an fd that was never opened is OSError EBADF', (t) => {
  using ep = new Epoll()
  throwsOS(t, () => ep.register(unusedFd()), OSError, 'EBADF')
})

kernelOnly("a file the OS opened is no fd of the WebAssembly backend's engine, which knows only its own (EBADF)")('a regular file is PermissionError (EPERM)', (t) => {
  const file = fs.openSync(__filename, 'r')
  using ep = new Epoll()
  throwsOS(t, () => ep.register(file), PermissionError, 'EPERM')
  fs.closeSync(file)
})

test('unregister of an fd closed after registering is OSError EBADF', (t) => {
  const p = pipe()
  using ep = new Epoll()
  ep.register(p.r)
  p.closeReader()
  throwsOS(t, () => ep.unregister(p.r), OSError, 'EBADF')
  p.closeWriter()
})

test('an event mask may be the negative result of | or the unsigned value', (t) => {
  t.true((EPOLLIN | EPOLLET) < 0)
  for (const mask of [EPOLLIN | EPOLLET, EPOLLIN + EPOLLET]) {
    using p = pipe()
    using ep = new Epoll()
    ep.register(p.r, mask)
    p.write('x')
    t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
    t.deepEqual(ep.poll(0), [], 'edge-triggered')
  }
})

test('an event mask outside 32 bits is RangeError, a non-number TypeError', (t) => {
  using p = pipe()
  using ep = new Epoll()
  t.throws(() => ep.register(p.r, 2 ** 32), { instanceOf: RangeError })
  t.throws(() => ep.register(p.r, -(2 ** 31) - 1), { instanceOf: RangeError })
  t.throws(() => ep.register(p.r, '1' as any), { instanceOf: TypeError })
})

test('level-triggered: a readable pipe is reported on every poll until drained', (t) => {
  using p = pipe()
  using ep = new Epoll()
  ep.register(p.r, EPOLLIN)
  p.write('abc')
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
  p.read(Buffer.alloc(16))
  t.deepEqual(ep.poll(0), [])
})

test('EPOLLET: reported once, again only when more data arrives', (t) => {
  using p = pipe()
  using ep = new Epoll()
  ep.register(p.r, EPOLLIN | EPOLLET)
  p.write('abc')
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
  t.deepEqual(ep.poll(0), [], 'data left unread is not reported again')
  p.write('more')
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
})

test('EPOLLONESHOT: one event, then silent even with new data until modify() re-arms', (t) => {
  using p = pipe()
  using ep = new Epoll()
  ep.register(p.r, EPOLLIN | EPOLLONESHOT)
  p.write('a')
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
  p.write('b')
  t.deepEqual(ep.poll(0), [])
  ep.modify(p.r, EPOLLIN | EPOLLONESHOT)
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
})

test('EPOLLEXCLUSIVE: registers and reports; modify is OSError EINVAL', (t) => {
  using p = pipe()
  using ep = new Epoll()
  ep.register(p.r, EPOLLIN | EPOLLEXCLUSIVE)
  p.write('x')
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
  throwsOS(t, () => ep.modify(p.r, EPOLLIN), OSError, 'EINVAL')
})

testIf(
  LINUX && !WASM,
  WASM ? "a fact of an OS pipe, for which the WebAssembly backend's tests use a socketpair (whose read end is also EPOLLIN | EPOLLRDHUP at the peer's close)"
    : 'kqueue reports a pipe whose writer closed as EPOLLIN | EPOLLRDHUP, not EPOLLHUP',
)(
  'closing the write end reports EPOLLHUP on the read end', (t) => {
  const p = pipe()
  using ep = new Epoll()
  ep.register(p.r, EPOLLIN | EPOLLRDHUP)
  t.deepEqual(ep.poll(0), [])
  p.closeWriter()
  t.deepEqual(ep.poll(0), [[p.r, EPOLLHUP]])
  p.closeReader()
})

test('maxevents caps the batch and the rest comes next', (t) => {
  const pipes = [pipe(), pipe(), pipe()]
  using ep = new Epoll()
  for (const p of pipes) {
    ep.register(p.r, EPOLLIN | EPOLLET)
    p.write('x')
  }
  const first = ep.poll(0, 2)
  const second = ep.poll(0, 2)
  t.is(first.length, 2)
  t.is(second.length, 1)
  t.deepEqual(
    byFd([...first, ...second]),
    pipes.map((p) => [p.r, EPOLLIN]),
  )
  for (const p of pipes) p.close()
})

test('maxevents must be -1 or a positive integer', (t) => {
  using ep = new Epoll()
  t.throws(() => ep.poll(0, 0), { instanceOf: RangeError })
  t.throws(() => ep.poll(0, -2), { instanceOf: RangeError })
  t.throws(() => ep.poll(0, 1.5), { instanceOf: TypeError })
})

test('a timeout must be a number and not NaN', (t) => {
  using ep = new Epoll()
  t.throws(() => ep.poll('1' as any), { instanceOf: TypeError })
  t.throws(() => ep.poll(NaN), { instanceOf: RangeError })
})

test('poll(0), called again and again, sees data the peer sent', (t) => {
  // Nothing but the polls runs between the send and the report: on the WebAssembly backend the
  // data reaches the engine through the host's ring, which the poll must drain.
  const [a, b] = fdpoll.socketpair()
  t.teardown(() => {
    a.close()
    b.close()
  })
  using ep = new Epoll()
  ep.register(a, EPOLLIN)
  b.send(Buffer.from('x'))
  until(() => ep.poll(0).length === 1, 'poll(0) to report the data')
  t.deepEqual(ep.poll(0), [[a.fileno(), EPOLLIN]])
})

test('poll(0) returns at once', (t) => {
  using ep = new Epoll()
  const start = process.hrtime.bigint()
  t.deepEqual(ep.poll(0), [])
  t.true(msSince(start) < 50)
})

test('poll(0.0001) waits at least 1 ms: timeouts round up, not down to 0', (t) => {
  using ep = new Epoll()
  const start = process.hrtime.bigint()
  t.deepEqual(ep.poll(0.0001), [])
  t.true(msSince(start) >= 1)
})

test('poll(0.05) with nothing ready returns [] after at least 50 ms', (t) => {
  using ep = new Epoll()
  const start = process.hrtime.bigint()
  t.deepEqual(ep.poll(0.05), [])
  t.true(msSince(start) >= 50)
})

for (const timeout of [null, undefined, -1]) {
  test(`poll(${timeout}) blocks until an fd is ready`, async (t) => {
    const start = process.hrtime.bigint()
    const [sock, writer] = writtenLater(t, 0.1, 'x')
    t.teardown(writer.stop)
    using ep = new Epoll()
    ep.register(sock, EPOLLIN)
    t.deepEqual(ep.poll(timeout), [[sock.fileno(), EPOLLIN]])
    t.true(msSince(start) >= 90)
    await writer.stop()
  })
}

test.serial('a signal during poll (EINTR) is retried with the time left', async (t) => {
  const signalled = once(process, 'SIGUSR2')
  const signal = await signaller(t)
  using ep = new Epoll()
  signal.sendAfter(400)
  const start = process.hrtime.bigint()
  t.deepEqual(ep.poll(1), [])
  const end = process.hrtime.bigint()
  await signalled
  const at = cameDuring(t, await signal.sent, start, end)
  const ms = Number(end - start) / 1e6
  t.true(ms >= 1000, `returned early: ${ms} ms`)
  // Restarting the full second after the signal would take at least 1000 + at ms.
  t.true(ms < 1000 + at / 2, `did not wait only the time left: ${ms} ms, signalled at ${at} ms`)
})

test('pollInto writes [fd, events] pairs into an Int32Array or a Uint32Array and returns the count', (t) => {
  using p = pipe()
  using ep = new Epoll()
  ep.register(p.r, EPOLLIN)
  p.write('x')
  for (const out of [new Int32Array(4).fill(-1), new Uint32Array(4).fill(7)]) {
    const untouched = out[2]
    t.is(ep.pollInto(out, 0), 1)
    t.deepEqual(Array.from(out), [p.r, EPOLLIN, untouched, untouched])
  }
})

test('pollInto returns at most out.length / 2 events', (t) => {
  const pipes = [pipe(), pipe(), pipe()]
  using ep = new Epoll()
  for (const p of pipes) {
    ep.register(p.r, EPOLLIN)
    p.write('x')
  }
  const out = new Int32Array(5).fill(-1)
  t.is(ep.pollInto(out, 0), 2)
  t.is(out[4], -1)
  for (const p of pipes) p.close()
})

test('pollInto rejects an array too short for one pair (RangeError) or of another type (TypeError)', (t) => {
  using ep = new Epoll()
  t.throws(() => ep.pollInto(new Int32Array(1), 0), { instanceOf: RangeError })
  t.throws(() => ep.pollInto(new Float64Array(2) as any, 0), { instanceOf: TypeError })
  t.throws(() => ep.pollInto([0, 0] as any, 0), { instanceOf: TypeError })
})

test('pollInto with room for one event loses no edge-triggered event', (t) => {
  const pipes = [pipe(), pipe()]
  using ep = new Epoll()
  for (const p of pipes) {
    ep.register(p.r, EPOLLIN | EPOLLET)
    p.write('x')
  }
  const out = new Int32Array(2)
  t.is(ep.pollInto(out, 0), 1)
  const first = out[0]
  t.is(ep.pollInto(out, 0), 1)
  t.deepEqual([first, out[0]].sort((a, b) => a - b), pipes.map((p) => p.r))
  t.is(ep.pollInto(out, 0), 0)
  for (const p of pipes) p.close()
})

test('close is idempotent', (t) => {
  const ep = new Epoll()
  ep.close()
  ep.close()
  t.true(ep.closed)
})

test('every method of a closed Epoll throws ValueError', (t) => {
  const ep = new Epoll()
  ep.close()
  const calls = [
    () => ep.fileno(),
    () => ep.register(0, EPOLLIN),
    () => ep.modify(0, EPOLLIN),
    () => ep.unregister(0),
    () => ep.poll(0),
    () => ep.pollInto(new Int32Array(2), 0),
  ]
  for (const call of calls) {
    t.throws(call, { instanceOf: ValueError, message: 'I/O operation on closed epoll', code: 'ERR_CLOSED' })
  }
})

test('Epoll.fromfd shares the interest list of the same epoll fd', (t) => {
  using p = pipe()
  const ep = new Epoll()
  const ep2 = Epoll.fromfd(ep.fileno())
  t.is(ep2.fileno(), ep.fileno())
  ep2.register(p.r, EPOLLIN)
  p.write('x')
  t.deepEqual(ep.poll(0), [[p.r, EPOLLIN]])
  // Synchronous from here on, so that nothing reuses the fd number once it is closed.
  ep.close()
  throwsOS(t, () => ep2.poll(0), OSError, 'EBADF')
  throwsOS(t, () => ep2.close(), OSError, 'EBADF')
})

test('Epoll.fromfd of an fd that is not an epoll fails on use: EINVAL from the kernel and the WebAssembly engine, EBADF on the mio backend', (t) => {
  const [a, b] = fdpoll.socketpair()
  const fd = a.detach()
  const ep = Epoll.fromfd(fd)
  throwsOS(t, () => ep.poll(0), OSError, backend === 'mio' ? 'EBADF' : 'EINVAL')
  ep.close()
  b.close()
  t.throws(() => new fdpoll.Socket(fdpoll.AF_UNIX, fdpoll.SOCK_STREAM, 0, fd), { code: 'EBADF' }, 'closing the Epoll closed the fd it was given')
})

test('Epoll.fromfd rejects a negative fd (RangeError) and a non-number (TypeError)', (t) => {
  t.throws(() => Epoll.fromfd(-1), { instanceOf: RangeError })
  t.throws(() => Epoll.fromfd('3' as any), { instanceOf: TypeError })
})

testIf(LINUX, "reads the fd's flags from /proc/self/fdinfo, which is Linux's; the next test checks close-on-exec everywhere")(
  'the epoll fd is close-on-exec', (t) => {
  using ep = new Epoll()
  const fdinfo = fs.readFileSync(`/proc/self/fdinfo/${ep.fileno()}`, 'utf8')
  const flags = parseInt(/^flags:\s*([0-7]+)$/m.exec(fdinfo)![1], 8)
  t.is(flags & 0o2000000, 0o2000000)
})

test('a child process does not inherit the epoll fd', async (t) => {
  using ep = new Epoll()
  const inherited = await childFds()
  t.false(inherited.has(ep.fileno()))
  t.deepEqual([...inherited.values()].filter((kind) => kind === 'poller'), [], 'nor any other poller fd (mio holds two)')
})

test.serial('closed and garbage-collected Epolls release their fds', async (t) => {
  const collect = async () => {
    gc()
    for (let i = 0; i < 3; i++) await setImmediate()
  }
  const before = fdCount()
  const epollsBefore = fdCount('poller')
  // Created in a synchronous function: a local of the async test could keep the last one alive.
  const createRound = () => {
    for (let i = 0; i < 1000; i++) {
      const ep = new Epoll()
      if (i % 2 === 0) ep.close()
    }
  }
  for (let round = 0; round < 10; round++) {
    createRound()
    await collect()
  }
  for (let tries = 0; tries < 100 && fdCount('poller') !== epollsBefore; tries++) await collect()
  t.is(fdCount('poller'), epollsBefore)
  t.true(fdCount() <= before, 'other fds may close meanwhile (tsx cache writes), none may stay open')
})

test('closing the Epoll leaves registered fds open', (t) => {
  using p = pipe()
  const ep = new Epoll()
  ep.register(p.r, EPOLLIN)
  ep.register(p.w, EPOLLOUT)
  ep.close()
  p.write('x')
  const buffer = Buffer.alloc(4)
  t.is(p.read(buffer), 1, 'both ends still work')
})
