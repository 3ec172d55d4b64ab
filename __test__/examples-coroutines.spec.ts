/**
 * The coroutine examples of issue 12 besides echo-coroutines (echo-coroutines.spec.ts), each run
 * as its own process: hello-world-async.ts driven by curl, wrk, Node's net (keep-alive and
 * pipelined requests) and Python's socket module; gevent-fetch.ts's output and the ratio of its
 * two times; producer-consumer.ts's output, line for line. All serial: several example processes
 * starting at once on a busy machine miss their 10 s to print an address.
 */
import test from 'ava'
import { execFile, spawnSync } from 'node:child_process'
import net from 'node:net'
import { promisify } from 'node:util'

import { testIf } from './helpers.js'
import { cpuMs, openFds } from './inspect.js'
import { HTTP_ADDRESS, connect, sleep, start, until, within } from './servers.js'

const run = promisify(execFile)
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0
const withCurl = testIf(has('curl'), 'curl is not installed', { serial: true })
const withWrk = testIf(has('wrk'), 'wrk is not installed', { serial: true })

const HEADERS = 'Date: Mon, 1 Jan 1996 01:01:01 GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!'
/** hello-world.ts's reply, byte for byte: hello-world-async's answer to an HTTP/1.0 request. */
const REPLY_1_0 = `HTTP/1.0 200 OK\r\n${HEADERS}`
/** Its answer to an HTTP/1.1 request. */
const REPLY_1_1 = `HTTP/1.1 200 OK\r\n${HEADERS}`
const GET_1_1 = 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'

/** Runs `example` (not a server) to its end and resolves with its stdout. */
async function runExample(example: string, env: Record<string, string> = {}): Promise<string> {
  const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', `examples/${example}`], {
    env: { ...process.env, ...env }, timeout: 30_000,
  })
  if (stderr !== '') throw new Error(`${example} wrote to stderr: ${stderr}`)
  return stdout
}

/** A raw client that collects every byte the server sends, and knows when the server has closed. */
function rawClient(sock: net.Socket) {
  let got = ''
  let ended = false
  sock.setEncoding('latin1').on('data', (chunk: string) => (got += chunk)).on('close', () => (ended = true))
  return {
    /** Resolves once `n` bytes in all have come. */
    received: (n: number, what: string) => until(5000, `${what} (${n} bytes; got ${JSON.stringify(got)})`, () => got.length >= n).then(() => got),
    /** Resolves once the connection is closed: by the server's FIN, or its reset. */
    ended: (what: string) => until(5000, what, () => ended),
    isEnded: () => ended,
  }
}

withCurl('hello-world-async.ts: curl gets the HTTP/1.1 reply on a kept-alive connection, and with -0 hello-world.ts\'s HTTP/1.0 bytes', async (t) => {
  const { port } = await start(t, 'hello-world-async.ts', { address: HTTP_ADDRESS })
  const url = `http://127.0.0.1:${port}/`
  t.is((await run('curl', ['-s', '-i', '--max-time', '5', url])).stdout, REPLY_1_1)
  t.is((await run('curl', ['-s', '-i', '-0', '--max-time', '5', url])).stdout, REPLY_1_0)
  // two URLs in one curl: the second transfer makes no new connection, it reuses the kept-alive one
  const twice = await run('curl', ['-s', '--max-time', '5', '-w', ' %{num_connects}\n', url, url])
  t.is(twice.stdout, 'Hello, world! 1\nHello, world! 0\n')
})

withWrk('hello-world-async.ts: a bounded wrk run (1 s, 50 keep-alive connections) sees no errors', async (t) => {
  const { port } = await start(t, 'hello-world-async.ts', { address: HTTP_ADDRESS })
  const wrk = await run('wrk', ['-t1', '-c50', '-d1s', '--timeout', '2s', `http://127.0.0.1:${port}/`], { timeout: 20_000 })
  t.log(wrk.stdout.trim().split('\n').filter((l) => /Requests\/sec/.test(l)).join(''))
  t.true(Number(/(\d+) requests in/.exec(wrk.stdout)?.[1] ?? 0) > 100, wrk.stdout)
  t.notRegex(wrk.stdout, /Socket errors|Non-2xx/, wrk.stdout)
})

test.serial('hello-world-async.ts: keep-alive: three requests one after another on one connection, then "Connection: close" ends it', async (t) => {
  const { port } = await start(t, 'hello-world-async.ts', { address: HTTP_ADDRESS })
  const sock = await connect(port)
  t.teardown(() => sock.destroy())
  const client = rawClient(sock)
  for (let i = 1; i <= 3; i++) {
    sock.write(GET_1_1)
    t.is(await client.received(i * REPLY_1_1.length, `reply ${i}`), REPLY_1_1.repeat(i))
    t.false(client.isEnded(), `the connection is still open after reply ${i}`)
  }
  sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n')
  await client.ended('the server closing after "Connection: close"')
  t.is(await client.received(4 * REPLY_1_1.length, 'the last reply'), REPLY_1_1.repeat(4))
})

