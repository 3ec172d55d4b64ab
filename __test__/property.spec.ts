/**
 * Property tests over the public API (fast-check): random call sequences with random arguments
 * on Epoll, Socket, the selectors, Poll/select and IOLoop. Each group runs in a child process
 * (fixtures/api-properties.ts, which documents the properties), so that a crash, an abort or a
 * hang is this test's failure, reported with the seed that replays it, instead of ava's death.
 * Below them, the bugs the runs found, each as a plain regression test.
 */
import test from 'ava'
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import {
  AF_INET, AF_UNIX, BrokenPipeError, DefaultSelector, Epoll, IOLoop, KeyError, OSError, SHUT_WR, SOCK_STREAM, Socket, backend, errno,
  osError, select, socketpair,
} from '../src/index.js'
import { pair, testIf } from './helpers.js'
import { LINUX, unusedFd } from './inspect.js'

/** The fast-check seed; set FDPOLL_FC_SEED to replay another run. */
const SEED = Number(process.env.FDPOLL_FC_SEED ?? 20261202)
/** Call sequences per group (of 10 to 60 calls each). */
const RUNS = Number(process.env.FDPOLL_FC_RUNS ?? 100)
/** A group that has not finished by then hangs. */
const DEADLINE_MS = 45_000

interface Outcome {
  ok: boolean
  runs: number
  calls: number
  /** Per method: calls that returned / calls made. */
  returned?: string
  message?: string
}

/**
 * Runs one group's properties in a child; resolves with its outcome, or why it gave none, with
 * the last calls it made and the end of its stderr.
 */
function runGroup(group: string): Promise<{ outcome?: Outcome; why?: string; trace: string }> {
  const script = path.join(__dirname, 'fixtures', 'api-properties.ts')
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-prop-trace-'))
  const traceFile = path.join(dir, 'calls')
  const args = ['--import=tsx', script, group, String(SEED), String(RUNS), traceFile]
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (chunk) => (stdout += chunk))
  child.stderr.on('data', (chunk) => (stderr = (stderr + chunk).slice(-2000)))
  const timer = setTimeout(() => child.kill('SIGKILL'), DEADLINE_MS)
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      const last = stdout.trim().split('\n').pop() ?? ''
      let outcome: Outcome | undefined
      try {
        outcome = JSON.parse(last)
      } catch {}
      // A result is not enough: the child must also exit cleanly (it once aborted at exit).
      const why = signal === 'SIGKILL' ? `it hung: no result after ${DEADLINE_MS / 1000} s`
        : signal !== null || (code !== 0 && !(code === 1 && outcome?.ok === false)) ? `it crashed (exit code ${code}, signal ${signal})`
        : undefined
      const calls = fs.existsSync(traceFile) ? fs.readFileSync(traceFile, 'utf8').trimEnd().split('\n').slice(-8).join('\n') : ''
      fs.rmSync(dir, { recursive: true, force: true })
      resolve({ outcome, why, trace: `${calls}\nstderr: ${stderr}` })
    })
  })
}

for (const group of ['epoll', 'socket', 'selectors', 'select', 'ioloop']) {
  testIf(LINUX && backend === 'epoll', 'the checks read the kernel\'s interest lists from /proc/self/fdinfo')(
    `${group}: random calls throw only documented errors, never crash, leak no fd and keep to the kernel's interest lists`,
    async (t) => {
      t.timeout(DEADLINE_MS + 5000)
      const { outcome, why, trace } = await runGroup(group)
      const replay = `replay: node --import tsx __test__/fixtures/api-properties.ts ${group} ${SEED} ${RUNS} /tmp/calls`
      if (outcome === undefined || why !== undefined) return t.fail(`${group}: ${why ?? 'no result'}; its last calls:\n${trace}\n${replay}`)
      t.log(`${outcome.runs} sequences, ${outcome.calls} calls; returned/made: ${outcome.returned}`)
      t.true(outcome.ok, `${outcome.message}\n${replay}`)
      t.true(outcome.calls >= RUNS * 10, 'every sequence makes at least 10 calls')
    },
  )
}

// What the property runs found, as regressions.

