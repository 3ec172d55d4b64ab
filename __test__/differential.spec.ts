/**
 * Differential test against CPython: random programs of epoll operations on pipes, socketpairs,
 * regular files and bad fds run by Python's `select.epoll` (fixtures/epoll_program.py) and by
 * fdpoll's Epoll; every result, event mask and error class (with its errno) must match.
 *
 * A program is data: a setup (pipes, socketpairs, files and epolls made with random sizehint and
 * flags), then operations on the handles it made. Setup makes every fd a program uses, so that
 * no fd number is reused once a handle is closed: a closed handle's number stays a bad fd on
 * both sides. Errors compare as ['TypeError'], ['ValueError'] (Python's ValueError and
 * OverflowError; fdpoll's RangeError and ValueError) or [class name, errno] for an OSError.
 */
import test from 'ava'
import fc from 'fast-check'
import { type ChildProcess, execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'

import {
  EPOLL_CLOEXEC, EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLMSG, EPOLLONESHOT, EPOLLOUT, EPOLLPRI,
  EPOLLRDBAND, EPOLLRDHUP, EPOLLRDNORM, EPOLLWRBAND, EPOLLWRNORM, Epoll, OSError, SOCK_DGRAM, SOCK_STREAM, AF_UNIX,
  Socket, backend, osError, socketpair,
} from '../src/index.js'
import { WASM, testIf } from './helpers.js'
import { LINUX } from './inspect.js'

/** The fast-check seed; set FDPOLL_FC_SEED to replay another run. */
const SEED = Number(process.env.FDPOLL_FC_SEED ?? 20261202)
/** Why the comparison runs on the epoll backend only. */
const NOT_EPOLL = WASM
  ? "the programs use OS pipes, regular files and Unix datagram pairs, which the WebAssembly backend's engine cannot watch, and read readiness right after a write, before its host delivers the data"
  : 'select.epoll exists on Linux only, and mio is not epoll'
/** How many programs a run checks, and the most operations in one. */
const PROGRAMS = 300
const MAX_OPS = 20

type Setup =
  | { kind: 'pipe' }
  | { kind: 'socketpair'; dgram: boolean }
  | { kind: 'file' }
  | { kind: 'epoll'; sizehint: number; flags: number }
/** An fd argument: a handle's fd number (or, for a socket or epoll, the object), or a raw value. */
type Target = { handle: number; object: boolean } | { raw: number | string | null }
type Op =
  | { op: 'register'; handle: number; target: Target; mask?: number }
  | { op: 'modify'; handle: number; target: Target; mask: number }
  | { op: 'unregister'; handle: number; target: Target }
  | { op: 'poll'; handle: number; maxevents: number }
  | { op: 'close'; handle: number }
  | { op: 'write'; handle: number; size: number }
  | { op: 'drain'; handle: number }
  | { op: 'shutdown'; handle: number; how: number }
interface Program {
  setup: Setup[]
  ops: Op[]
}
type Outcome = { ok: unknown } | { error: [string] | [string, number] }

type Kind = 'pipe' | 'socket' | 'file' | 'epoll'

/** The handles a setup makes, in order: two per pipe and socketpair, one per file and epoll. */
function kindsOf(setup: Setup[]): Kind[] {
  return setup.flatMap((s): Kind[] => (s.kind === 'pipe' ? ['pipe', 'pipe'] : s.kind === 'socketpair' ? ['socket', 'socket'] : [s.kind]))
}

const BITS = [
  EPOLLIN, EPOLLPRI, EPOLLOUT, EPOLLERR, EPOLLHUP, EPOLLRDNORM, EPOLLRDBAND, EPOLLWRNORM, EPOLLWRBAND, EPOLLMSG,
  EPOLLRDHUP, EPOLLEXCLUSIVE, EPOLLONESHOT, EPOLLET,
]
/** An event mask: mostly a few known bits (ET, ONESHOT and EXCLUSIVE often), sometimes any 32-bit value. */
const mask = fc.oneof(
  { weight: 8, arbitrary: fc.subarray(BITS, { maxLength: 4 }).map((bits) => bits.reduce((m, b) => (m | b) >>> 0, 0)) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 31), max: 2 ** 32 - 1 }) },
)

