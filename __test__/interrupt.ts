/**
 * The EINTR tests' signal: sent to this process by another one at a set moment while this one is
 * blocked in a wait, with the moment it really went, so that a test can check it came inside
 * the wait instead of passing with a signal that arrived late.
 */
import type { ExecutionContext } from 'ava'
import { spawn } from 'node:child_process'
import { once } from 'node:events'

/** Reads process.hrtime's clock (CLOCK_MONOTONIC on Linux) in Python: the same clock, in ns. */
const SCRIPT = `
import os, signal, sys, time
print('ready', flush=True)
at = int(sys.stdin.readline())
while (left := at - time.monotonic_ns()) > 0: time.sleep(left / 1e9)
sent = time.monotonic_ns()
os.kill(os.getppid(), signal.SIGUSR2)
print(sent, flush=True)
`

/** A signaller started by `signaller`: `sendAfter(ms)` arms it; `sent` is when SIGUSR2 went. */
export interface Signaller {
  /** Has SIGUSR2 sent `ms` from now; returns at once (before the caller blocks). */
  sendAfter(ms: number): void
  /** When the signal was sent, in process.hrtime.bigint() nanoseconds. */
  readonly sent: Promise<bigint>
}

/**
 * A python3 child, running and waiting, that sends this process one SIGUSR2 when armed (the
 * caller must listen for SIGUSR2 first: its default action ends the process). Killed at teardown.
 */
export async function signaller(t: ExecutionContext): Promise<Signaller> {
  const child = spawn('python3', ['-c', SCRIPT], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => child.kill('SIGKILL'))
  let out = ''
  const lines = new Promise<string[]>((resolve, reject) => {
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk
      const got = out.split('\n').slice(0, -1)
      if (got.length === 2) resolve(got)
    })
    child.on('exit', (code) => reject(new Error(`the signaller exited (${code}) having printed ${JSON.stringify(out)}`)))
  })
  await once(child.stdout, 'data', { signal: AbortSignal.timeout(10_000) }) // 'ready'
  const sent = lines.then(([, at]) => BigInt(at))
  sent.catch(() => {}) // a test that fails before awaiting it gets its own error, not this one
  return {
    // A pipe write with nothing queued goes out at once, before the caller blocks.
    sendAfter: (ms) => child.stdin.write(`${process.hrtime.bigint() + BigInt(Math.round(ms * 1e6))}\n`),
    sent,
  }
}

/**
 * Asserts that a signal sent at `sent` came inside the blocking call that ran from `start` to
 * `end` (process.hrtime.bigint() ns), at least 100 ms from either end, so that the call was
 * blocked when it came: a signal sent to a blocked process goes to its blocked main thread, and
 * so interrupts the wait (EINTR). Returns when it came, in ms after `start`.
 */
export function cameDuring(t: ExecutionContext, sent: bigint, start: bigint, end: bigint): number {
  const at = Number(sent - start) / 1e6
  const total = Number(end - start) / 1e6
  t.true(at >= 100 && at <= total - 100, `the signal came ${at} ms into a wait of ${total} ms: not inside it`)
  return at
}
