/**
 * The example servers, each started as its own process and driven by real clients: Node's
 * http and net, curl, Python's socket module and a short bounded wrk run on loopback.
 */
import test from 'ava'
import { ChildProcess, execFile, spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import net from 'node:net'
import { promisify } from 'node:util'

const run = promisify(execFile)
const EXPECTED =
  'HTTP/1.0 200 OK\r\nDate: Mon, 1 Jan 1996 01:01:01 GMT\r\n' +
  'Content-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** User + system CPU time of a process, in clock ticks, from /proc/PID/stat. */
const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return Number(fields[11]) + Number(fields[12])
}
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0

/** Starts an example on a free port; resolves with the process and its port once it listens. */
async function start(example: string): Promise<{ server: ChildProcess; port: number }> {
  const server = spawn(process.execPath, ['--import', 'tsx', `examples/${example}`], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  let out = ''
  for await (const chunk of server.stdout!) {
    out += chunk
    const match = /Serving on http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)
    if (match) return { server, port: Number(match[1]) }
  }
  throw new Error(`${example} exited before listening: ${out}`)
}

/** Sends `request` over a raw TCP connection and resolves with everything the server sends. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    const sock = net.connect(port, '127.0.0.1', () => sock.end(request))
    sock.on('data', (c) => chunks.push(c))
      .on('end', () => resolve(Buffer.concat(chunks).toString()))
      .on('error', reject)
  })
}

for (const example of ['hello-world.ts', 'hello-world-edge.ts']) {
  test(`${example}: the reference bytes to Node's http, raw net, Python and curl clients`, async (t) => {
    const { server, port } = await start(example)
    t.teardown(() => server.kill())
    t.is(await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n'), EXPECTED)
    t.is(await rawRequest(port, 'GET / HTTP/1.0\n\n'), EXPECTED, 'EOL1 (bare newlines) ends a request too')
    const body = await new Promise<string>((resolve, reject) => {
      http.get(`http://127.0.0.1:${port}/`, (res) => {
        t.is(res.statusCode, 200)
        let text = ''
        res.on('data', (c) => (text += c)).on('end', () => resolve(text))
      }).on('error', reject)
    })
    t.is(body, 'Hello, world!')
    const python = await run('python3', ['-c', [
      'import socket, sys',
      `s = socket.create_connection(("127.0.0.1", ${port}))`,
      's.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")',
      'data = b""',
      'while chunk := s.recv(1024): data += chunk',
      'sys.stdout.write(data.decode())',
    ].join('\n')], { timeout: 10_000 })
    t.is(python.stdout, EXPECTED)
    if (has('curl')) {
      const curl = await run('curl', ['-s', '-i', '--max-time', '5', `http://127.0.0.1:${port}/`])
      t.is(curl.stdout, EXPECTED)
    } else {
      t.log('curl is not installed: the curl client was not run')
    }
  })

  test(`${example}: a client that hangs up early does not stop or spin the server`, async (t) => {
    const { server, port } = await start(example)
    t.teardown(() => server.kill())
    const early = net.connect(port, '127.0.0.1', () => early.end('GET / HT')) // half a request, then EOF
    await once(early, 'finish')
    await sleep(300)
    const before = cpuTicks(server.pid!)
    await sleep(500)
    const spent = cpuTicks(server.pid!) - before
    t.true(spent < 15, `the server burned ${spent} clock ticks in 0.5 s idle: it spins`)
    t.is(await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n'), EXPECTED)
  })

  test(`${example}: a bounded wrk run on loopback sees no errors`, async (t) => {
    if (!has('wrk')) {
      t.log('wrk is not installed (.ci/run installs it): the load run was skipped')
      t.pass()
      return
    }
    const { server, port } = await start(example)
    t.teardown(() => server.kill())
    const wrk = await run('wrk', ['-t1', '-c16', '-d2s', '--timeout', '2s', `http://127.0.0.1:${port}/`], { timeout: 20_000 })
    t.log(wrk.stdout.trim().split('\n').filter((l) => /Requests\/sec|errors/.test(l)).join(' | '))
    const requests = Number(/(\d+) requests in/.exec(wrk.stdout)?.[1] ?? 0)
    t.true(requests > 100, wrk.stdout)
    t.notRegex(wrk.stdout, /Socket errors|Non-2xx/, wrk.stdout)
  })
}

test('npm start runs the hello-world server and prints its URL', async (t) => {
  const server = spawn('npm', ['start', '--silent'], { env: { ...process.env, PORT: '0' }, stdio: ['ignore', 'pipe', 'inherit'], detached: true })
  t.teardown(() => process.kill(-server.pid!))
  const [line] = await once(server.stdout!, 'data')
  const port = Number(/127\.0\.0\.1:(\d+)\//.exec(String(line))?.[1])
  t.true(port > 0, String(line))
  t.is(await rawRequest(port, 'GET / HTTP/1.0\r\n\r\n'), EXPECTED)
})