function program(): fc.Arbitrary<Program> {
  const setup = fc
    .tuple(
      fc.array(fc.constant<Setup>({ kind: 'pipe' }), { maxLength: 2 }),
      fc.array(fc.boolean().map((dgram): Setup => ({ kind: 'socketpair', dgram })), { minLength: 1, maxLength: 2 }),
      fc.array(fc.constant<Setup>({ kind: 'file' }), { maxLength: 1 }),
      fc.array(
        fc.record({
          kind: fc.constant('epoll' as const),
          sizehint: fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: -3, max: 64 }) }, fc.constantFrom(2 ** 31, -(2 ** 31) - 1)),
          flags: fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, fc.constant(EPOLL_CLOEXEC), fc.constantFrom(1, -1, 2 ** 31)),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    )
    .map(([pipes, pairs, files, epolls]) => [...pipes, ...pairs, ...files, ...epolls])
  return setup.chain((steps) => {
    const kinds = kindsOf(steps)
    const of = (...wanted: Kind[]) => kinds.flatMap((k, i) => (wanted.includes(k) ? [i] : []))
    const epolls = of('epoll')
    const files = of('pipe', 'socket', 'file')
    const sockets = of('socket')
    const target: fc.Arbitrary<Target> = fc.oneof(
      { weight: 8, arbitrary: fc.record({ handle: fc.constantFrom(...kinds.keys()), object: fc.boolean() }) },
      { weight: 1, arbitrary: fc.record({ raw: fc.constantFrom<number | string | null>(-1, -7, 2 ** 31 - 1, 2 ** 31, 2 ** 40, UNUSED, 1.5, '3', null) }) },
    )
    const ep = fc.constantFrom(...epolls)
    const ops: fc.Arbitrary<Op>[] = [
      fc.record({ op: fc.constant('register' as const), handle: ep, target, mask }, { requiredKeys: ['op', 'handle', 'target'] }),
      fc.record({ op: fc.constant('modify' as const), handle: ep, target, mask }),
      fc.record({ op: fc.constant('unregister' as const), handle: ep, target }),
      fc.record({ op: fc.constant('poll' as const), handle: ep, maxevents: fc.constantFrom(-1, -1, 1, 2, 3, 64, 0, -2, 2 ** 31) }),
      fc.record({ op: fc.constant('close' as const), handle: fc.constantFrom(...kinds.keys()) }),
      fc.record({ op: fc.constant('write' as const), handle: fc.constantFrom(...files), size: fc.integer({ min: 1, max: 2000 }) }),
      fc.record({ op: fc.constant('drain' as const), handle: fc.constantFrom(...files) }),
    ]
    if (sockets.length > 0) {
      ops.push(fc.record({ op: fc.constant('shutdown' as const), handle: fc.constantFrom(...sockets), how: fc.constantFrom(0, 1, 2, 3, -1) }))
    }
    // Registers and polls come more often than closes, so that programs reach interesting states.
    const weighted = ops.map((arbitrary, i) => ({ weight: i === 0 || i === 3 ? 4 : i === 4 ? 1 : 2, arbitrary }))
    return fc.record({ setup: fc.constant(steps), ops: fc.array(fc.oneof(...weighted), { minLength: MAX_OPS / 2, maxLength: MAX_OPS }) })
  })
}

/** A number no fd has in either process (checked against this one when the test starts). */
const UNUSED = 3999

/**
 * FIFO paths for fdpoll's pipes: Node has no pipe(2), and a FIFO opened at both ends is a pipe
 * (the kernel's pipe code serves both). Each program closes its pipes, so the paths are reused.
 */
class Fifos {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-diff-'))
  readonly #paths: string[] = []

  path(i: number): string {
    while (this.#paths.length <= i) {
      const file = path.join(this.dir, `fifo${this.#paths.length}`)
      execFileSync('mkfifo', [file])
      this.#paths.push(file)
    }
    return this.#paths[i]
  }

