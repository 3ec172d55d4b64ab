/**
 * Non-blocking polling without a multiplexer, the classic I/O-models server that comes before
 * select/poll/epoll: the listener and every connection are non-blocking, and one loop keeps
 * trying accept() and recv() on all of them, catching the BlockingIOError each throws when
 * nothing is ready. It serves the same protocol as examples/echo-upper.ts (each client gets
 * back what it sends, upper-cased), but the loop never sleeps: it spins and burns a whole core
 * even when nobody is connected. That waste is what select/poll/epoll exist to avoid, and this
 * server shows it: about once a second it prints to stderr `loop passes/s: N, CPU: X% of a
 * core` (process.cpuUsage() over wall time).
 * Run: `node --import tsx examples/nonblocking-polling.ts` (PORT=8088) and stop it with Ctrl-C
 * or SIGTERM (the loop never yields to Node's event loop, so no JS signal handler could run; the
 * default action ends it), or set RUN_SECONDS=N to make it close its sockets and exit after N s.
 */
import {
  AF_INET, BlockingIOError, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, Socket,
} from 'fdpoll'

/** Python's bytes.upper(): a-z become A-Z, every other byte is left alone. */
function upper(data: Buffer): Buffer {
  const out = Buffer.from(data)
  for (let i = 0; i < out.length; i++) if (out[i] >= 0x61 && out[i] <= 0x7a) out[i] -= 0x20
  return out
}

const runSeconds = process.env.RUN_SECONDS ? Number(process.env.RUN_SECONDS) : Infinity
if (!(runSeconds > 0)) throw new RangeError(`RUN_SECONDS must be a positive number of seconds, got ${process.env.RUN_SECONDS}`)
const deadline = performance.now() + runSeconds * 1000

const server = new Socket(AF_INET, SOCK_STREAM)
server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
server.bind(['127.0.0.1', Number(process.env.PORT ?? 8088)])
server.listen(5)
server.setblocking(false)
console.log(`Serving on tcp://127.0.0.1:${server.getsockname()[1]}`)

const connections = new Set<Socket>()
const drop = (conn: Socket) => {
  connections.delete(conn); conn.close()
}
let passes = 0
let since = performance.now()
let cpuSince = process.cpuUsage()
try {
  while (performance.now() < deadline) {
    try {
      const [conn] = server.accept()
      conn.setblocking(false)
      connections.add(conn)
    } catch (e) {
      if (!(e instanceof BlockingIOError)) throw e
    }
    for (const conn of connections) {
      let data: Buffer
      try {
        data = conn.recv(1024)
      } catch (e) {
        if (!(e instanceof BlockingIOError)) drop(conn) // reset by the peer
        continue // BlockingIOError: nothing to read yet, try the next one
      }
      if (data.length === 0) {
        drop(conn); continue
      }
      try {
        conn.sendall(upper(data))
      } catch {
        drop(conn) // gone, or not reading its replies (sendall threw BlockingIOError)
      }
    }

    passes++
    const now = performance.now()
    if (now - since >= 1000) {
      const cpu = process.cpuUsage(cpuSince) // microseconds of user + system time since `since`
      const percent = (cpu.user + cpu.system) / 10 / (now - since)
      console.error(`loop passes/s: ${Math.round(passes * 1000 / (now - since))}, CPU: ${percent.toFixed(0)}% of a core`)
      passes = 0
      since = now
      cpuSince = process.cpuUsage()
    }
  }
} finally {
  for (const conn of connections) conn.close()
  server.close()
}
