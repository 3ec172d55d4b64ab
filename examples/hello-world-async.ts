/**
 * The "Hello, world!" HTTP server of hello-world.ts written as coroutines, with keep-alive: one
 * async function per connection reads a request up to the blank line that ends it, EOL1 "\n\n" or
 * EOL2 "\n\r\n" as the original looks for (`await stream.readUntilRegex(END_OF_HEAD)`, Tornado's
 * IOStream), answers, and reads the next request on the same connection.
 * Run: `node --import tsx examples/hello-world-async.ts` (PORT=8080).
 *
 * The reply is hello-world.ts's, byte for byte, to an HTTP/1.0 request, after which the
 * connection closes, as HTTP/1.0 means; an HTTP/1.1 request gets the same headers and body
 * under "HTTP/1.1 200 OK" and the connection stays open for the next request (pipelined requests
 * are answered in order), unless it asks for "Connection: close". HTTP/1.0's keep-alive
 * extension is not offered. Unlike the original, it does not print each request: at tens of
 * thousands of requests a second, the printing would be the server's main work.
 * No client can stop or stall the server: a request past MAX_REQUEST is refused (the connection
 * closes), a connection's error or early hang-up ends its own task, which closes its socket, and
 * a failed accept (ECONNABORTED, or EMFILE, for which fdpoll has turned the client away) loses
 * that client alone.
 */
import {
  AF_INET, IOLoop, IOStream, OSError, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, Socket, StreamClosedError,
  UnsatisfiableReadError, setNoDelay,
} from 'fdpoll'

const HEADERS = 'Date: Mon, 1 Jan 1996 01:01:01 GMT\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!'
const RESPONSE_1_0 = Buffer.from(`HTTP/1.0 200 OK\r\n${HEADERS}`)
const RESPONSE_1_1 = Buffer.from(`HTTP/1.1 200 OK\r\n${HEADERS}`)
/** The end of a request's head: hello-world.ts's EOL1 or EOL2. */
const END_OF_HEAD = /\n\r?\n/
/** An HTTP/1.1 request line, the head's first. */
const HTTP_1_1 = /^[^\n]* HTTP\/1\.1\r?\n/
/** A "Connection: close" header line. */
const CONNECTION_CLOSE = /\nconnection:[ \t]*close[ \t]*\r?\n/i
/** The most a request's head may take (16 KiB, as Node's http takes of headers): a larger one is refused. */
const MAX_REQUEST = 16 * 1024

const loop = new IOLoop()

/** Serves one connection: request after request, until either side ends it. */
async function handle(conn: Socket): Promise<void> {
  const stream = new IOStream(conn, loop)
  try {
    setNoDelay(conn) // each reply goes out at once, even behind one not yet acknowledged (pipelining)
    while (true) {
      const head = (await stream.readUntilRegex(END_OF_HEAD, { maxBytes: MAX_REQUEST })).toString('latin1')
      const http11 = HTTP_1_1.test(head)
      await stream.write(http11 ? RESPONSE_1_1 : RESPONSE_1_0)
      if (!http11 || CONNECTION_CLOSE.test(head)) break // HTTP/1.0, or "Connection: close": the reply ends the connection
    }
  } catch (e) {
    // the peer gone (StreamClosedError), a request too large, a connection error: this client alone
    if (!(e instanceof StreamClosedError || e instanceof UnsatisfiableReadError || e instanceof OSError)) throw e
  } finally {
    stream.close()
  }
}

/** Accepts connections for ever, one task each. */
async function serve(server: Socket): Promise<void> {
  while (true) {
    try {
      const [conn] = await loop.sockAccept(server)
      loop.spawn(handle, conn)
    } catch (e) {
      if (!(e instanceof OSError)) throw e // ECONNABORTED, EMFILE: that client is lost, the server goes on
    }
  }
}

const server = new Socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(['0.0.0.0', Number(process.env.PORT ?? 8080)])
server.listen(1024)
server.setblocking(false)
console.log(`Serving on http://127.0.0.1:${server.getsockname()[1]}/`)
loop.spawn(serve, server)
void loop.start()
