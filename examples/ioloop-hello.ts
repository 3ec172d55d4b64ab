/**
 * The "Hello, world!" server on IOLoop, inside an ordinary Node program: the loop runs on
 * Node's own event loop (`loop.start()`), so a `setInterval` keeps ticking and an `http.get`
 * from this same process is answered while the server runs. It prints one self-check line.
 * Run: `node --import tsx examples/ioloop-hello.ts` (PORT=8080).
 */
import http from 'node:http'
import { IOLoop, type Socket, createServer } from 'fdpoll'

const RESPONSE = Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!')
const loop = new IOLoop()
const server = createServer(['0.0.0.0', Number(process.env.PORT ?? 8080)])
server.setblocking(false)
const port = server.getsockname()[1]

/** Per connection: the request so far, then the response still to send. */
const requests = new Map<Socket, Buffer>()
const responses = new Map<Socket, Buffer>()

function onConnection(conn: Socket, events: number): void {
  if (events & IOLoop.READ) {
    const data = conn.recv(1024)
    if (data.length === 0) return hangUp(conn)
    const request = Buffer.concat([requests.get(conn)!, data])
    requests.set(conn, request)
    if (request.includes('\r\n\r\n') || request.includes('\n\n')) {
      responses.set(conn, RESPONSE)
      loop.updateHandler(conn, IOLoop.WRITE)
    }
  } else if (events & IOLoop.WRITE) {
    const rest = responses.get(conn)!.subarray(conn.send(responses.get(conn)!))
    responses.set(conn, rest)
    if (rest.length === 0) hangUp(conn)
  } else {
    hangUp(conn)
  }
}

function hangUp(conn: Socket): void {
  loop.removeHandler(conn)
  requests.delete(conn)
  responses.delete(conn)
  conn.close()
}

loop.addHandler(server, () => {
  const [conn] = server.accept()
  conn.setblocking(false)
  requests.set(conn, Buffer.alloc(0))
  loop.addHandler(conn, onConnection, IOLoop.READ)
}, IOLoop.READ)
console.log(`Serving on http://127.0.0.1:${port}/`)

// Node is not blocked: a timer ticks and an HTTP client in this process gets served.
let ticks = 0
setInterval(() => ticks++, 20).unref()
loop.callLater(0.2, () => {
  http.get(`http://127.0.0.1:${port}/`, (res) => {
    let body = ''
    res.on('data', (chunk) => (body += chunk)).on('end', () => console.log(`self-check: ${res.statusCode} ${body} (timer ticks so far: ${ticks})`))
  })
})
void loop.start()
