/**
 * `select.select` and `select.poll` parity: the ready objects come back as passed, timeouts in
 * seconds (select) and milliseconds (poll) rounded up, Python's errors, and the revents that
 * poll(2) reports unasked (POLLHUP, POLLNVAL).
 */
import test, { type ExecutionContext } from 'ava'
import { once } from 'node:events'

import {
  AF_INET,
  FileNotFoundError,
  KeyError,
  OSError,
  POLLHUP,
  POLLIN,
  POLLNVAL,
  POLLOUT,
  POLLPRI,
  POLLWRBAND,
  POLLWRNORM,
  Poll,
  SOCK_STREAM,
  Socket,
  createServer,
  poll,
  select,
  errno,
  socketpair,
} from '../src/index.js'
import { WASM, arrived, kernelOnly, peerClosed, socketpairsUpTo, testIf, until, writtenLater } from './helpers.js'
import { cameDuring, signaller } from './interrupt.js'

/** Why the tests of TCP urgent data are kernel-only. */
const NO_URGENT_DATA = "TCP urgent data (MSG_OOB): Node's sockets, which the WebAssembly backend's host uses, can neither send nor receive it (ENOTSUP)"

/** select(2)'s limit: fds at or above it cannot be watched. */
const FD_SETSIZE = 1024
/** Out-of-band data (not exported by fdpoll). */
const MSG_OOB = 0x1
/** macOS's poll(2), a layer over kqueue, differs from Linux's and FreeBSD's in what it reports. */
const MACOS = process.platform === 'darwin'

function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6
}

/**
 * `promise`, or a rejection after `ms`. Its timer also keeps the event loop alive: a signal
 * caught while the loop was blocked is otherwise not always read before the loop runs dry.
 */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

function byFd(events: [number, number][]): [number, number][] {
  return [...events].sort((a, b) => a[0] - b[0])
}

/** Closes every socket of `socks` at the end of a `using` block. */
function closing<T extends Socket[]>(socks: T): T & Disposable {
  return Object.assign(socks, { [Symbol.dispose]: () => socks.forEach((s) => s.close()) })
}

/** A connected TCP pair on 127.0.0.1, `[client, server]`. */
function tcpPair(): [Socket, Socket] {
  using listener = createServer(['127.0.0.1', 0])
  const client = new Socket(AF_INET, SOCK_STREAM)
  client.connect(['127.0.0.1', (listener.getsockname() as [string, number])[1]])
  return [client, listener.accept()[0]]
}

/** Waits (bounded) until `sock` has out-of-band data pending, as select(2)'s third list sees it. */
function awaitOob(t: ExecutionContext, sock: Socket): void {
  t.deepEqual(select([], [], [sock], 5), [[], [], [sock]], 'the urgent byte arrived')
}

// select.select

test('select returns the ready objects of each list, the very objects passed (sockets, fds, fileno() objects)', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  const wrapper = { fileno: () => b.fileno() }

  const [r, w, x] = select([a, wrapper], [a, b.fileno(), wrapper], [a, b], 0)
  t.deepEqual(r, [], 'nothing to read yet')
  t.is(w.length, 3)
  t.is(w[0], a)
  t.is(w[1], b.fileno())
  t.is(w[2], wrapper)
  t.deepEqual(x, [])

  b.send(Buffer.from('x'))
  arrived(a)
  const [r2, w2] = select([a.fileno(), a, wrapper], [], [], 0)
  t.is(r2.length, 2)
  t.is(r2[0], a.fileno())
  t.is(r2[1], a)
  t.deepEqual(w2, [])
})

test('select takes any iterables (a Set, a generator) and returns arrays', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  b.send(Buffer.from('x'))
  arrived(a)
  function* writers() {
    yield b
  }
  const [r, w, x] = select(new Set([a, b]), writers(), new Set<Socket>(), 0)
  t.true(Array.isArray(r) && Array.isArray(w) && Array.isArray(x))
  t.deepEqual([r.length, w.length, x.length], [1, 1, 0])
  t.is(r[0], a)
  t.is(w[0], b)
})

