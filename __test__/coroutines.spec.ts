/**
 * Coroutines on the IOLoop (issue 12): the awaitable socket operations (asyncio's sock_*), the
 * reader/writer callbacks, tasks (spawn, joinAll), with real sockets on 127.0.0.1. Covers the
 * fast path (a busy connection makes no epoll_ctl per operation; lazy interest never spins) and
 * bad input and lifecycle (a second read, a blocking socket, the socket closing, an abort, the
 * loop closing), each followed by a check that the process's fds and the loop's registrations
 * (its map and the kernel's interest list) are back where they were. Serial: fd counts need a
 * quiet process.
 */
import test, { type ExecutionContext } from 'ava'
import fs from 'node:fs'

import {
  AF_INET, BlockingIOError, ConnectionRefusedError, EPOLLIN, EPOLLOUT, IOLoop, OSError, RuntimeError,
  SOCK_DGRAM, SOL_SOCKET, SO_SNDBUF, Socket, Task, ValueError, createServer, joinAll, socketpair,
} from '../src/index.js'
import { backTo, countCtl, countPolls, interestList, snapshot, startedLoop, tcpPair } from './coroutine-helpers.js'
import { WASM, pipe, testIf } from './helpers.js'
import { LINUX, fdCount } from './inspect.js'
import { sleep, until, within } from './servers.js'

/** A test that reads the kernel's interest list of the loop's epoll: Linux, and not the WebAssembly backend, whose epoll is the in-memory engine's. */
const onLinux = testIf(LINUX && !WASM, "reads the kernel's interest list from /proc/self/fdinfo/<epfd>, which only a Linux epoll has", { serial: true })

/** Python's bytes.upper(): ASCII letters only. */
const upper = (data: Buffer) => data.map((c) => (c >= 0x61 && c <= 0x7a ? c - 0x20 : c)) as Buffer

/** Asserts that `promise` rejects with an OSError of `code`. */
async function rejectsOS(t: ExecutionContext, promise: Promise<unknown>, code: string): Promise<OSError> {
  const error = await t.throwsAsync(promise, { instanceOf: OSError })
  t.is(error?.code, code)
  return error as OSError
}

