/** The fast path: raw-fd functions that return counts, fds or -errno, and never throw for the OS. */
import test from 'ava'
import { EPOLLIN, EPOLLOUT, Epoll, createConnection, createServer, errno, fastpath } from '../src/index.js'
import { arrived, pair, peerClosed } from './helpers.js'

function connectedPair() {
  const listener = createServer(['127.0.0.1', 0])
  listener.setblocking(false)
  const client = createConnection(['127.0.0.1', listener.getsockname()[1] as number])
  let fd = fastpath.accept(listener.fileno())
  for (let i = 0; fd === -errno.EAGAIN && i < 1000; i++) fd = fastpath.accept(listener.fileno())
  return { listener, client, fd }
}

test('accept returns -EAGAIN when nothing is pending, then a non-blocking fd', (t) => {
  const listener = createServer(['127.0.0.1', 0])
  listener.setblocking(false)
  t.is(fastpath.accept(listener.fileno()), -errno.EAGAIN)
  const { client, fd, listener: other } = connectedPair()
  t.true(fd > 2)
  t.is(fastpath.recvInto(fd, Buffer.alloc(8)), -errno.EAGAIN, 'non-blocking: no data yet')
  fastpath.close(fd)
  client.close()
  other.close()
  listener.close()
})

test('recvInto counts bytes, then 0 at end of stream; send counts bytes, then -EPIPE', (t) => {
  const { listener, client, fd } = connectedPair()
  client.sendall(Buffer.from('hello'))
  const buf = Buffer.alloc(16)
  let n = fastpath.recvInto(fd, buf)
  for (let i = 0; n === -errno.EAGAIN && i < 1e5; i++) n = fastpath.recvInto(fd, buf)
  t.is(n, 5)
  t.is(buf.subarray(0, 5).toString(), 'hello')
  t.is(fastpath.send(fd, Buffer.from('world')), 5)
  t.is(client.recv(16).toString(), 'world')
  client.close()
  n = fastpath.recvInto(fd, buf)
  for (let i = 0; n === -errno.EAGAIN && i < 1e5; i++) n = fastpath.recvInto(fd, buf)
  t.is(n, 0, 'end of stream')
  let sent = 0
  for (let i = 0; sent >= 0 && i < 1000; i++) sent = fastpath.send(fd, Buffer.alloc(1024))
  t.true(sent === -errno.EPIPE || sent === -errno.ECONNRESET, `never a SIGPIPE or a throw: ${sent}`)
  t.is(fastpath.close(fd), 0)
  t.is(fastpath.close(fd), -errno.EBADF, 'a second close reports EBADF instead of throwing')
  listener.close()
})

test('pollRecv waits, then reads each readable fd into its slot, skipping skipFd and writable-only events', (t) => {
  const ep = new Epoll()
  const [a, a2] = pair(t)
  const [b, b2] = pair(t)
  const [c] = pair(t)
  const [skipped, skipped2] = pair(t)
  for (const sock of [a, b, skipped]) ep.register(sock, EPOLLIN)
  ep.register(c, EPOLLOUT) // writable, never readable
  a2.send(Buffer.from('first'))
  b2.send(Buffer.from('second one'))
  skipped2.send(Buffer.from('left alone'))
  for (const sock of [a, b, skipped]) arrived(sock) // `c` is ready at once: the wait would not wait for them
  const out = new Int32Array(3 * 8)
  const area = Buffer.alloc(8 * 4)
  const count = fastpath.pollRecv(ep.fileno(), out, 1000, area, 4, skipped.fileno())
  t.is(count, 4)
  const got = new Map<number, [number, number, string]>()
  for (let i = 0; i < count; i++) {
    const n = out[3 * i + 2]
    got.set(out[3 * i], [out[3 * i + 1], n, n > 0 ? area.toString('latin1', 4 * i, 4 * i + n) : ''])
  }
  t.deepEqual(got.get(a.fileno()), [EPOLLIN, 4, 'firs'], 'a slot holds at most slotSize bytes')
  t.deepEqual(got.get(b.fileno()), [EPOLLIN, 4, 'seco'])
  t.deepEqual(got.get(skipped.fileno()), [EPOLLIN, -errno.EAGAIN, ''], 'skipFd is reported, not read')
  t.deepEqual(got.get(c.fileno()), [EPOLLOUT, -errno.EAGAIN, ''], 'not readable: not read')
  t.is(skipped.recv(64).toString(), 'left alone')
  a2.close()
  peerClosed(a)
  const resultFor = (fd: number) => {
    const count = fastpath.pollRecv(ep.fileno(), out, 0, area, 4, -1)
    for (let i = 0; i < count; i++) if (out[3 * i] === fd) return out[3 * i + 2]
    return undefined
  }
  t.is(resultFor(a.fileno()), 1, 'level-triggered: the rest of "first"')
  t.is(resultFor(a.fileno()), 0, 'then end of stream')
  ep.close()
})

test('pollRecv: a timeout returns 0, room for no event or shared memory is -EINVAL, a closed epoll fd -EBADF', (t) => {
  const ep = new Epoll()
  const out = new Int32Array(6)
  t.is(fastpath.pollRecv(ep.fileno(), out, 10, Buffer.alloc(64), 16, -1), 0)
  t.is(fastpath.pollRecv(ep.fileno(), new Int32Array(2), 0, Buffer.alloc(64), 16, -1), -errno.EINVAL, 'out holds no triple')
  t.is(fastpath.pollRecv(ep.fileno(), out, 0, Buffer.alloc(8), 16, -1), -errno.EINVAL, 'area holds no slot')
  t.is(fastpath.pollRecv(ep.fileno(), out, 0, Buffer.alloc(64), 0, -1), -errno.EINVAL, 'slotSize 0')
  t.is(fastpath.pollRecv(ep.fileno(), out, 0, new Uint8Array(out.buffer), 4, -1), -errno.EINVAL, 'out and area overlap')
  const fd = ep.fileno()
  ep.close()
  t.is(fastpath.pollRecv(fd, out, 0, Buffer.alloc(64), 16, -1), -errno.EBADF)
})

test('sendMany sends each range to its fd and writes back bytes sent or -errno', (t) => {
  const [a, a2] = pair(t)
  const [b, b2] = pair(t)
  const [gone, gone2] = pair(t)
  gone2.close()
  const data = Buffer.from('0123456789')
  const plan = Int32Array.of(a.fileno(), 0, 3, b.fileno(), 5, 5, gone.fileno(), 0, 1, a.fileno(), 8, 3, 99_999, 0, 1, 0, 0, 0)
  t.is(fastpath.sendMany(plan, 5, data), 0)
  t.deepEqual([...plan], [a.fileno(), 0, 3, b.fileno(), 5, 5, gone.fileno(), 0, -errno.EPIPE, a.fileno(), 8, -errno.EINVAL, 99_999, 0, -errno.EBADF, 0, 0, 0], 'the sixth entry is past count: untouched')
  t.is(a2.recv(16).toString(), '012')
  t.is(b2.recv(16).toString(), '56789')
  t.is(fastpath.sendMany(plan, 7, data), -errno.EINVAL, 'the plan holds 6 entries')
  t.is(fastpath.sendMany(plan, 1, new Uint8Array(plan.buffer)), -errno.EINVAL, 'plan and data overlap')
})
