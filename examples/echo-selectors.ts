/**
 * The classic `selectors` echo server (the example of Python's `selectors` documentation, in the
 * variant that upper-cases what it receives), line for line as the Python version reads.
 * Run: `node --import tsx examples/echo-selectors.ts` (PORT=8088), then e.g. `nc 127.0.0.1 8088`.
 * What the original lacks, so that no client can stop or stall the server: a failed accept
 * (ECONNABORTED, or EMFILE, for which fdpoll has turned the client away) loses that client
 * alone; connections are non-blocking (as in the Python docs' own version), so a client that
 * does not read cannot block the server in send — the reply goes out with sendall, which then
 * throws BlockingIOError and, like any error, drops that client.
 */
import {
  AF_INET, DefaultSelector, EVENT_READ, OSError, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, Socket,
} from 'fdpoll'

type Callback = (sock: Socket, mask: number) => void
const sel = new DefaultSelector<Callback>()

function accept(server: Socket, _mask: number): void {
  let conn: Socket
  try {
    [conn] = server.accept()
  } catch (e) {
    if (e instanceof OSError) return // not in the original
    throw e
  }
  conn.setblocking(false) // not in the original
  sel.register(conn, EVENT_READ, read)
}

function read(conn: Socket, _mask: number): void {
  try {
    const data = conn.recv(1024)
    if (data.length === 0) {
      sel.unregister(conn)
      conn.close()
      return
    }
    conn.sendall(upper(data))
  } catch {
    sel.unregister(conn)
    conn.close()
  }
}

/** Python's bytes.upper(): ASCII letters only. */
function upper(data: Buffer): Buffer {
  return data.map((c) => (c >= 0x61 && c <= 0x7a ? c - 0x20 : c)) as Buffer
}

const server = new Socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(['127.0.0.1', Number(process.env.PORT ?? 8088)])
server.listen(5)
server.setblocking(false)
sel.register(server, EVENT_READ, accept)
console.log(`Serving on tcp://127.0.0.1:${server.getsockname()[1]}`)
while (true) {
  for (const [key, mask] of sel.select()) {
    key.data(key.fileobj as Socket, mask)
  }
}
