/**
 * The floor under every row of bench/coroutines-idle.ts: N async functions shaped like
 * examples/echo-coroutines.ts's handler, each waiting in the least an awaitable receive can be
 * (a pending promise whose resolve function is kept), with no socket, no fd and no library. They
 * start 50 per turn of Node's loop, as a burst of accepts starts them. Prints this process's
 * VmRSS and RssAnon in KiB before they start and 300 ms after the last has started, as one JSON
 * line.
 * Run: node bench/servers/async-floor.js N
 */
const fs = require('node:fs')

const N = Number(process.argv[2])
const BATCH = 50
const SETTLE_MS = 300

/** VmRSS and RssAnon, in KiB. */
function sample() {
  const status = fs.readFileSync('/proc/self/status', 'utf8')
  return { rss: Number(/^VmRSS:\s+(\d+) kB/m.exec(status)[1]), anon: Number(/^RssAnon:\s+(\d+) kB/m.exec(status)[1]) }
}

/** What a receive gives a waiting coroutine: a promise, its resolve function kept on the connection. */
function recv(conn) {
  return new Promise((resolve) => { conn.resolve = resolve })
}

/** echo-coroutines' handler with the sockets taken out. */
async function handle(conn) {
  try {
    while (true) {
      const data = await recv(conn)
      if (data.length === 0) break
    }
  } finally {
    conn.closed = true
  }
}

const connections = []

function start(before) {
  let started = 0
  const batch = () => {
    for (let i = 0; i < BATCH && started < N; i++, started++) {
      const conn = { resolve: undefined, closed: false }
      connections.push(conn)
      void handle(conn)
    }
    if (started < N) setImmediate(batch)
    else setTimeout(() => console.log(JSON.stringify({ before, after: sample(), coroutines: connections.length })), SETTLE_MS)
  }
  batch()
}

setTimeout(() => start(sample()), SETTLE_MS)
