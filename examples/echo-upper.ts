/**
 * The selectors echo server of examples/echo-selectors.ts (every client gets back what it sends,
 * upper-cased), written straight on `Epoll` to show what a selector does underneath: the Map
 * `keys` (fd -> { sock, callback }) plays the part of SelectorKey, and the loop calls
 * `callback(sock, mask)` for each ready fd, as `key.data(key.fileobj, mask)` does in Python.
 * Run: `node --import tsx examples/echo-upper.ts` (PORT=8088), then e.g. `nc 127.0.0.1 8088`.
 * What the original lacks, as in examples/echo-selectors.ts: a failed accept (ECONNABORTED, or
 * EMFILE, for which fdpoll has turned the client away) loses that client alone; connections are
 * non-blocking (as in the Python docs' version of this server), so a client that does not read
 * cannot stall the others — its sendall throws BlockingIOError and, like any error, drops it;
 * and the reply goes out with sendall, not send.
 */
import {
  AF_INET, EPOLLIN, Epoll, OSError, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, Socket,
} from 'fdpoll'

type Callback = (sock: Socket, mask: number) => void

const sel = new Epoll()
const keys = new Map<number, { sock: Socket; callback: Callback }>()

function register(sock: Socket, callback: Callback): void {
  sel.register(sock.fileno(), EPOLLIN)
  keys.set(sock.fileno(), { sock, callback })
}

function unregister(sock: Socket): void {
  sel.unregister(sock.fileno())
  keys.delete(sock.fileno())
}

/** Python's bytes.upper(): a-z become A-Z, every other byte is left alone. */
function upper(data: Buffer): Buffer {
  const out = Buffer.from(data)
  for (let i = 0; i < out.length; i++) if (out[i] >= 0x61 && out[i] <= 0x7a) out[i] -= 0x20
  return out
}

function accept(server: Socket, _mask: number): void {
  let conn: Socket
  try {
    [conn] = server.accept()
  } catch (e) {
    if (e instanceof OSError) return // not in the original
    throw e
  }
  conn.setblocking(false)
  register(conn, read)
}

function read(conn: Socket, _mask: number): void {
  try {
    const data = conn.recv(1024)
    if (data.length === 0) {
      unregister(conn); conn.close(); return
    }
    conn.sendall(upper(data))
  } catch {
    unregister(conn); conn.close()
  }
}

const server = new Socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(['127.0.0.1', Number(process.env.PORT ?? 8088)])
server.listen(5)
server.setblocking(false)
console.log(`Serving on tcp://127.0.0.1:${server.getsockname()[1]}`)
register(server, accept)
while (true) {
  for (const [fd, mask] of sel.poll()) {
    const key = keys.get(fd)!
    key.callback(key.sock, mask)
  }
}
