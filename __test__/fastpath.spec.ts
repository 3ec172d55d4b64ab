/** The fast path: raw-fd functions that return counts, fds or -errno, and never throw for the OS. */
import test from 'ava'
import { createConnection, createServer, errno, fastpath } from '../src/index.js'

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