kernelOnly(NO_URGENT_DATA)('the third list reports out-of-band TCP data (and it does not make the socket readable)', (t) => {
  using pair = closing(tcpPair())
  const [client, server] = pair
  t.deepEqual(select([server], [], [server], 0), [[], [], []])
  client.send(Buffer.from('!'), MSG_OOB)
  awaitOob(t, server)
  const [r, w, x] = select([server], [], [server], 0)
  t.deepEqual(r, [])
  t.deepEqual(w, [])
  t.is(x.length, 1)
  t.is(x[0], server)
})

test('select with a timeout and nothing ready returns three empty lists after at least the timeout', (t) => {
  using pair = closing(socketpair())
  const [a] = pair
  let start = process.hrtime.bigint()
  t.deepEqual(select([a], [], [a], 0.05), [[], [], []])
  let ms = msSince(start)
  t.true(ms >= 50 && ms < 2000, `${ms} ms`)

  // Empty lists: select is a sleep, as in Python.
  start = process.hrtime.bigint()
  t.deepEqual(select([], [], [], 0.02), [[], [], []])
  ms = msSince(start)
  t.true(ms >= 20 && ms < 2000, `${ms} ms`)
})

test('select(..., 0) does not block', async (t) => {
  const [a, writer] = writtenLater(t, 2, 'late') // a wait that blocks would end in 2 s, with `a` readable
  t.teardown(writer.stop)
  const start = process.hrtime.bigint()
  t.deepEqual(select([a], [], [], 0), [[], [], []])
  t.true(msSince(start) < 500, `${msSince(start)} ms`)
  await writer.stop()
})

for (const timeout of [undefined, null]) {
  test(`select(..., ${timeout}) blocks until an fd is ready`, async (t) => {
    const start = process.hrtime.bigint()
    const [a, writer] = writtenLater(t, 0.1, 'x')
    t.teardown(writer.stop)
    const [r, w, x] = select([a], [], [], timeout)
    const ms = msSince(start)
    t.is(r[0], a)
    t.deepEqual([r.length, w.length, x.length], [1, 0, 0])
    t.is(a.recv(16).toString(), 'x', 'woken by the data, not by the child exiting')
    t.true(ms >= 95, `returned after ${ms} ms`)
    await writer.stop()
  })
}

test('a negative select timeout is RangeError; NaN too; a non-number is TypeError', async (t) => {
  const [a, writer] = writtenLater(t, 1) // a select that took -1 for "block" would end in 1 s
  t.teardown(writer.stop)
  t.throws(() => select([a], [], [], -1), { instanceOf: RangeError })
  t.throws(() => select([a], [], [], -0.001), { instanceOf: RangeError })
  t.throws(() => select([a], [], [], NaN), { instanceOf: RangeError })
  t.throws(() => select([a], [], [], '1' as any), { instanceOf: TypeError })
  t.throws(() => select([a], [], [], {} as any), { instanceOf: TypeError })
  await writer.stop()
})

test('an fd at or above FD_SETSIZE (1024) is RangeError, in any of the lists', (t) => {
  const high = { fileno: () => 2000 }
  t.throws(() => select([high], [], [], 0), { instanceOf: RangeError, message: /FD_SETSIZE/ })
  t.throws(() => select([], [high], [], 0), { instanceOf: RangeError })
  t.throws(() => select([], [], [high], 0), { instanceOf: RangeError })
  t.throws(() => select([FD_SETSIZE], [], [], 0), { instanceOf: RangeError }, '1024 itself is out of range')
})

test('select refuses a real fd past FD_SETSIZE that poll watches', (t) => {
  using pairs = closing(socketpairsUpTo(FD_SETSIZE + 10).flat())
  const high = pairs[pairs.length - 1]
  const peer = pairs[pairs.length - 2]
  t.true(high.fileno() >= FD_SETSIZE)
  t.throws(() => select([high], [], [], 0), { instanceOf: RangeError })

  peer.send(Buffer.from('x'))
  arrived(high)
  const p = poll()
  p.register(high, POLLIN)
  t.deepEqual(p.poll(0), [[high.fileno(), POLLIN]])
})