/** Whether `promise` is still pending after the loop has had a few turns. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  promise.then(() => (settled = true), () => (settled = true))
  await sleep(50)
  return !settled
}

// The operations

test.serial('sockAccept, sockConnect, sockSendall, sockRecv and sockRecvInto over TCP on 127.0.0.1', async (t) => {
  const { loop, errors } = startedLoop(t)
  const server = createServer(['127.0.0.1', 0])
  t.teardown(() => server.close())
  server.setblocking(false)
  const accepting = loop.sockAccept(server)
  t.true(await pending(accepting), 'no client yet: sockAccept waits')
  const client = new Socket()
  t.teardown(() => client.close())
  client.setblocking(false)
  await loop.sockConnect(client, server.getsockname())
  const [conn, address] = await accepting
  t.teardown(() => conn.close())
  t.false(conn.getblocking(), 'the accepted connection is non-blocking, as asyncio makes it')
  t.deepEqual(address, client.getsockname())

  const reply = loop.sockRecv(client, 100)
  t.true(await pending(reply), 'nothing sent yet: sockRecv waits')
  await loop.sockSendall(client, Buffer.from('hello'))
  await loop.sockSendall(conn, upper(await loop.sockRecv(conn, 100)))
  t.is((await reply).toString(), 'HELLO')

  const buf = Buffer.alloc(16)
  const into = loop.sockRecvInto(conn, buf)
  await loop.sockSendall(client, Buffer.from('into'))
  t.is(await into, 4)
  t.is(buf.subarray(0, 4).toString(), 'into')

  client.close()
  t.is((await loop.sockRecv(conn, 100)).length, 0, 'end of stream: an empty Buffer')
  t.deepEqual(errors, [])
})

test.serial('sockRecv returns a Buffer the size of the data: a kept message keeps no n-byte buffer alive', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  for (const n of [1 << 16, 1 << 20]) { // from the scratch buffer, and past it
    const reading = loop.sockRecv(conn, n)
    await loop.sockSendall(client, Buffer.from('ping'))
    const data = await reading
    t.is(data.toString(), 'ping')
    t.true(data.buffer.byteLength <= Buffer.poolSize, `a 4-byte message of sockRecv(conn, ${n}) holds ${data.buffer.byteLength} bytes (at most a slab of Node's Buffer pool)`)
  }
})

test.serial('sockSendall waits while the peer does not read, and every byte arrives in order', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const data = Buffer.alloc(16 << 20)
  for (let i = 0; i < data.length; i += 4) data.writeUInt32LE(i, i)
  const sending = loop.sockSendall(client, data)
  t.true(await pending(sending), '16 MiB do not fit the socket buffers: sendall waits')
  const chunks: Buffer[] = []
  let got = 0
  while (got < data.length) {
    const chunk = await loop.sockRecv(conn, 1 << 16)
    chunks.push(chunk)
    got += chunk.length
  }
  await sending
  t.true(Buffer.concat(chunks).equals(data))
})

test.serial('sockConnect to a closed port rejects with ConnectionRefusedError', async (t) => {
  const { loop } = startedLoop(t)
  const closed = createServer(['127.0.0.1', 0])
  const address = closed.getsockname()
  closed.close()
  const client = new Socket()
  t.teardown(() => client.close())
  client.setblocking(false)
  const error = await t.throwsAsync(loop.sockConnect(client, address), { instanceOf: ConnectionRefusedError })
  t.is(error?.code, 'ECONNREFUSED')
})

test.serial('sockRecvfrom and sockSendto carry datagrams over UDP', async (t) => {
  const { loop } = startedLoop(t)
  const a = new Socket(AF_INET, SOCK_DGRAM)
  const b = new Socket(AF_INET, SOCK_DGRAM)
  t.teardown(() => {
    a.close()
    b.close()
  })
  a.bind(['127.0.0.1', 0])
  b.bind(['127.0.0.1', 0])
  a.setblocking(false)
  b.setblocking(false)
  const receiving = loop.sockRecvfrom(a, 100)
  t.true(await pending(receiving), 'no datagram yet: sockRecvfrom waits')
  t.is(await loop.sockSendto(b, Buffer.from('datagram'), a.getsockname()), 8)
  const [data, sender] = await receiving
  t.is(data.toString(), 'datagram')
  t.deepEqual(sender, b.getsockname())
})

// The fast path

onLinux('a busy connection makes no epoll_ctl per operation: 200 request/response rounds', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  await sleep(50) // the client's interest from its connect has been dropped by now
  const ctl = countCtl(t)
  const polls = countPolls(t)
  const ROUNDS = 200
  const server = loop.spawn(async () => {
    for (let i = 0; i < ROUNDS; i++) await loop.sockSendall(conn, upper(await loop.sockRecv(conn, 100)))
  })
  for (let i = 0; i < ROUNDS; i++) {
    await loop.sockSendall(client, Buffer.from(`ping ${i}`))
    t.is((await loop.sockRecv(client, 100)).toString(), `PING ${i}`)
  }
  await server
  t.true(polls.calls >= ROUNDS, `each round waited on the loop (${polls.calls} dispatches)`)
  t.true(ctl.calls <= 4, `${ctl.calls} epoll_ctl calls for ${ROUNDS} rounds (eager interest: ${4 * ROUNDS})`)
  t.is(interestList(epfd).get(conn.fileno())! & EPOLLIN, EPOLLIN, 'the interest stays between operations')
  t.log(`${ROUNDS} request/response rounds: ${ctl.calls} epoll_ctl, ${polls.calls} dispatches`)
})

onLinux('interest left by a finished operation goes at the first event nobody waits for: no spin', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const first = loop.sockRecv(conn, 10)
  await loop.sockSendall(client, Buffer.from('a'))
  t.is((await first).toString(), 'a')
  t.true(interestList(epfd).has(conn.fileno()), 'kept in the kernel after the operation')
  t.true(loop.watched().has(conn.fileno()), 'and in the loop map')

  const ctl = countCtl(t)
  const polls = countPolls(t)
  await loop.sockSendall(client, Buffer.from('b')) // nobody reads conn now: a level-triggered event with no reader
  await until(2000, 'the stale interest being dropped', () => !interestList(epfd).has(conn.fileno()))
  t.false(loop.watched().has(conn.fileno()))
  t.is(ctl.calls, 1, 'one epoll_ctl (DEL) dropped it')
  const before = polls.calls
  await sleep(200)
  t.true(polls.calls - before <= 2, `${polls.calls - before} dispatches in 200 ms with unread data: it spins`)
  t.is((await loop.sockRecv(conn, 10)).toString(), 'b', 'the data waited in the socket, read without waiting')
  t.is(ctl.calls, 1)
})

// Bad input

test.serial('a blocking socket is a ValueError, a non-Socket a TypeError, for every operation', async (t) => {
  const { loop } = startedLoop(t)
  const sock = new Socket()
  t.teardown(() => sock.close())
  const address: [string, number] = ['127.0.0.1', 9]
  const operations: [string, (s: Socket) => Promise<unknown>][] = [
    ['sockAccept', (s) => loop.sockAccept(s)],
    ['sockRecv', (s) => loop.sockRecv(s, 1)],
    ['sockRecvInto', (s) => loop.sockRecvInto(s, Buffer.alloc(1))],
    ['sockRecvfrom', (s) => loop.sockRecvfrom(s, 1)],
    ['sockSendall', (s) => loop.sockSendall(s, Buffer.from('x'))],
    ['sockSendto', (s) => loop.sockSendto(s, Buffer.from('x'), address)],
    ['sockConnect', (s) => loop.sockConnect(s, address)],
  ]
  for (const [name, operation] of operations) {
    const error = await t.throwsAsync(operation(sock), { instanceOf: ValueError }, name)
    t.is(error?.code, 'ERR_SOCKET_BLOCKING')
    t.regex(error!.message, new RegExp(`^${name}: the socket must be non-blocking \\(fd ${sock.fileno()}\\)`))
    await t.throwsAsync(operation(sock.fileno() as unknown as Socket), { instanceOf: TypeError }, name)
  }
})

test.serial('a second read (or write) while one waits rejects, naming the socket; the first is unaffected', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  await sleep(50)
  const before = snapshot(loop, epfd)
  const first = loop.sockRecv(conn, 100)
  const second = await t.throwsAsync(loop.sockRecv(conn, 100), { instanceOf: RuntimeError })
  t.is(second?.code, 'ERR_BUSY')
  t.is(second?.message, `sockRecv: socket fd ${conn.fileno()} already has a read waiting (sockRecv); one at a time`)
  await t.throwsAsync(loop.sockAccept(conn), { message: /^sockAccept: socket fd \d+ already has a read waiting \(sockRecv\)/ })
  t.throws(() => loop.addReader(conn, () => {}), { message: /^addReader: socket fd \d+ already has a read waiting \(sockRecv\)/ })
  await loop.sockSendall(client, Buffer.from('for the first'))
  t.is((await first).toString(), 'for the first')

  client.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096)
  // More than the buffers between the two hold. On the WebAssembly backend those include the
  // loopback kernel buffers of the socket host's Node sockets, which SO_SNDBUF does not reach and
  // Linux grows to megabytes.
  const big = Buffer.alloc(WASM ? 32 << 20 : 1 << 20, 'x')
  const writing = loop.sockSendall(client, big)
  t.true(await pending(writing))
  await t.throwsAsync(loop.sockSendall(client, Buffer.from('y')), {
    instanceOf: RuntimeError, message: `sockSendall: socket fd ${client.fileno()} already has a write waiting (sockSendall); one at a time`,
  })
  let got = 0
  while (got < big.length) got += (await loop.sockRecv(conn, 1 << 16)).length
  await writing
  t.is(got, big.length, 'the first write sent all its bytes, and nothing of the second')
  await sleep(50)
  conn.close()
  client.close()
  await backTo(t, loop, epfd, { ...before, fds: before.fds - 2 }, 'after closing both')
})

// Lifecycle

onLinux('closing a socket while an operation waits rejects it with EBADF and removes its interest', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const before = snapshot(loop, epfd)
  const [conn] = await tcpPair(t, loop)
  const [, client] = await tcpPair(t, loop) // its peer does not read: a big sendall waits
  const reading = loop.sockRecv(conn, 100)
  t.true(await pending(reading))
  t.true(interestList(epfd).has(conn.fileno()))
  client.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096)
  const writing = loop.sockSendall(client, Buffer.alloc(1 << 20))
  t.true(await pending(writing))
  const [connFd, clientFd] = [conn.fileno(), client.fileno()]
  conn.close()
  const error = await rejectsOS(t, within(3000, 'the read rejecting', reading), 'EBADF')
  t.is(error.syscall, 'recv')
  t.false(interestList(epfd).has(connFd), 'gone from the kernel')
  t.false(loop.watched().has(connFd), 'gone from the loop')
  client.close()
  t.is((await rejectsOS(t, within(3000, 'the write rejecting', writing), 'EBADF')).syscall, 'send')
  t.false(interestList(epfd).has(clientFd))
  await backTo(t, loop, epfd, { ...before, fds: before.fds + 2 }, 'after closing them (their peers stay open)')
})

test.serial('a socket closed with interest left: a new socket on the same fd number still waits and wakes', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const first = loop.sockRecv(conn, 10)
  await loop.sockSendall(client, Buffer.from('a'))
  await first // conn's interest stays in the kernel and the loop
  const fd = conn.fileno()
  conn.close()
  const opened: Socket[] = []
  t.teardown(() => opened.forEach((s) => s.close()))
  let reused: [Socket, Socket] | undefined
  while (reused === undefined && opened.length < 100) {
    const pair = socketpair()
    opened.push(...pair)
    if (pair[0].fileno() === fd) reused = pair
    if (pair[1].fileno() === fd) reused = [pair[1], pair[0]]
  }
  t.truthy(reused, `fd ${fd} was not reused`)
  const [a, b] = reused!
  a.setblocking(false)
  const reading = loop.sockRecv(a, 10)
  t.true(await pending(reading), 'nothing sent yet')
  b.send(Buffer.from('new'))
  t.is((await within(3000, 'the new socket waking', reading)).toString(), 'new')
})

onLinux('aborting through the signal rejects with an AbortError and removes the interest', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  await sleep(50)
  const before = snapshot(loop, epfd)
  const controller = new AbortController()
  const reading = loop.sockRecv(conn, 100, { signal: controller.signal })
  t.true(await pending(reading))
  t.true(interestList(epfd).has(conn.fileno()))
  controller.abort()
  const error = await reading.then(() => undefined, (e: unknown) => e) // a DOMException, which ava's throwsAsync does not take for an Error
  t.true(error instanceof DOMException)
  t.is((error as DOMException).name, 'AbortError')
  t.is((error as DOMException & { cause: unknown }).cause, controller.signal.reason)
  t.deepEqual(snapshot(loop, epfd), before, 'the interest went with the abort')
  await loop.sockSendall(client, Buffer.from('still here'))
  await sleep(20)
  t.is((await loop.sockRecv(conn, 100)).toString(), 'still here', 'the socket is unaffected')

  const aborted = AbortSignal.abort()
  t.is(await loop.sockRecv(conn, 100, { signal: aborted }).then(() => '', (e: DOMException) => e.name), 'AbortError')
  await t.throwsAsync(loop.sockRecv(conn, 100, { signal: {} as AbortSignal }), { instanceOf: TypeError })
  const done = new AbortController()
  const quick = loop.sockRecv(conn, 100, { signal: done.signal })
  await loop.sockSendall(client, Buffer.from('x'))
  t.is((await quick).toString(), 'x')
  done.abort() // after the operation: no effect
  await loop.sockSendall(client, Buffer.from('y'))
  await sleep(20)
  t.is((await loop.sockRecv(conn, 100)).toString(), 'y')
})

onLinux('loop.close() rejects every pending operation and frees its fds; a closed loop rejects new ones', async (t) => {
  const server = createServer(['127.0.0.1', 0])
  t.teardown(() => server.close())
  server.setblocking(false)
  const before = fdCount()
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  conn.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096)
  const waiting = [loop.sockRecv(conn, 10), loop.sockAccept(server), loop.sockSendall(conn, Buffer.alloc(1 << 20))]
  for (const operation of waiting) t.true(await pending(operation))
  t.is(interestList(epfd).size, 3, 'the waker, conn (read and write) and the listener')
  loop.close()
  for (const operation of waiting) await t.throwsAsync(within<unknown>(3000, 'the operation rejecting', operation), { instanceOf: RuntimeError, message: 'IOLoop is closed' })
  await t.throwsAsync(loop.sockRecv(conn, 10), { instanceOf: RuntimeError, message: 'IOLoop is closed' })
  t.throws(() => loop.spawn(async () => {}), { instanceOf: RuntimeError })
  t.is(loop.watched().size, 0)
  conn.close() // no hook of the closed loop is left to run
  client.close()
  t.is(fdCount(), before, 'the loop\'s epoll fd and waker, and the sockets, are closed')
})

// Callbacks

onLinux('addReader/addWriter call back with their arguments until removed; a raw fd loses its interest at once', async (t) => {
  const { loop, epfd, errors } = startedLoop(t)
  const before = snapshot(loop, epfd)
  using p = pipe()
  const calls: unknown[][] = []
  loop.addReader(p.r, (...args) => {
    calls.push(args)
    loop.removeReader(p.r)
  }, 'read', 1)
  t.is(interestList(epfd).get(p.r)! & EPOLLIN, EPOLLIN)
  const writes: string[] = []
  loop.addWriter(p.w, (tag: string) => {
    writes.push(tag)
    t.true(loop.removeWriter(p.w))
  }, 'w')
  await until(2000, 'the writer callback', () => writes.length > 0)
  t.deepEqual(writes, ['w'])
  t.false(interestList(epfd).has(p.w), 'removeWriter of an fd unregisters it at once')
  t.false(loop.removeWriter(p.w), 'nothing left to remove')
  t.deepEqual(calls, [])
  fs.writeSync(p.w, 'x')
  await until(2000, 'the reader callback', () => calls.length > 0)
  t.deepEqual(calls, [['read', 1]])
  t.false(interestList(epfd).has(p.r))
  t.deepEqual(snapshot(loop, epfd), { ...before, fds: before.fds + 2 })

  const boom = new Error('boom')
  loop.addReader(p.r, () => {
    loop.removeReader(p.r)
    throw boom
  })
  await until(2000, 'the exception reaching onError', () => errors.length > 0)
  t.deepEqual(errors, [boom])
  t.throws(() => loop.addReader(p.r, 'not a function' as any), { instanceOf: TypeError })
  t.deepEqual(snapshot(loop, epfd), { ...before, fds: before.fds + 2 })
})

onLinux('a Socket keeps its reader interest until the next event nobody waits for; addHandler can take the fd then', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  let called = 0
  loop.addReader(conn, () => {
    called++
    conn.recv(10)
    t.true(loop.removeReader(conn))
  })
  await loop.sockSendall(client, Buffer.from('x'))
  await until(2000, 'the reader callback', () => called === 1)
  t.true(interestList(epfd).has(conn.fileno()), 'lazily kept')
  loop.addHandler(conn, () => {}, IOLoop.READ) // interest nobody waits on gives way to a handler
  t.is(interestList(epfd).get(conn.fileno())! & (EPOLLIN | EPOLLOUT), EPOLLIN)
  loop.removeHandler(conn)
  t.false(interestList(epfd).has(conn.fileno()))
  t.is(called, 1)
})

// Tasks

test.serial('spawn starts a task once the caller yields; its value, its exception (to onError), await', async (t) => {
  const { loop, errors } = startedLoop(t)
  const order: string[] = []
  const task = loop.spawn(async (a: number, b: number) => {
    order.push('ran')
    return a + b
  }, 2, 3)
  order.push('spawned')
  t.true(task instanceof Task)
  t.false(task.ready())
  t.is(await task, 5)
  t.deepEqual(order, ['spawned', 'ran'])
  t.true(task.ready())
  t.true(task.successful())
  t.is(task.value, 5)

  const boom = new Error('boom')
  const failing = loop.spawn(async () => {
    await sleep(10)
    throw boom
  })
  t.deepEqual(await joinAll([failing]), [failing], 'joinAll does not reject for a failed task')
  t.is(failing.exception, boom)
  t.false(failing.successful())
  t.deepEqual(errors, [boom], 'the exception went to onError')
  await t.throwsAsync(async () => await failing, { is: boom })
  t.throws(() => loop.spawn('not a function' as any), { instanceOf: TypeError })
})

test.serial('joinAll waits for tasks blocked on sockets, concurrently; with a timeout, returns those done', async (t) => {
  const { loop } = startedLoop(t)
  const pairs = await Promise.all([1, 2, 3].map(() => tcpPair(t, loop)))
  const readers = pairs.map(([conn]) => loop.spawn(async () => (await loop.sockRecv(conn, 100)).toString()))
  await sleep(20)
  t.false(readers.some((r) => r.ready()), 'all three wait on their socket')
  for (const i of [2, 0, 1]) await loop.sockSendall(pairs[i][1], Buffer.from(`to ${i}`))
  const done = await within(5000, 'joinAll', joinAll(readers))
  t.is(done.length, 3)
  t.deepEqual(readers.map((r) => r.value), ['to 0', 'to 1', 'to 2'])

  const never = loop.spawn(() => new Promise<void>(() => {}))
  const quick = loop.spawn(async () => 'quick')
  const start = performance.now()
  const finished = await joinAll([never, quick], { timeout: 0.2 })
  const elapsed = performance.now() - start
  t.deepEqual(finished, [quick])
  t.true(elapsed >= 190 && elapsed < 2000, `timeout 0.2 s took ${elapsed} ms`)
  t.deepEqual(await joinAll([]), [])
  t.throws(() => joinAll([Promise.resolve() as any]), { instanceOf: TypeError })
})

test.serial('a BlockingIOError is what makes an operation wait: other errors reject at once', async (t) => {
  const { loop } = startedLoop(t)
  const [conn] = await tcpPair(t, loop)
  await t.throwsAsync(loop.sockRecv(conn, -1), { instanceOf: RangeError })
  await t.throwsAsync(loop.sockSendall(conn, 'text' as any), { instanceOf: TypeError })
  const listener = createServer(['127.0.0.1', 0])
  t.teardown(() => listener.close())
  listener.setblocking(false)
  t.throws(() => listener.accept(), { instanceOf: BlockingIOError }, 'the synchronous call, for comparison')
})
