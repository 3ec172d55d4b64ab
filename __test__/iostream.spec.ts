/**
 * IOStream (Tornado's, issue 12) over real TCP sockets on 127.0.0.1: readUntil (string and
 * Buffer delimiters, split across segments, maxBytes), readUntilRegex, readBytes, buffered writes resolved when
 * flushed, and the ways a stream ends (the peer closing or resetting mid-read, close() during a
 * read, a second read), each followed by a check that the fds and the loop's registrations are
 * back where they were. Serial: fd counts need a quiet process.
 */
import test from 'ava'
import net from 'node:net'
import { once } from 'node:events'

import {
  ConnectionResetError, IOStream, RuntimeError, SOL_SOCKET, SO_LINGER, Socket, StreamClosedError,
  UnsatisfiableReadError, ValueError, createServer,
} from '../src/index.js'
import { backTo, snapshot, startedLoop, tcpPair } from './coroutine-helpers.js'
import { sleep, within } from './servers.js'

/** Whether `promise` is still pending after the loop has had a few turns. */
async function pending(promise: Promise<unknown>): Promise<boolean> {
  let settled = false
  promise.then(() => (settled = true), () => (settled = true))
  await sleep(50)
  return !settled
}

test.serial('readUntil (string or Buffer delimiter, split across segments) and readBytes', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const stream = new IOStream(conn, loop)
  const head = stream.readUntil('\r\n\r\n')
  await loop.sockSendall(client, Buffer.from('GET / HTTP/1.1\r\nHost: x\r'))
  t.true(await pending(head), 'half a delimiter: still reading')
  await loop.sockSendall(client, Buffer.from('\n\r\nbody'))
  t.is((await head).toString(), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'up to and including the delimiter')
  const body = stream.readBytes(8)
  t.true(await pending(body), '4 of 8 bytes: still reading')
  await loop.sockSendall(client, Buffer.from('1234line one\nline two\n\0tail'))
  t.is((await body).toString(), 'body1234')
  t.is((await stream.readUntil(Buffer.from('\n'))).toString(), 'line one\n', 'pipelined data stays buffered')
  t.is((await stream.readUntil('\n')).toString(), 'line two\n')
  t.deepEqual(await stream.readUntil(Buffer.from([0])), Buffer.from([0]))
  t.is((await stream.readBytes(4)).toString(), 'tail')
  t.is((await stream.readBytes(0)).length, 0)
  const big = Buffer.alloc(300_000, 'z') // grows the read buffer well past its first 4 KiB
  const reading = stream.readUntil('!')
  await loop.sockSendall(client, Buffer.concat([big, Buffer.from('!')]))
  t.is((await reading).length, big.length + 1)
})

test.serial("readUntilRegex (Tornado's read_until_regex): a match split across segments, bytes as latin1, g and y flags ignored, maxBytes, bad patterns", async (t) => {
  const { loop, epfd } = startedLoop(t)
  const before = snapshot(loop, epfd)
  const [conn, client] = await tcpPair(t, loop)
  const stream = new IOStream(conn, loop)
  const head = stream.readUntilRegex(/\n\r?\n/)
  await loop.sockSendall(client, Buffer.from('GET / HTTP/1.1\r\nHost: x\r'))
  t.true(await pending(head), 'half a match: still reading')
  await loop.sockSendall(client, Buffer.from('\n\r\nGET /2 HTTP/1.0\n\n\xff\xfe;', 'latin1'))
  t.is((await head).toString(), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 'up to and including the match, across two segments')
  t.is((await stream.readUntilRegex('\n\r?\n')).toString(), 'GET /2 HTTP/1.0\n\n', 'a string pattern; pipelined data stays buffered')
  t.deepEqual(await stream.readUntilRegex(/\xfe/), Buffer.from([0xff, 0xfe]), 'each byte one latin1 character')
  const global = /;/g
  t.is((await stream.readUntilRegex(global)).toString(), ';')
  await loop.sockSendall(client, Buffer.from('a;b;'))
  t.is((await stream.readUntilRegex(global)).toString(), 'a;', 'a g pattern matches from the first unreturned byte each time')
  t.is((await stream.readUntilRegex(/;/y)).toString(), 'b;', 'and so does a y pattern')

  await loop.sockSendall(client, Buffer.from(`${'x'.repeat(70)}\nshort\n`))
  await t.throwsAsync(stream.readUntilRegex(/\n/, { maxBytes: 64 }), { instanceOf: UnsatisfiableReadError, message: /maxBytes \(64\)/ }, 'a match past maxBytes')
  t.false(stream.closed)
  t.is((await stream.readUntilRegex(/\n/, { maxBytes: 71 })).length, 71, 'exactly maxBytes; nothing was consumed by the failed read')
  await t.throwsAsync(stream.readUntilRegex(/\n/, { maxBytes: 0 }), { instanceOf: RangeError })
  await t.throwsAsync(stream.readUntilRegex(42 as never), { instanceOf: TypeError })
  await t.throwsAsync(stream.readUntilRegex('('), { instanceOf: SyntaxError })
  t.is((await stream.readUntilRegex(/\n/)).toString(), 'short\n', 'the bad calls took nothing')
  const waiting = stream.readUntilRegex(/\n/, { maxBytes: 8 })
  await loop.sockSendall(client, Buffer.from('12345678'))
  await t.throwsAsync(waiting, { instanceOf: UnsatisfiableReadError }, 'a waiting read rejects once maxBytes bytes hold no match')
  stream.close()
  client.close()
  await backTo(t, loop, epfd, before, 'after the stream and its peer are closed')
})