test('what is not an fd: TypeError; a negative fd (a closed socket) is RangeError', (t) => {
  t.throws(() => select(['3' as any], [], [], 0), { instanceOf: TypeError })
  t.throws(() => select([{} as any], [], [], 0), { instanceOf: TypeError })
  t.throws(() => select([{ fileno: () => 'x' } as any], [], [], 0), { instanceOf: TypeError })
  t.throws(() => select([1.5], [], [], 0), { instanceOf: TypeError })
  const closed = new Socket()
  closed.close()
  t.throws(() => select([closed], [], [], 0), { instanceOf: RangeError })
  t.throws(() => select([], [-1], [], 0), { instanceOf: RangeError })
})

test('select on an fd that is not open is OSError EBADF', (t) => {
  const sock = new Socket()
  const fd = sock.fileno()
  sock.close() // nothing in this synchronous test can reuse the number before select
  const err = t.throws(() => select([fd], [], [], 0), { instanceOf: OSError, code: 'EBADF' })
  t.is(err.errno, errno.EBADF)
  t.is(err.syscall, 'select')
})

test.serial('a signal during select (EINTR) is retried with the time left', async (t) => {
  const signalled = once(process, 'SIGUSR2')
  const signal = await signaller(t)
  using pair = closing(socketpair())
  const [a] = pair
  signal.sendAfter(400)
  const start = process.hrtime.bigint()
  t.deepEqual(select([a], [], [], 1), [[], [], []])
  const end = process.hrtime.bigint()
  await within(5000, 'the SIGUSR2 listener', signalled)
  const at = cameDuring(t, await signal.sent, start, end)
  const ms = Number(end - start) / 1e6
  t.true(ms >= 1000, `returned early: ${ms} ms`)
  // Restarting the full second after the signal would take at least 1000 + at ms.
  t.true(ms < 1000 + at / 2, `did not wait only the time left: ${ms} ms, signalled at ${at} ms`)
})

// select.poll

testIf(
  !MACOS && !WASM,
  WASM ? NO_URGENT_DATA : "macOS's poll(2) reports no POLLPRI for TCP urgent data (it asks kqueue, whose socket read filter ignores the request)",
)(
  'poll() makes a Poll; the default mask is POLLIN | POLLPRI | POLLOUT', (t) => {
  using pair = closing(tcpPair())
  const [client, server] = pair
  const p = poll()
  t.true(p instanceof Poll)
  p.register(server)
  t.deepEqual(p.poll(0), [[server.fileno(), POLLOUT]])
  client.send(Buffer.from('!'), MSG_OOB)
  awaitOob(t, server)
  t.deepEqual(p.poll(0), [[server.fileno(), POLLPRI | POLLOUT]])
  client.send(Buffer.from('data'))
  const deadline = Date.now() + 5000
  let events = p.poll(0)
  while (events[0]?.[1] !== (POLLIN | POLLPRI | POLLOUT) && Date.now() < deadline) events = p.poll(10)
  t.deepEqual(events, [[server.fileno(), POLLIN | POLLPRI | POLLOUT]])
})

test('poll(0) and select(..., 0), called again and again, see data the peer sent', (t) => {
  // Nothing but the polls runs between the send and the report: on the WebAssembly backend the
  // data reaches the engine's readiness table through the host's ring, which the poll must drain.
  using first = closing(socketpair())
  const p = poll()
  p.register(first[0], POLLIN)
  first[1].send(Buffer.from('x'))
  until(() => p.poll(0).length === 1, 'poll(0) to report the data')
  t.deepEqual(p.poll(0), [[first[0].fileno(), POLLIN]])
  using second = closing(socketpair())
  second[1].send(Buffer.from('x'))
  until(() => select([second[0]], [], [], 0)[0].length === 1, 'select(..., 0) to report the data')
  t.deepEqual(select([second[0]], [], [], 0), [[second[0]], [], []])
})

