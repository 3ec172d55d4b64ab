/**
 * The O(n) vs O(ready) story, measured: the cost of one wait (timeout 0) with 10, 1,000 and
 * 10,000 idle fds registered and one ready, for select (only fds below FD_SETSIZE, 1024),
 * poll and epoll. select and poll hand the kernel the whole set on every call; epoll's
 * interest list is registered once, so a wait costs the same however many fds are idle.
 * Run: `node --import tsx examples/select-poll-epoll.ts` (`--quick` for short windows).
 */
import { AF_INET, EPOLLIN, Epoll, POLLIN, SOCK_DGRAM, Socket, poll, select, socketpair } from 'fdpoll'

const WINDOW_MS = process.argv.includes('--quick') ? 100 : 400
const SIZES = [10, 1_000, 10_000]
const FD_SETSIZE = 1024

/** Calls `wait` for WINDOW_MS and returns the mean cost of one call, in microseconds. */
function measure(wait: () => number): number {
  for (let i = 0; i < 200; i++) wait() // warm up
  let calls = 0
  const start = performance.now()
  while (performance.now() - start < WINDOW_MS) {
    for (let i = 0; i < 100; i++) if (wait() !== 1) throw new Error('expected exactly one ready fd')
    calls += 100
  }
  return ((performance.now() - start) * 1000) / calls
}

// Idle fds: unbound UDP sockets, never readable. The ready one: a socketpair end with data.
const [ready, writer] = socketpair()
writer.send(Buffer.from('x'))
const idle: Socket[] = []
const rows: string[] = []
for (const size of SIZES) {
  while (idle.length < size - 1) idle.push(new Socket(AF_INET, SOCK_DGRAM))
  const fds = [ready.fileno(), ...idle.slice(0, size - 1).map((s) => s.fileno())]

  const selectable = fds.filter((fd) => fd < FD_SETSIZE) // select(2) cannot take the others
  const selectUs = measure(() => select(selectable, [], [], 0)[0].length)

  const p = poll()
  for (const fd of fds) p.register(fd, POLLIN)
  const pollUs = measure(() => p.poll(0).length)

  const ep = new Epoll()
  for (const fd of fds) ep.register(fd, EPOLLIN)
  const out = new Int32Array(2)
  const epollUs = measure(() => ep.pollInto(out, 0))
  ep.close()

  const limited = selectable.length < fds.length ? ` (its limit: ${selectable.length} fds)` : ''
  rows.push(`| ${size.toLocaleString('en-US')} | ${selectUs.toFixed(2)}${limited} | ${pollUs.toFixed(2)} | ${epollUs.toFixed(2)} |`)
}
console.log(`${new Date().toISOString()} | node ${process.version} | one wait, timeout 0, one fd ready, µs per call`)
console.log('\n| registered fds | select | poll | epoll |\n|---:|---:|---:|---:|')
for (const row of rows) console.log(row)
for (const s of [...idle, ready, writer]) s.close()