  remove(): void {
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

type Handle = { kind: 'pipe' | 'file'; fd: number } | { kind: 'socket'; obj: Socket } | { kind: 'epoll'; obj: Epoll | null }

/** One program run by fdpoll, in the same order and with the same outcomes' shape as the Python side. */
function runFdpoll(prog: Program, fifos: Fifos): Outcome[] {
  const handles: Handle[] = []
  const results: Outcome[] = []
  let pipes = 0
  try {
    for (const step of prog.setup) {
      results.push(outcome(() => {
        if (step.kind === 'pipe') {
          const file = fifos.path(pipes++)
          const r = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK)
          const w = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)
          handles.push({ kind: 'pipe', fd: r }, { kind: 'pipe', fd: w })
        } else if (step.kind === 'socketpair') {
          const pair = socketpair(AF_UNIX, step.dgram ? SOCK_DGRAM : SOCK_STREAM)
          for (const obj of pair) {
            obj.setblocking(false)
            handles.push({ kind: 'socket', obj })
          }
        } else if (step.kind === 'file') {
          handles.push({ kind: 'file', fd: fs.openSync(path.join(fifos.dir, `file${handles.length}`), 'w+') })
        } else {
          const handle: Handle = { kind: 'epoll', obj: null }
          handles.push(handle)
          handle.obj = new Epoll(step.sizehint, step.flags)
        }
        return null
      }))
    }
    const numbers = handles.map((h) => ('fd' in h ? h.fd : h.obj === null ? null : h.obj.fileno()))
    results.push({ ok: handles.map((h) => ('obj' in h && h.obj === null ? null : h.kind)) })
    const name = (fd: number) => {
      const i = numbers.indexOf(fd)
      return i >= 0 ? i : `fd ${fd}`
    }
    const target = (t: Target): unknown => {
      if ('raw' in t) return t.raw
      const h = handles[t.handle]
      if ('obj' in h && t.object) return h.obj
      return numbers[t.handle]
    }
    for (const step of prog.ops) {
      const h = handles[step.handle]
      results.push(outcome(() => {
        if ('obj' in h && h.obj === null) return 'absent'
        switch (step.op) {
          case 'register': {
            const ep = (h as { obj: Epoll }).obj
            const fd = target(step.target) as number
            return step.mask === undefined ? ep.register(fd) : ep.register(fd, step.mask)
          }
          case 'modify':
            return (h as { obj: Epoll }).obj.modify(target(step.target) as number, step.mask)
          case 'unregister':
            return (h as { obj: Epoll }).obj.unregister(target(step.target) as number)
          case 'poll':
            return (h as { obj: Epoll }).obj.poll(0, step.maxevents).map(([fd, events]) => [name(fd), events])
          case 'close':
            return 'fd' in h ? fs.closeSync(h.fd) : h.obj!.close()
          case 'write': {
            const data = Buffer.alloc(step.size, 'x')
            return 'fd' in h ? fs.writeSync(h.fd, data) : (h.obj as Socket).send(data)
          }
          case 'drain': {
            const buf = Buffer.alloc(65536)
            let total = 0
            while (true) {
              let got: number
              try {
                got = 'fd' in h ? fs.readSync(h.fd, buf, 0, buf.length, null) : (h.obj as Socket).recvInto(buf)
              } catch (e) {
                if ((e as { code?: string }).code === 'EAGAIN') return [total, 'EAGAIN']
                throw e
              }
              if (got === 0) return [total, 'EOF']
              total += got
            }
          }
          case 'shutdown':
            return ((h as { obj: Socket }).obj).shutdown(step.how)
        }
      }))
    }
  } finally {
    for (const h of handles) {
      if ('fd' in h) {
        try {
          fs.closeSync(h.fd)
        } catch {} // closed by the program already
      } else h.obj?.close()
    }
  }
  return results
}

/** What `fn` returned (undefined as null, as Python's None), or its error in the shared form. */
function outcome(fn: () => unknown): Outcome {
  try {
    return { ok: fn() ?? null }
  } catch (e) {
    if (e instanceof OSError) return { error: [e.constructor.name, e.errno] }
    if (e instanceof RangeError || (e instanceof Error && e.name === 'ValueError')) return { error: ['ValueError'] }
    if (e instanceof TypeError) return { error: ['TypeError'] }
    const code = (e as NodeJS.ErrnoException).code
    if (code !== undefined && code in os.constants.errno) {
      // A node:fs call on a pipe or file end: Python's class for the same errno.
      const errnum = os.constants.errno[code as keyof typeof os.constants.errno]
      return { error: [osError(errnum, 'fs').constructor.name, errnum] }
    }
    throw e
  }
}

/**
 * Whether fdpoll's outcome is CPython's. One difference is by design: for epoll flags other than
 * 0 and EPOLL_CLOEXEC, CPython raises an OSError without an errno ('invalid flags'), where
 * fdpoll's carries EINVAL, as every fdpoll OSError carries its errno.
 */
function same(python: Outcome, fdpoll: Outcome | undefined): boolean {
  if (fdpoll === undefined) return false
  if ('error' in python && python.error[0] === 'OSError' && python.error[1] === null && 'error' in fdpoll) {
    return fdpoll.error[0] === 'OSError'
  }
  return JSON.stringify(python) === JSON.stringify(fdpoll)
}

/** Throws, naming the first step where fdpoll's outcome is not CPython's. */
function compare(prog: Program, expected: Outcome[], actual: Outcome[]): void {
  const at = expected.findIndex((e, i) => !same(e, actual[i]))
  if (at >= 0 || actual.length !== expected.length) {
    const where = at < prog.setup.length ? `setup step ${at}` : at === prog.setup.length ? 'the handles' : `op ${at - prog.setup.length - 1}`
    throw new Error(`${where}: CPython ${JSON.stringify(expected[at])}, fdpoll ${JSON.stringify(actual[at])}`)
  }
}