test('poll results are [fd, revents] pairs for the fds with events only', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  const p = poll()
  p.register(a, POLLIN)
  p.register(b, POLLIN | POLLOUT)
  t.deepEqual(p.poll(0), [[b.fileno(), POLLOUT]])
  b.send(Buffer.from('x'))
  arrived(a)
  t.deepEqual(byFd(p.poll(0)), byFd([[a.fileno(), POLLIN], [b.fileno(), POLLOUT]]))
  a.send(Buffer.from('y'))
  arrived(b)
  t.deepEqual(byFd(p.poll(0)), byFd([[a.fileno(), POLLIN], [b.fileno(), POLLIN | POLLOUT]]))
})

test('register twice replaces the mask (one entry per fd)', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  b.send(Buffer.from('x')) // `a` is readable and writable
  arrived(a)
  const p = poll()
  p.register(a, POLLIN)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLIN]])
  p.register(a.fileno(), POLLOUT)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLOUT]])
  p.register(a, POLLIN | POLLOUT)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLIN | POLLOUT]])
})

test('modify replaces the mask of a registered fd; of an unregistered one it is FileNotFoundError ENOENT', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  const p = poll()
  p.register(a, POLLIN)
  t.deepEqual(p.poll(0), [])
  p.modify(a, POLLOUT)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLOUT]])

  const err = t.throws(() => p.modify(b, POLLIN), { instanceOf: FileNotFoundError, code: 'ENOENT' })
  t.is(err.errno, errno.ENOENT)
  t.true(err instanceof OSError)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLOUT]], 'the failed modify registered nothing')
})

test('unregister stops watching; of an unregistered fd it is KeyError ERR_NOT_REGISTERED', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  const p = poll()
  p.register(a, POLLOUT)
  p.register(b, POLLOUT)
  t.is(p.poll(0).length, 2)
  p.unregister(a)
  t.deepEqual(p.poll(0), [[b.fileno(), POLLOUT]])
  t.throws(() => p.unregister(a), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
  t.throws(() => p.unregister(12345), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
  p.unregister(b.fileno())
  t.deepEqual(p.poll(0), [])
})

test('poll(0) returns at once; poll(50) waits at least 50 MILLISECONDS; poll(0.5) rounds up to 1 ms', (t) => {
  using pair = closing(socketpair())
  const [a] = pair
  const p = poll()
  p.register(a, POLLIN)
  let start = process.hrtime.bigint()
  t.deepEqual(p.poll(0), [])
  t.true(msSince(start) < 40, `poll(0) took ${msSince(start)} ms`)

  start = process.hrtime.bigint()
  t.deepEqual(p.poll(50), [])
  let ms = msSince(start)
  t.true(ms >= 50 && ms < 1000, `poll(50) took ${ms} ms: milliseconds, not seconds`)

  start = process.hrtime.bigint()
  t.deepEqual(p.poll(0.5), [])
  ms = msSince(start)
  t.true(ms >= 1 && ms < 500, `poll(0.5) took ${ms} ms`)
})

test('poll with nothing registered sleeps for the timeout', (t) => {
  const p = poll()
  const start = process.hrtime.bigint()
  t.deepEqual(p.poll(20), [])
  t.true(msSince(start) >= 20)
})

for (const timeout of [undefined, null, -1]) {
  test(`poll(${timeout}) blocks until an fd is ready`, async (t) => {
    const start = process.hrtime.bigint()
    const [a, writer] = writtenLater(t, 0.1, 'x')
    const p = poll()
    p.register(a, POLLIN)
    t.teardown(writer.stop)
    t.deepEqual(p.poll(timeout), [[a.fileno(), POLLIN]])
    const ms = msSince(start)
    t.is(a.recv(16).toString(), 'x', 'woken by the data, not by the child exiting')
    t.true(ms >= 95, `returned after ${ms} ms`)
    await writer.stop()
  })
}

test('a poll timeout that is not a number is TypeError; NaN is RangeError', (t) => {
  const p = poll()
  t.throws(() => p.poll('10' as any), { instanceOf: TypeError })
  t.throws(() => p.poll(NaN), { instanceOf: RangeError })
})

test.serial('a signal during poll (EINTR) is retried with the time left', async (t) => {
  const signalled = once(process, 'SIGUSR2')
  const signal = await signaller(t)
  using pair = closing(socketpair())
  const [a] = pair
  const p = poll()
  p.register(a, POLLIN)
  signal.sendAfter(400)
  const start = process.hrtime.bigint()
  t.deepEqual(p.poll(1000), [])
  const end = process.hrtime.bigint()
  await within(5000, 'the SIGUSR2 listener', signalled)
  const at = cameDuring(t, await signal.sent, start, end)
  const ms = Number(end - start) / 1e6
  t.true(ms >= 1000, `returned early: ${ms} ms`)
  // Restarting the full second after the signal would take at least 1000 + at ms.
  t.true(ms < 1000 + at / 2, `did not wait only the time left: ${ms} ms, signalled at ${at} ms`)
})

test('a closed peer is POLLHUP, reported even when not asked for', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  const p = poll()
  p.register(a, POLLIN)
  t.deepEqual(p.poll(0), [])
  b.close()
  peerClosed(a)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLIN | POLLHUP]], 'readable (EOF) and hung up')
})