test.serial('readUntil ignores the bytes left in the buffer past the data: a delimiter there is not found', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const stream = new IOStream(conn, loop)
  const first = stream.readUntil('\n')
  await loop.sockSendall(client, Buffer.from('line1\nab'))
  t.is((await first).toString(), 'line1\n')
  // "ab" is moved to the front of the same buffer for "cd": "ne1\n" stays past the data
  const second = stream.readUntil('\n')
  await loop.sockSendall(client, Buffer.from('cd'))
  t.true(await pending(second), 'no delimiter in "abcd" yet')
  await loop.sockSendall(client, Buffer.from('e\n'))
  t.is((await second).toString(), 'abcde\n')
})

test.serial('write: each goes out at once, or queues behind the writes before it (16 MiB the peer does not read), and resolves once sent', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const stream = new IOStream(conn, loop)
  const writes = [stream.write('one '), stream.write(Buffer.from('two ')), stream.write(new Uint8Array([0x33, 0x0a])), stream.write('ü')]
  await Promise.all(writes)
  let got = Buffer.alloc(0)
  while (got.length < 11) got = Buffer.concat([got, await loop.sockRecv(client, 100)])
  t.is(got.toString(), 'one two 3\nü')

  const big = Buffer.alloc(16 << 20, 'b')
  const flushed = stream.write(big)
  const after = stream.write('end')
  t.true(await pending(flushed), '16 MiB the peer does not read: not flushed yet')
  let received = 0
  while (received < big.length + 3) received += (await loop.sockRecv(client, 1 << 16)).length
  await flushed
  await after
  t.is(received, big.length + 3)
  await t.throwsAsync(stream.write(42 as any), { instanceOf: TypeError })
})

test.serial('readUntil past maxBytes rejects and leaves the stream open: it can answer, then close', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const before = snapshot(loop, epfd)
  const [conn, client] = await tcpPair(t, loop)
  const stream = new IOStream(conn, loop)
  await loop.sockSendall(client, Buffer.alloc(100, 'a'))
  const error = await t.throwsAsync(stream.readUntil('\n', { maxBytes: 64 }), { instanceOf: UnsatisfiableReadError })
  t.is(error?.code, 'ERR_UNSATISFIABLE_READ')
  t.false(stream.closed)
  await stream.write('HTTP/1.1 431 Request Header Fields Too Large\r\n\r\n')
  t.regex((await loop.sockRecv(client, 100)).toString(), /^HTTP\/1\.1 431/)
  stream.close()
  t.true(stream.closed)
  t.is(conn.fileno(), -1, 'the socket is closed with the stream')
  t.is((await loop.sockRecv(client, 100)).length, 0, 'the peer sees the end')

  const [conn2, client2] = await tcpPair(t, loop)
  const stream2 = new IOStream(conn2, loop)
  await loop.sockSendall(client2, Buffer.from(`${'x'.repeat(70)}\nshort\n`))
  await t.throwsAsync(stream2.readUntil('\n', { maxBytes: 64 }), { instanceOf: UnsatisfiableReadError }, 'a delimiter found past maxBytes')
  t.is((await stream2.readUntil('\n', { maxBytes: 80 })).length, 71, 'nothing was consumed by the failed read')
  t.is((await stream2.readUntil('\n', { maxBytes: 6 })).toString(), 'short\n', 'exactly maxBytes is allowed')
  await t.throwsAsync(stream2.readUntil('\n', { maxBytes: 0 }), { instanceOf: RangeError })
  await t.throwsAsync(stream2.readUntil(''), { instanceOf: TypeError })
  stream2.close()
  client.close()
  client2.close()
  await backTo(t, loop, epfd, before, 'after the streams and their peers are closed')
})

test.serial('the peer closing mid-read rejects with a StreamClosedError carrying what had been read', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  await sleep(50)
  const before = snapshot(loop, epfd)
  const stream = new IOStream(conn, loop)
  const line = stream.readUntil('\n')
  await loop.sockSendall(client, Buffer.from('half a li'))
  t.true(await pending(line))
  client.close()
  const error = await t.throwsAsync(line, { instanceOf: StreamClosedError })
  t.is(error?.code, 'ERR_STREAM_CLOSED')
  t.is(error?.message, 'Stream is closed')
  t.is((error as StreamClosedError).partial.toString(), 'half a li')
  t.is((error as StreamClosedError).realError, undefined)
  t.true(stream.closed, 'the stream closed itself, and its socket')
  await t.throwsAsync(stream.readBytes(1), { instanceOf: StreamClosedError })
  await t.throwsAsync(stream.write('x'), { instanceOf: StreamClosedError })
  await backTo(t, loop, epfd, { ...before, fds: before.fds - 2 }, 'both sockets closed, no interest left')
})

