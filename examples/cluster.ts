/**
 * Scaling past one core: WORKERS processes (default: one per CPU) each run
 * examples/hello-world-fast.ts on the same port with SO_REUSEPORT, and the kernel spreads
 * incoming connections across them. Each worker has its own Epoll; nothing is shared.
 * The port is reserved first by a bound (not listening) SO_REUSEPORT socket, so PORT=0 works.
 * Run: `node --import tsx examples/cluster.ts` (PORT=8080, WORKERS=2). Ctrl-C stops them all.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { AF_INET, SOCK_STREAM, SOL_SOCKET, SO_REUSEADDR, SO_REUSEPORT, Socket } from 'fdpoll'

const count = Number(process.env.WORKERS ?? os.availableParallelism())
const reservation = new Socket(AF_INET, SOCK_STREAM)
reservation.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1)
reservation.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1)
reservation.bind(['0.0.0.0', Number(process.env.PORT ?? 8080)])
const port = reservation.getsockname()[1]

const workers: ChildProcess[] = []
const stopAll = () => workers.forEach((worker) => worker.kill())
process.on('SIGINT', stopAll).on('SIGTERM', stopAll)
for (let i = 0; i < count; i++) {
  const worker = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'hello-world-fast.ts')], {
    env: { ...process.env, PORT: String(port), REUSE_PORT: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  workers.push(worker)
  worker.on('exit', stopAll) // one gone: stop the rest, and this process ends with them
}
// Each worker prints "Serving on ..." once it listens; then the reservation can go.
void Promise.all(workers.map((worker) => once(worker.stdout!, 'data'))).then(() => {
  reservation.close()
  console.log(`Serving on http://127.0.0.1:${port}/ with ${count} worker processes: ${workers.map((w) => w.pid).join(' ')}`)
})