/** CPython running fixtures/epoll_program.py: one program in, one line of outcomes out. */
class Python {
  readonly #child: ChildProcess
  readonly #lines: AsyncIterator<string>

  constructor() {
    this.#child = spawn('python3', [path.join(__dirname, 'fixtures', 'epoll_program.py')], { stdio: ['pipe', 'pipe', 'inherit'] })
    this.#lines = createInterface({ input: this.#child.stdout! })[Symbol.asyncIterator]()
  }

  async run(prog: Program): Promise<Outcome[]> {
    this.#child.stdin!.write(JSON.stringify(prog) + '\n')
    const { value, done } = await this.#lines.next()
    if (done) throw new Error(`python3 exited (${this.#child.exitCode}) on ${JSON.stringify(prog)}`)
    return JSON.parse(value)
  }

  async close(): Promise<void> {
    const exited = once(this.#child, 'exit')
    this.#child.stdin!.end()
    await exited
  }
}

testIf(LINUX && backend === 'epoll', NOT_EPOLL)(
  `fdpoll's Epoll matches CPython's select.epoll on ${PROGRAMS} random programs (seed ${SEED})`,
  async (t) => {
    t.timeout(60_000)
    t.false(fs.existsSync(`/proc/self/fd/${UNUSED}`), `fd ${UNUSED} must not be open`)
    const python = new Python()
    const fifos = new Fifos()
    let programs = 0
    let operations = 0
    const seen = new Map<string, number>()
    try {
      await fc.assert(
        fc.asyncProperty(program(), async (prog) => {
          programs++
          operations += prog.ops.length
          const expected = await python.run(prog)
          const actual = runFdpoll(prog, fifos)
          for (const result of expected.slice(prog.setup.length + 1)) {
            const kind = 'error' in result ? result.error.join(' ') : Array.isArray(result.ok) && result.ok.length > 0 ? 'events' : 'ok'
            seen.set(kind, (seen.get(kind) ?? 0) + 1)
          }
          compare(prog, expected, actual)
        }),
        { seed: SEED, numRuns: PROGRAMS },
      )
    } catch (e) {
      t.fail(`differential run failed (replay with FDPOLL_FC_SEED=${SEED}):\n${(e as Error).message}`)
    } finally {
      await python.close()
      fifos.remove()
    }
    t.log(`${programs} programs, ${operations} operations (shrinking included) run by both CPython and fdpoll`)
    t.log('outcomes:', Object.fromEntries([...seen].sort((a, b) => b[1] - a[1])))
    // The programs reach the states worth comparing: events, and each error epoll_ctl can give.
    for (const kind of ['events', 'FileExistsError 17', 'FileNotFoundError 2', 'PermissionError 1', 'OSError 9', 'OSError 22', 'OSError 40', 'TypeError', 'ValueError']) {
      t.true(seen.has(kind), `no program gave ${kind}`)
    }
  },
)

/**
 * What the random programs found, kept as fixed programs: CPython converts every argument before
 * it looks at the epoll (a bad fd or mask on a closed epoll is a TypeError, not the closed
 * error), and a sizehint, flags or maxevents beyond a C int is an OverflowError (fdpoll: a
 * RangeError) rather than EINVAL or a silent cap.
 */
const REGRESSIONS: Program[] = [
  { setup: [{ kind: 'epoll', sizehint: 2 ** 31, flags: 1 }], ops: [] },
  { setup: [{ kind: 'epoll', sizehint: -1, flags: 2 ** 31 }], ops: [] },
  { setup: [{ kind: 'socketpair', dgram: false }, { kind: 'epoll', sizehint: -1, flags: 0 }], ops: [{ op: 'poll', handle: 2, maxevents: 2 ** 31 }] },
  {
    setup: [{ kind: 'socketpair', dgram: false }, { kind: 'epoll', sizehint: -1, flags: 0 }],
    ops: [
      { op: 'close', handle: 2 },
      { op: 'register', handle: 2, target: { raw: null } },
      { op: 'modify', handle: 2, target: { raw: '3' }, mask: 1 },
      { op: 'unregister', handle: 2, target: { raw: 1.5 } },
      { op: 'register', handle: 2, target: { raw: -1 } },
    ],
  },
]

testIf(LINUX && backend === 'epoll', NOT_EPOLL)(
  'fdpoll matches CPython on the programs the random runs found differences in',
  async (t) => {
    const python = new Python()
    const fifos = new Fifos()
    try {
      for (const prog of REGRESSIONS) {
        const expected = await python.run(prog)
        t.notThrows(() => compare(prog, expected, runFdpoll(prog, fifos)), JSON.stringify(prog))
      }
    } finally {
      await python.close()
      fifos.remove()
    }
  },
)