test.serial('hello-world-async.ts: pipelined requests in one write are answered in order; an HTTP/1.0 one last, then the close', async (t) => {
  const { port } = await start(t, 'hello-world-async.ts', { address: HTTP_ADDRESS })
  const sock = await connect(port)
  t.teardown(() => sock.destroy())
  const client = rawClient(sock)
  // bare newlines end a request too (the original's EOL1), split across writes as well
  sock.write(GET_1_1.repeat(5) + 'GET / HTTP/1.1\n\nGET / HTTP/1.1\r\nHo')
  await sleep(50)
  sock.write('st: 127.0.0.1\r\n\r\nGET / HTTP/1.0\r\n\r\n')
  await client.ended('the server closing after the HTTP/1.0 request')
  t.is(await client.received(0, 'everything'), REPLY_1_1.repeat(7) + REPLY_1_0)
})

test.serial('hello-world-async.ts: a Python client gets hello-world.ts\'s bytes for HTTP/1.0, and keeps a connection for HTTP/1.1', async (t) => {
  const { port } = await start(t, 'hello-world-async.ts', { address: HTTP_ADDRESS })
  const { stdout } = await run('python3', ['-c', [
    'import socket, sys',
    `s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)`,
    's.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")',
    'data = b""',
    'while chunk := s.recv(1024): data += chunk',
    'sys.stdout.write(data.decode() + "|")',
    `s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)`,
    'for i in range(2):',
    `    s.sendall(${JSON.stringify(GET_1_1)}.encode())`,
    '    data = b""',
    `    while len(data) < ${REPLY_1_1.length}: data += s.recv(1024)`,
    '    sys.stdout.write(data.decode() + "|")',
  ].join('\n')], { timeout: 10_000 })
  t.is(stdout, `${REPLY_1_0}|${REPLY_1_1}|${REPLY_1_1}|`)
})

test.serial('hello-world-async.ts: a request past 16 KiB closes its connection; clients that hang up free their fds; no spin', async (t) => {
  const server = await start(t, 'hello-world-async.ts', { address: HTTP_ADDRESS })
  const pid = server.process.pid!
  const warm = await connect(server.port)
  const warmClient = rawClient(warm)
  warm.write(GET_1_1)
  await warmClient.received(REPLY_1_1.length, 'the warm-up reply')
  warm.destroy()
  await sleep(100)
  const fds = openFds(pid).size

  const big = await connect(server.port)
  const bigClient = rawClient(big.on('error', () => {}))
  big.write(`GET / HTTP/1.1\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`)
  await bigClient.ended('the server closing an oversized request')
  const early = await connect(server.port)
  early.end('GET / HT') // half a request, then EOF
  const reset = await connect(server.port)
  reset.write(GET_1_1)
  await sleep(50)
  reset.resetAndDestroy()
  await until(3000, `the server freeing its connections' fds (${fds} before)`, () => openFds(pid).size === fds)
  const before = cpuMs(pid)
  await sleep(500)
  const spent = cpuMs(pid) - before
  t.true(spent < 150, `the server burned ${spent} ms of CPU in 0.5 s idle: it spins`)
  t.is(server.process.exitCode, null)
  t.is(server.stderr(), '')
})

test.serial('gevent-fetch.ts: every page fetched twice; the concurrent run takes well under half the sequential one', async (t) => {
  const pages = 4
  const out = await within(30_000, 'gevent-fetch.ts', runExample('gevent-fetch.ts', { PAGES: String(pages), DELAY: '0.25' }))
  const lines = out.trimEnd().split('\n')
  t.is(lines.length, 4 * pages + 2, out)
  const url = (i: number) => `http://127\\.0\\.0\\.1:\\d+/page${i}`
  // one after another: each GET is followed by its page before the next GET
  for (let i = 1; i <= pages; i++) {
    const [get, got] = lines.slice(2 * (i - 1), 2 * i)
    t.regex(get, new RegExp(`^GET ${url(i)}$`))
    t.regex(got, new RegExp(`^${i * 1000} bytes received from ${url(i)}$`))
  }
  const sequential = Number(/^sequential: ([\d.]+) s$/.exec(lines[2 * pages])?.[1])
  // all at once: every GET goes out before the first page comes back
  const concurrent = lines.slice(2 * pages + 1, 4 * pages + 1)
  t.true(concurrent.slice(0, pages).every((l) => l.startsWith('GET ')), out)
  t.deepEqual(
    concurrent.slice(pages).map((l) => Number(/^(\d+) bytes received from /.exec(l)?.[1])).sort((a, b) => a - b),
    Array.from({ length: pages }, (_, i) => (i + 1) * 1000),
  )
  const total = Number(/^concurrent: ([\d.]+) s$/.exec(lines[4 * pages + 1])?.[1])
  t.log(`sequential ${sequential} s, concurrent ${total} s`)
  t.true(sequential >= pages * 0.25, `sequential ${sequential} s: the pages' delays add up`)
  t.true(total < sequential / 2, `concurrent ${total} s against sequential ${sequential} s`)
})

test.serial('producer-consumer.ts: the buns are made and eaten in the greenlet original\'s order', async (t) => {
  const expected = ['[producer] is making bun 1', '---> starting to eat buns...', 'eating bun 1']
  for (let n = 2; n <= 5; n++) expected.push(`[producer] is making bun ${n}`, `eating bun ${n}`)
  t.is(await runExample('producer-consumer.ts'), expected.join('\n') + '\n')
})
