/**
 * The O(ready) claim, measured: the cost of `pollInto(out, 0)` with 10 ready fds among 100
 * registered, and among 15,000 (idle unbound UDP sockets; the ready ones are socketpairs with
 * unread data). Median of 5 runs of 50,000 calls each.
 * Run: `node --import tsx bench/poll-ready.ts`.
 */
import { AF_INET, EPOLLIN, Epoll, SOCK_DGRAM, Socket, socketpair } from 'fdpoll'

const READY = 10
const SIZES = [100, 15_000]
const ready = Array.from({ length: READY }, () => socketpair())
for (const [, writer] of ready) writer.send(Buffer.from('x'))
const idle: Socket[] = []

/** Median ns per `pollInto(out, 0)` with `registered` fds of which READY are ready. */
function cost(registered: number): number {
  while (idle.length < registered - READY) idle.push(new Socket(AF_INET, SOCK_DGRAM))
  const ep = new Epoll()
  for (const [reader] of ready) ep.register(reader, EPOLLIN)
  for (const sock of idle.slice(0, registered - READY)) ep.register(sock, EPOLLIN)
  const out = new Int32Array(64)
  for (let i = 0; i < 20_000; i++) ep.pollInto(out, 0) // warm up
  const runs: number[] = []
  for (let run = 0; run < 5; run++) {
    const start = process.hrtime.bigint()
    for (let i = 0; i < 50_000; i++) if (ep.pollInto(out, 0) !== READY) throw new Error(`expected ${READY} ready fds`)
    runs.push(Number(process.hrtime.bigint() - start) / 50_000)
  }
  ep.close()
  return runs.sort((a, b) => a - b)[2]
}

const costs = SIZES.map(cost)
console.log(`${new Date().toISOString()} | node ${process.version} | pollInto(out, 0), ${READY} fds ready\n`)
console.log('| registered fds | ns per call | vs 100 registered |\n|---:|---:|---:|')
SIZES.forEach((size, i) => console.log(`| ${size.toLocaleString('en-US')} | ${costs[i].toFixed(0)} | ${(costs[i] / costs[0]).toFixed(2)}× |`))
for (const sock of [...idle, ...ready.flat()]) sock.close()
