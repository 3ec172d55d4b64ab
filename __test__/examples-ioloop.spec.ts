/**
 * The IOLoop example server (ioloop-hello.ts), started as its own process and driven by real
 * clients on loopback: Node's http and Python's socket module; and the select/poll/epoll
 * measurement (select-poll-epoll.ts), whose table must show poll's O(n) against epoll's O(ready).
 */
import test from 'ava'
import { execFile } from 'node:child_process'
import http from 'node:http'
import { promisify } from 'node:util'

import { HTTP_ADDRESS, start, until, within } from './servers.js'

const run = promisify(execFile)

/** A GET on its own connection: the status and the body. */
function get(port: number): Promise<[number | undefined, string]> {
  return within(5000, 'an HTTP response', new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk)).on('end', () => resolve([res.statusCode, body]))
      res.on('error', reject)
    }).on('error', reject)
  }))
}

test('ioloop-hello.ts: announces its port, then a self-check served while a Node timer kept ticking', async (t) => {
  const server = await start(t, 'ioloop-hello.ts', { address: HTTP_ADDRESS })
  await until(5000, 'the self-check line', () => server.lines().length >= 2)
  const match = /^self-check: 200 Hello, world! \(timer ticks so far: (\d+)\)$/.exec(server.lines()[1])
  t.truthy(match, server.lines()[1])
  t.true(Number(match![1]) > 0, 'the setInterval ran while the loop was running')
  t.is(server.stderr(), '')
})

test('ioloop-hello.ts: a Node http client gets Hello, world!', async (t) => {
  const { port } = await start(t, 'ioloop-hello.ts', { address: HTTP_ADDRESS })
  const [status, body] = await get(port)
  t.is(status, 200)
  t.is(body, 'Hello, world!')
})

test('ioloop-hello.ts: a Python socket client gets the whole HTTP/1.0 response, then EOF', async (t) => {
  const { port } = await start(t, 'ioloop-hello.ts', { address: HTTP_ADDRESS })
  const { stdout } = await run('python3', ['-c', [
    'import socket, sys',
    `s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)`,
    's.sendall(b"GET / HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n")',
    'data = b""',
    'while chunk := s.recv(1024): data += chunk',
    'sys.stdout.buffer.write(data)',
  ].join('\n')], { timeout: 10_000 })
  t.true(stdout.startsWith('HTTP/1.0 200 OK\r\n'), stdout)
  t.is(stdout.split('\r\n\r\n')[1], 'Hello, world!')
})

test('ioloop-hello.ts: 10 concurrent requests all succeed', async (t) => {
  const server = await start(t, 'ioloop-hello.ts', { address: HTTP_ADDRESS })
  const replies = await Promise.all(Array.from({ length: 10 }, () => get(server.port)))
  t.deepEqual(replies, Array.from({ length: 10 }, () => [200, 'Hello, world!']))
  t.is(server.process.exitCode, null)
  t.is(server.stderr(), '')
})

test.serial('select-poll-epoll.ts --quick: poll grows with the fds registered, epoll does not', async (t) => {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'examples/select-poll-epoll.ts', '--quick'], {
    timeout: 60_000,
  })
  /** `| 10,000 | 342.40 (its limit: 998 fds) | 4249.27 | 0.94 |` → { 10000: { select, poll, epoll } } */
  const table = new Map<number, { select: number; poll: number; epoll: number }>()
  for (const line of stdout.split('\n')) {
    const match = /^\| ([\d,]+) \| ([\d.]+)(?: \(its limit: \d+ fds\))? \| ([\d.]+) \| ([\d.]+) \|$/.exec(line)
    if (match) table.set(Number(match[1].replace(/,/g, '')), { select: +match[2], poll: +match[3], epoll: +match[4] })
  }
  t.deepEqual([...table.keys()], [10, 1000, 10_000], stdout)
  const small = table.get(10)!
  const large = table.get(10_000)!
  t.true(large.epoll < 5 * small.epoll, `epoll: ${small.epoll} µs at 10 fds, ${large.epoll} µs at 10,000\n${stdout}`)
  t.true(large.poll > 10 * small.poll, `poll: ${small.poll} µs at 10 fds, ${large.poll} µs at 10,000\n${stdout}`)
  t.log(`poll ${small.poll} → ${large.poll} µs, epoll ${small.epoll} → ${large.epoll} µs (10 → 10,000 fds)`)
})
