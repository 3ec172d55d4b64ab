/**
 * The "Hello, world!" server on IOLoop, inside an ordinary Node program: the loop runs on
 * Node's own event loop (`loop.start()`), so a `setInterval` keeps ticking and an `http.get`
 * from this same process is answered while the server runs. It prints one self-check line.
 * Run: `node --import tsx examples/ioloop-hello.ts` (PORT=8080).
 */
import http from 'node:http'
import { IOLoop, type Socket, createServer } from 'fdpoll'

const RESPONSE = Buffer.from('HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!')
/** The most a request may take (16 KiB, as Node's http takes of headers): a larger one is refused. */
const MAX_REQUEST = 16 * 1024
const loop = new IOLoop()
const server = createServer(['0.0.0.0', Number(process.env.PORT ?? 8080)])
server.setblocking(false)
const port = server.getsockname()[1]

/**
 * Serves one connection: reads a request, sends the response, closes. Its state lives in this
 * closure, so nothing outlives the connection. A client that resets makes recv or send throw
 * (ECONNRESET, EPIPE): the IOLoop then closes the connection and removes its handler itself.
 */
function serve(conn: Socket): void {
  let request = Buffer.alloc(0)
  let response = RESPONSE
  const hangUp = () => {
    loop.removeHandler(conn)
    conn.close()
  }
  conn.setblocking(false)
  loop.addHandler(conn, (_conn, events) => {
    if (events & IOLoop.READ) {
      const data = conn.recv(1024)
      request = Buffer.concat([request, data])
      if (data.length === 0 || request.length > MAX_REQUEST) hangUp() // gone, or asking too much
      else if (request.includes('\r\n\r\n') || request.includes('\n\n')) loop.updateHandler(conn, IOLoop.WRITE)
    } else if (events & IOLoop.WRITE) {
      response = response.subarray(conn.send(response))
      if (response.length === 0) hangUp()
    } else {
      hangUp()
    }
  }, IOLoop.READ)
}

// accept() errors (ECONNABORTED; EMFILE, for which fdpoll has turned the client away) go to
// loop.onError, which logs them, and the loop goes on.
loop.addHandler(server, () => serve(server.accept()[0]), IOLoop.READ)
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
