/**
 * gevent's demo: fetch several pages one after another, then all at once as tasks
 * (`loop.spawn`, `joinAll`), and print both times: the first is about the sum of the pages'
 * delays, the second about the slowest one. Each fetch is plain sequential code on fdpoll client
 * sockets (`sockConnect`, `sockSendall`, `sockRecv` until the server closes) that waits on the
 * IOLoop whenever a socket would block, as gevent's patched sockets do.
 * There is no internet here: the program starts its own slow HTTP server (node:http, in this
 * same process: the IOLoop runs on Node's event loop beside it) whose every page takes DELAY
 * seconds to answer. Run: `node --import tsx examples/gevent-fetch.ts` (PAGES=5, DELAY=0.2).
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { AF_INET, IOLoop, SOCK_STREAM, Socket, joinAll } from 'fdpoll'

const PAGES = Number(process.env.PAGES ?? 5)
const DELAY = Number(process.env.DELAY ?? 0.2) // seconds

/** Page i (from 1) holds i × 1000 bytes, sent after DELAY seconds. */
const slow = http.createServer((req, res) => {
  const i = Number(/^\/page(\d+)$/.exec(req.url ?? '')?.[1] ?? 0)
  setTimeout(() => res.end('x'.repeat(i * 1000)), DELAY * 1000)
})

const loop = new IOLoop()

/** GETs `url` (http://127.0.0.1:PORT/PATH) over an fdpoll socket: resolves with the body. */
async function urlopen(url: string): Promise<Buffer> {
  const { hostname, port, pathname } = new URL(url)
  const sock = new Socket(AF_INET, SOCK_STREAM)
  try {
    sock.setblocking(false)
    await loop.sockConnect(sock, [hostname, Number(port)])
    await loop.sockSendall(sock, Buffer.from(`GET ${pathname} HTTP/1.0\r\nHost: ${hostname}:${port}\r\n\r\n`))
    const chunks: Buffer[] = []
    for (let chunk = await loop.sockRecv(sock, 65536); chunk.length > 0; chunk = await loop.sockRecv(sock, 65536)) chunks.push(chunk)
    const response = Buffer.concat(chunks)
    const end = response.indexOf('\r\n\r\n')
    if (!response.subarray(0, 13).equals(Buffer.from('HTTP/1.1 200 ')) || end < 0) throw new Error(`${url}: not a 200 response`)
    return response.subarray(end + 4)
  } finally {
    sock.close()
  }
}

async function fetch(url: string): Promise<void> {
  console.log('GET', url)
  const data = await urlopen(url)
  console.log(`${data.length} bytes received from ${url}`)
}

async function main(): Promise<void> {
  await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
  const { port } = slow.address() as AddressInfo
  const urls = Array.from({ length: PAGES }, (_, i) => `http://127.0.0.1:${port}/page${i + 1}`)
  void loop.start()

  let started = performance.now()
  for (const url of urls) await fetch(url)
  const sequential = (performance.now() - started) / 1000
  console.log(`sequential: ${sequential.toFixed(3)} s`)

  started = performance.now()
  const tasks = urls.map((url) => loop.spawn(fetch, url))
  await joinAll(tasks)
  const concurrent = (performance.now() - started) / 1000
  for (const task of tasks) if (!task.successful()) throw task.exception
  console.log(`concurrent: ${concurrent.toFixed(3)} s`)

  loop.close()
  slow.close()
}

main().catch((e) => {
  console.error(e)
  process.exitCode = 1
  loop.close()
  slow.close()
})
