/**
 * The upper-casing echo server of echo-selectors.ts written as coroutines, the way gevent and
 * asyncio write it: one async function per connection, plain sequential code that waits on the
 * IOLoop whenever a socket would block (`await loop.sockRecv(...)`), and one more that accepts.
 * Run: `node --import tsx examples/echo-coroutines.ts` (PORT=8088), then e.g. `nc 127.0.0.1 8088`.
 * No client can stop or stall the server: a failed accept (ECONNABORTED, or EMFILE, for which
 * fdpoll has turned the client away) loses that client alone; a connection's error ends its own
 * task, which closes its socket; a client that does not read leaves its task waiting in
 * sockSendall (it reads nothing more from that client meanwhile) while the others are served.
 */
import { AF_INET, IOLoop, OSError, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, Socket } from 'fdpoll'

const loop = new IOLoop()

/** Echoes one connection, upper-cased, until the client closes it (or it fails). */
async function handle(conn: Socket): Promise<void> {
  try {
    while (true) {
      const data = await loop.sockRecv(conn, 1024)
      if (data.length === 0) break
      await loop.sockSendall(conn, upper(data))
    }
  } catch (e) {
    if (!(e instanceof OSError)) throw e // a connection error (ECONNRESET, EPIPE, ...) ends this client alone
  } finally {
    conn.close()
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

/** Python's bytes.upper(): ASCII letters only. */
function upper(data: Buffer): Buffer {
  return data.map((c) => (c >= 0x61 && c <= 0x7a ? c - 0x20 : c)) as Buffer
}

const server = new Socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(['127.0.0.1', Number(process.env.PORT ?? 8088)])
server.listen(5)
server.setblocking(false)
console.log(`Serving on tcp://127.0.0.1:${server.getsockname()[1]}`)
loop.spawn(serve, server)
void loop.start()
