/**
 * examples/echo-selectors.ts, the reference selectors echo server (DefaultSelector, callbacks in
 * the key's data), started as its own process and driven by real clients on loopback: Node's
 * net and Python's socket module.
 */
import test, { type ExecutionContext } from 'ava'
import { ChildProcess, execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync, readdirSync } from 'node:fs'
import net from 'node:net'
import { promisify } from 'node:util'

const run = promisify(execFile)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** User + system CPU time of a process, in clock ticks: fields 14 and 15 of /proc/PID/stat. */
const cpuTicks = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return Number(fields[11]) + Number(fields[12])
}
/** How many fds a process has open. */
const fdCount = (pid: number) => readdirSync(`/proc/${pid}/fd`).length

/** Rejects with `what` if `promise` has not settled within `ms`. */
function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

interface Server {
  process: ChildProcess
  port: number
  /** Everything the server wrote to stderr so far. */
  stderr: () => string
}

/**
 * Starts examples/echo-selectors.ts on a free port (PORT=0) and resolves once its first stdout
 * line names the port. The teardown kills it (SIGTERM, then SIGKILL) and waits for it to exit.
 */
async function start(t: ExecutionContext): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'examples/echo-selectors.ts'], {
    env: { ...process.env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  t.teardown(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 2000)
    await exited
    clearTimeout(timer)
  })
  let stdout = ''
  let stderr = ''
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const port = await within(10_000, 'echo-selectors.ts printing its address', new Promise<number>((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      const line = stdout.split('\n')
      if (line.length < 2) return
      const match = /^Serving on tcp:\/\/127\.0\.0\.1:(\d+)$/.exec(line[0])
      if (match) resolve(Number(match[1]))
      else reject(new Error(`unexpected first line: ${line[0]}`))
    })
    child.on('exit', (code, signal) => reject(new Error(`exited (${code ?? signal}) before listening: ${stderr}`)))
  }))
  t.true(port > 0 && port < 65536, `port ${port}`)
  return { process: child, port, stderr: () => stderr }
}

/** A connected net client. */
async function connect(port: number): Promise<net.Socket> {
  const sock = net.connect(port, '127.0.0.1')
  await within(5000, 'connect', once(sock, 'connect'))
  return sock
}

/** Writes `text` and resolves with the reply once as many bytes as were sent have come back. */
function exchange(sock: net.Socket, text: string | Buffer): Promise<Buffer> {
  const data = Buffer.from(text)
  const chunks: Buffer[] = []
  let got = 0
  return within(5000, `the reply to ${JSON.stringify(String(text).slice(0, 40))}`, new Promise<Buffer>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      chunks.push(chunk)
      got += chunk.length
      if (got < data.length) return
      sock.off('data', onData).off('error', reject)
      resolve(Buffer.concat(chunks))
    }
    sock.on('data', onData).on('error', reject)
    sock.write(data)
  }))
}

/** Sends `text` on a fresh connection, half-closes it, and resolves with everything until EOF. */
async function echo(port: number, text: string | Buffer): Promise<Buffer> {
  const sock = await connect(port)
  const chunks: Buffer[] = []
  sock.on('data', (c) => chunks.push(c))
  sock.end(text)
  await within(5000, 'the server closing after EOF', once(sock, 'end'))
  sock.destroy()
  return Buffer.concat(chunks)
}

/** Resolves once `check()` is true, or rejects after `ms`. */
async function until(ms: number, what: string, check: () => boolean): Promise<void> {
  const end = Date.now() + ms
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms: ${what}`)
    await sleep(20)
  }
}

const python = (port: number, payload: string) => run('python3', ['-c', [
  'import socket, sys',
  `s = socket.create_connection(("127.0.0.1", ${port}), timeout=5)`,
  `s.sendall(${payload})`,
  's.shutdown(socket.SHUT_WR)',
  'data = b""',
  'while chunk := s.recv(1024): data += chunk',
  'sys.stdout.buffer.write(data)',
].join('\n')], { timeout: 10_000, encoding: 'buffer' })

test('upper-cases for a net client, as bytes.upper() does (ASCII only), and closes at EOF', async (t) => {
  const server = await start(t)
  t.is((await echo(server.port, 'hello world')).toString(), 'HELLO WORLD')
  t.is((await echo(server.port, 'héllo wörld 123!')).toString(), 'HéLLO WöRLD 123!', 'only a-z change')
  const long = 'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(200) // 7200 bytes: several recv(1024)s
  t.is((await echo(server.port, long)).toString(), long.toUpperCase())
  t.is(server.stderr(), '')
})

test('upper-cases for a Python socket client', async (t) => {
  const { port } = await start(t)
  const { stdout } = await python(port, 'b"hello from python"')
  t.is(stdout.toString(), 'HELLO FROM PYTHON')
})

test('10 concurrent clients each get their own reply, twice on the same connections', async (t) => {
  const { port } = await start(t)
  // Connected one after the other: the example listens with a backlog of 5.
  const clients: net.Socket[] = []
  t.teardown(() => clients.forEach((c) => c.destroy()))
  for (let i = 0; i < 10; i++) clients.push(await connect(port))
  const replies = await Promise.all(clients.map((c, i) => exchange(c, `hello from client ${i}`)))
  t.deepEqual(replies.map(String), clients.map((_, i) => `HELLO FROM CLIENT ${i}`))
  const again = await Promise.all(clients.map((c, i) => exchange(c, `again ${i}`)))
  t.deepEqual(again.map(String), clients.map((_, i) => `AGAIN ${i}`))
})

test('clients that hang up or reset are unregistered and closed; the server goes on', async (t) => {
  const server = await start(t)
  const { port } = server
  t.is((await echo(port, 'warm up')).toString(), 'WARM UP')
  await sleep(100)
  const fds = fdCount(server.process.pid!)

  const quiet = await connect(port) // connects and hangs up without a word
  quiet.end()
  const reset = await connect(port) // sends, then resets the connection (ECONNRESET)
  reset.write('abc')
  await sleep(50)
  reset.resetAndDestroy()
  const other = await connect(port)
  t.teardown(() => other.destroy())
  t.is((await exchange(other, 'still there?')).toString(), 'STILL THERE?')
  t.is(server.process.exitCode, null)
  other.destroy()
  await until(3000, `the server closing its connections (${fds} fds before)`, () => fdCount(server.process.pid!) === fds)
  t.is(fdCount(server.process.pid!), fds)
  t.is(server.stderr(), '')
})

test.serial('idle when nobody talks: select() blocks', async (t) => {
  const server = await start(t)
  const client = await connect(server.port) // an open, silent connection as well
  t.teardown(() => client.destroy())
  t.is((await exchange(client, 'ping')).toString(), 'PING')
  await sleep(300)
  const before = cpuTicks(server.process.pid!)
  await sleep(500)
  const spent = cpuTicks(server.process.pid!) - before
  t.true(spent < 15, `the server burned ${spent} clock ticks in 0.5 s idle: it spins`)
})