test('an int argument beyond a C int is a RangeError, not a wrapped value (shutdown(2**32 + 1) shut down writing)', (t) => {
  const [a, b] = pair(t)
  t.throws(() => a.shutdown(2 ** 32 + SHUT_WR), { instanceOf: RangeError })
  t.is(a.send(Buffer.from('x')), 1, 'the socket can still send')
  t.is(b.recv(1).toString(), 'x')
  t.throws(() => a.send(Buffer.from('x'), 2 ** 32), { instanceOf: RangeError })
  t.throws(() => a.setsockopt(1, 2 ** 32 + 2, 1), { instanceOf: RangeError })
  t.throws(() => a.setsockopt(1, 2, 2 ** 32), { instanceOf: RangeError })
  t.throws(() => socketpair(2 ** 32 + 1), { instanceOf: RangeError })
  t.throws(() => new Socket(2 ** 32 + 2), { instanceOf: RangeError })
  t.throws(() => a.getsockopt(1, 2, 2 ** 31 - 1), { instanceOf: RangeError }, 'Python refuses a buflen over 1024')
})

test('Socket(family, type, proto, fileno) checks that fileno is an open socket, as Python does, instead of owning any fd', (t) => {
  using ep = new Epoll() // an fd that is no socket, on every backend
  t.throws(() => new Socket(AF_INET, SOCK_STREAM, 0, ep.fileno()), { instanceOf: OSError, code: 'ENOTSOCK' })
  t.throws(() => new Socket(AF_INET, SOCK_STREAM, 0, unusedFd()), { instanceOf: OSError, code: 'EBADF' })
  t.deepEqual(ep.poll(0), [], 'the Epoll is still open: the failed Socket did not take it')
  const [a] = pair(t)
  const wrapped = new Socket(AF_UNIX, SOCK_STREAM, 0, a.detach())
  t.is(wrapped.type, SOCK_STREAM)
  wrapped.close()
})

test('setsockopt and getsockopt check level and optname: a TypeError, not the binding\'s conversion Error', (t) => {
  const [a] = pair(t)
  t.throws(() => a.setsockopt({} as number, 2, 1), { instanceOf: TypeError, message: /level/ })
  t.throws(() => a.getsockopt(1, 'x' as unknown as number), { instanceOf: TypeError, message: /optname/ })
})

test('errno codes missing from Node\'s table get libuv\'s name: ESHUTDOWN is a BrokenPipeError, as in Python', (t) => {
  const e = osError(108, 'send') // ESHUTDOWN on Linux; other platforms number it differently
  if (LINUX) {
    t.true(e instanceof BrokenPipeError)
    t.is(e.code, 'ESHUTDOWN')
    t.is(osError(94, 'socket').code, 'ESOCKTNOSUPPORT')
  }
  t.is(osError(errno.EPIPE, 'send').code, 'EPIPE')
})

test('wrong types get fdpoll\'s own TypeError, not the engine\'s (select lists, selector timeouts, IOLoop arguments)', (t) => {
  const engine = /is not iterable|Cannot read properties|Cannot mix BigInt|Cannot convert|is not a function/
  const ownTypeError = (fn: () => unknown) => {
    const e = t.throws(fn, { instanceOf: TypeError })
    t.notRegex(e?.message ?? '', engine)
  }
  ownTypeError(() => select(5 as unknown as number[], [], [], 0))
  using sel = new DefaultSelector()
  ownTypeError(() => sel.select(10n as unknown as number))
  using loop = new IOLoop()
  ownTypeError(() => loop.addCallback(undefined as unknown as () => void))
  ownTypeError(() => loop.callLater(10n as unknown as number, () => {}))
  ownTypeError(() => loop.callAt(1, 'x' as unknown as () => void))
  ownTypeError(() => loop.removeTimeout(undefined as never))
  const [a] = pair(t)
  ownTypeError(() => loop.addHandler(a, () => {}, Symbol('s') as unknown as number))
  ownTypeError(() => loop.addHandler(a, 'x' as never, IOLoop.READ))
  t.notThrows(() => loop.close(null))
})

test('a selector\'s Invalid events error names a value it cannot print by its type', (t) => {
  using sel = new DefaultSelector()
  const [a] = pair(t)
  t.throws(() => sel.register(a, [Symbol('s')] as unknown as number), { instanceOf: Error, code: 'ERR_INVALID_EVENTS', message: 'Invalid events: object' })
  t.throws(() => sel.getKey(a), { instanceOf: KeyError }, 'and the key was not kept')
})
