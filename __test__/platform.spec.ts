/**
 * What differs between platforms keeps one meaning: the socket constants are the kernel's own,
 * an option the platform lacks fails loudly, a host that does not resolve carries the C
 * library's code, and uncorking sends at once (TCP_CORK on Linux, TCP_NOPUSH elsewhere).
 */
import test from 'ava'

import {
  AF_INET,
  AF_INET6,
  IPPROTO_TCP,
  OSError,
  SO_TYPE,
  SOCK_NONBLOCK,
  SOCK_STREAM,
  SOL_SOCKET,
  Socket,
  TCP_CORK,
  TCP_DEFER_ACCEPT,
  TCP_QUICKACK,
  corked,
  createServer,
  gaierror,
  select,
} from '../src/index.js'
import { IPV6_LOOPBACK, testIf } from './helpers.js'
import { LINUX } from './inspect.js'

testIf(IPV6_LOOPBACK, 'no IPv6 loopback (::1) on this host')('the socket constants are the ones this kernel uses', (t) => {
  using v6 = new Socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK)
  v6.bind(['::1', 0])
  t.is(v6.getsockname().length, 4, 'the kernel reported AF_INET6 for an AF_INET6 socket')
  t.is(v6.getsockopt(SOL_SOCKET, SO_TYPE), SOCK_STREAM)
  t.false(v6.getblocking(), 'SOCK_NONBLOCK, natively or through fcntl')
  using adopted = new Socket(-1, -1, -1, v6.detach())
  t.deepEqual([adopted.family, adopted.type], [AF_INET6, SOCK_STREAM])
})

test('an option this platform lacks is -1, which the kernel refuses (ENOPROTOOPT)', (t) => {
  using sock = new Socket(AF_INET, SOCK_STREAM)
  const linuxOnly = LINUX ? [] : [TCP_CORK, TCP_DEFER_ACCEPT, TCP_QUICKACK]
  for (const optname of [-1, ...linuxOnly]) {
    t.is(optname, -1)
    t.throws(() => sock.setsockopt(IPPROTO_TCP, optname, 1), { instanceOf: OSError, code: 'ENOPROTOOPT' })
    t.throws(() => sock.getsockopt(SOL_SOCKET, optname), { instanceOf: OSError, code: 'ENOPROTOOPT' })
  }
})

test("a host that does not resolve is gaierror with the C library's EAI_NONAME", (t) => {
  using sock = new Socket()
  const err = t.throws(() => sock.connect(['no-such-host.invalid', 80]), { instanceOf: gaierror, code: 'EAI_NONAME' })
  t.is(err.errno, LINUX ? -2 : 8, 'glibc and musl: -2; macOS and FreeBSD: 8')
  t.regex(err.message, /^EAI_NONAME: \w.+, connect$/)
})

test('uncorking sends what the cork held at once', (t) => {
  using server = createServer(['127.0.0.1', 0])
  using client = new Socket(AF_INET, SOCK_STREAM)
  client.connect(server.getsockname())
  const [conn] = server.accept()
  using _conn = conn
  corked(client, () => {
    client.send(Buffer.from('held'))
    t.deepEqual(select([conn], [], [], 0)[0], [], 'a partial segment waits while corked')
  })
  // Linux sends a corked segment after 200 ms anyway: only uncorking sends it sooner.
  t.deepEqual(select([conn], [], [], 0.1)[0], [conn], 'sent on uncork')
  t.is(conn.recv(8).toString(), 'held')
})