testIf(!MACOS, "macOS's poll(2) watches nothing for an fd whose mask is empty, so it never reports POLLHUP there")(
  'a closed peer is POLLHUP even for an empty mask', (t) => {
  using pair = closing(socketpair())
  const [a, b] = pair
  const p = poll()
  p.register(a, 0)
  t.deepEqual(p.poll(0), [])
  b.close()
  peerClosed(a)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLHUP]], 'an empty mask still gets POLLHUP')
})

test('a registered fd that was closed is POLLNVAL', (t) => {
  using pair = closing(socketpair())
  const [a] = pair
  const fd = a.fileno()
  const p = poll()
  p.register(fd, POLLIN)
  a.close() // synchronous from here to the poll: nothing reopens the number
  t.deepEqual(p.poll(0), [[fd, POLLNVAL]])
  p.unregister(fd)
  t.deepEqual(p.poll(0), [])
})

test('an event mask outside 16 bits is RangeError, a non-integer one TypeError; nothing is registered', (t) => {
  using pair = closing(socketpair())
  const [a] = pair
  const p = poll()
  for (const mask of [0x10000, -1, 2 ** 32]) {
    t.throws(() => p.register(a, mask), { instanceOf: RangeError })
  }
  t.throws(() => p.register(a, 1.5), { instanceOf: TypeError })
  t.throws(() => p.register(a, '1' as any), { instanceOf: TypeError })
  t.throws(() => p.modify(a, POLLIN), { instanceOf: FileNotFoundError }, 'still not registered')
  p.register(a, 0xffff) // the largest mask is accepted and reaches poll(2)
  // Every writable bit comes back; macOS turns its vnode-only bits (POLLEXTEND, POLLATTRIB,
  // POLLNLINK, POLLWRITE, within 0xffff) into a kqueue filter that a socket refuses: POLLNVAL.
  const answer = MACOS ? POLLNVAL : POLLOUT | POLLWRNORM | POLLWRBAND
  t.deepEqual(p.poll(0), [[a.fileno(), answer]])
  t.throws(() => p.modify(a, 0x10000), { instanceOf: RangeError })
  t.deepEqual(p.poll(0), [[a.fileno(), answer]], 'the failed modify changed nothing')
})

test('register and modify take what select takes: TypeError and RangeError for what is not an fd', (t) => {
  using pair = closing(socketpair())
  const [a] = pair
  const p = poll()
  p.register(a, POLLIN)
  for (const method of ['register', 'modify'] as const) {
    // Checked before the registration is looked up: not FileNotFoundError, even for modify.
    t.throws(() => p[method]('3' as any, POLLOUT), { instanceOf: TypeError }, method)
    t.throws(() => p[method]({} as any, POLLOUT), { instanceOf: TypeError }, method)
    t.throws(() => p[method]({ fileno: () => 1.5 } as any, POLLOUT), { instanceOf: TypeError }, method)
    t.throws(() => p[method](-1, POLLOUT), { instanceOf: RangeError }, method)
  }
  t.deepEqual(p.poll(0), [], 'a keeps its mask (POLLIN, not ready); nothing else was registered')
  p.modify(a, POLLOUT)
  t.deepEqual(p.poll(0), [[a.fileno(), POLLOUT]], 'modify with an fd object takes effect')
})
