/**
 * The edge-triggered variant of the classic epoll "Hello, world!" server: every fd is
 * registered with EPOLLET, so each event is told once and every handler drains its fd —
 * accept(), recv() and send() loop until they throw BlockingIOError (EAGAIN).
 * Run: `node --import tsx examples/hello-world-edge.ts` (PORT=8080).
 * What the original lacks, as in examples/hello-world.ts: a request past MAX_REQUEST is refused,
 * and one connection's failure (ECONNRESET, EPIPE, ENOTCONN, ...) closes that connection alone,
 * as a failed accept (ECONNABORTED, or EMFILE, for which fdpoll has turned the clients then
 * waiting away) loses those clients alone.
 */
import {
  AF_INET, BlockingIOError, EPOLLET, EPOLLHUP, EPOLLIN, EPOLLOUT, Epoll, OSError, SHUT_RDWR, SOCK_STREAM,
  SOL_SOCKET, SO_REUSEADDR, Socket,
} from 'fdpoll'

const EOL1 = Buffer.from('\n\n')
const EOL2 = Buffer.from('\n\r\n')
let response = 'HTTP/1.0 200 OK\r\nDate: Mon, 1 Jan 1996 01:01:01 GMT\r\n'
response += 'Content-Type: text/plain\r\nContent-Length: 13\r\n\r\n'
response += 'Hello, world!'
/** Not in the original: the most a request may take (16 KiB, as Node's http takes of headers). */
const MAX_REQUEST = 16 * 1024

const serversocket = new Socket(AF_INET, SOCK_STREAM)
serversocket.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
serversocket.bind(['0.0.0.0', Number(process.env.PORT ?? 8080)])
serversocket.listen(1)
serversocket.setblocking(false)
console.log(`Serving on http://127.0.0.1:${serversocket.getsockname()[1]}/`)

const epoll = new Epoll()
epoll.register(serversocket.fileno(), EPOLLIN | EPOLLET)
try {
  const connections = new Map<number, Socket>()
  const requests = new Map<number, Buffer>()
  const responses = new Map<number, Buffer>()
  const hangUp = (fileno: number) => {
    epoll.unregister(fileno)
    connections.get(fileno)!.close()
    connections.delete(fileno)
    requests.delete(fileno)
    responses.delete(fileno)
  }
  while (true) {
    const events = epoll.poll(1)
    for (const [fileno, event] of events) {
      try {
        if (fileno === serversocket.fileno()) {
          try {
            while (true) {
              const [connection] = serversocket.accept()
              connection.setblocking(false)
              epoll.register(connection.fileno(), EPOLLIN | EPOLLET)
              connections.set(connection.fileno(), connection)
              requests.set(connection.fileno(), Buffer.alloc(0))
              responses.set(connection.fileno(), Buffer.from(response))
            }
          } catch (e) {
            if (!(e instanceof BlockingIOError)) throw e
          }
        } else if (event & EPOLLIN) {
          let closed = false
          try {
            while (requests.get(fileno)!.length <= MAX_REQUEST) { // the original reads without a limit
              const data = connections.get(fileno)!.recv(1024)
              if (data.length === 0) {
                closed = true
                break
              }
              requests.set(fileno, Buffer.concat([requests.get(fileno)!, data]))
            }
          } catch (e) {
            if (!(e instanceof BlockingIOError)) throw e
          }
          if (requests.get(fileno)!.length > MAX_REQUEST) {
            hangUp(fileno) // not in the original
          } else if (requests.get(fileno)!.includes(EOL1) || requests.get(fileno)!.includes(EOL2)) {
            epoll.modify(fileno, EPOLLOUT | EPOLLET)
            console.log('-'.repeat(40) + '\n' + requests.get(fileno)!.toString().slice(0, -2))
          } else if (closed) {
            hangUp(fileno)
          }
        } else if (event & EPOLLOUT) {
          try {
            while (responses.get(fileno)!.length > 0) {
              const byteswritten = connections.get(fileno)!.send(responses.get(fileno)!)
              responses.set(fileno, responses.get(fileno)!.subarray(byteswritten))
            }
          } catch (e) {
            if (!(e instanceof BlockingIOError)) throw e
          }
          if (responses.get(fileno)!.length === 0) {
            epoll.modify(fileno, EPOLLET)
            connections.get(fileno)!.shutdown(SHUT_RDWR)
          }
        } else if (event & EPOLLHUP) {
          hangUp(fileno)
        }
      } catch (e) {
        // Not in the original: an OS error loses one client, never the server.
        if (!(e instanceof OSError)) throw e
        if (fileno !== serversocket.fileno()) hangUp(fileno)
      }
    }
  }
} finally {
  epoll.unregister(serversocket.fileno())
  epoll.close()
  serversocket.close()
}