test.serial('a peer that resets the connection (a net client) rejects with a StreamClosedError whose realError is ECONNRESET', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const server = createServer(['127.0.0.1', 0])
  t.teardown(() => server.close())
  server.setblocking(false)
  const before = snapshot(loop, epfd)
  const client = net.connect((server.getsockname() as [string, number])[1], '127.0.0.1')
  t.teardown(() => client.destroy())
  const [[conn]] = await Promise.all([loop.sockAccept(server), once(client, 'connect')])
  server.close() // with the interest its accept left
  const stream = new IOStream(conn, loop)
  client.write('abc')
  const line = stream.readUntil('\n')
  t.true(await pending(line))
  client.resetAndDestroy()
  const error = await within(3000, 'the read ending', line.then(() => undefined, (e: unknown) => e))
  t.true(error instanceof StreamClosedError, String(error))
  t.true((error as StreamClosedError).realError instanceof ConnectionResetError)
  t.is((error as StreamClosedError).partial.toString(), 'abc')
  t.true(stream.closed)
  await backTo(t, loop, epfd, { ...before, fds: before.fds - 1 }, 'the listener, the connection and the net client closed')
})

test.serial('close() while a read and a write wait rejects both with StreamClosedError; a second read is refused', async (t) => {
  const { loop, epfd } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  await sleep(50)
  const before = snapshot(loop, epfd)
  const stream = new IOStream(conn, loop)
  const first = stream.readUntil('\n')
  const second = await t.throwsAsync(stream.readBytes(1), { instanceOf: RuntimeError })
  t.is(second?.message, `readBytes: socket fd ${conn.fileno()} already has a read waiting on this IOStream; one at a time`)
  await loop.sockSendall(client, Buffer.from('first\n'))
  t.is((await first).toString(), 'first\n', 'the first read is unaffected')

  const reading = stream.readBytes(10)
  const writing = stream.write(Buffer.alloc(16 << 20))
  const queued = stream.write('more')
  t.true(await pending(reading))
  t.true(await pending(writing))
  stream.close()
  for (const operation of [reading, writing, queued]) {
    const error = await t.throwsAsync(operation, { instanceOf: StreamClosedError })
    t.is((error as StreamClosedError).realError, undefined)
  }
  stream.close() // idempotent
  stream.write('ignored') // rejected, and not an unhandled rejection although nobody awaits it
  await sleep(20)
  client.close()
  await backTo(t, loop, epfd, { ...before, fds: before.fds - 2 }, 'both sockets closed, no interest left')
})

test.serial('bad input: a blocking socket is a ValueError, a non-Socket or a loop that is not an IOLoop a TypeError', async (t) => {
  const { loop } = startedLoop(t)
  const sock = new Socket()
  t.teardown(() => sock.close())
  const error = t.throws(() => new IOStream(sock, loop), { instanceOf: ValueError })
  t.is(error?.code, 'ERR_SOCKET_BLOCKING')
  sock.setblocking(false)
  t.throws(() => new IOStream(sock.fileno() as any, loop), { instanceOf: TypeError })
  t.throws(() => new IOStream(sock, {} as any), { instanceOf: TypeError })
  const stream = new IOStream(sock, loop)
  await t.throwsAsync(stream.readBytes(-1), { instanceOf: RangeError })
  await t.throwsAsync(stream.readUntil(42 as any), { instanceOf: TypeError })
  t.throws(() => new IOStream(sock, loop, { maxBufferSize: 0 }), { instanceOf: RangeError })
  t.is(stream.socket, sock)
})

test.serial('maxBufferSize bounds the read buffer: a read past it rejects', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const stream = new IOStream(conn, loop, { maxBufferSize: 10_000 })
  await loop.sockSendall(client, Buffer.alloc(20_000, 'n'))
  await t.throwsAsync(stream.readUntil('\n'), { instanceOf: UnsatisfiableReadError, message: /maxBufferSize 10000/ })
})

test.serial('the Socket setsockopt SO_LINGER reset from an fdpoll peer is ECONNRESET too', async (t) => {
  const { loop } = startedLoop(t)
  const [conn, client] = await tcpPair(t, loop)
  const stream = new IOStream(conn, loop)
  const line = stream.readUntil('\n')
  await loop.sockSendall(client, Buffer.from('x'))
  t.true(await pending(line))
  client.setsockopt(SOL_SOCKET, SO_LINGER, Buffer.from(new Int32Array([1, 0]).buffer))
  client.close()
  const error = await t.throwsAsync(line, { instanceOf: StreamClosedError })
  t.true((error as StreamClosedError).realError instanceof ConnectionResetError)
})
