/**
 * The WebAssembly build (npm/wasm32-wasi, `npm run build:wasm`), loaded as src/native.ts loads it
 * under FDPOLL_BACKEND=wasm: its exports, the constants (Linux's values on every host), and what
 * works so far: the backend's name and the epoll calls on the in-memory engine (crates/core
 * sys/memory.rs), whose errno numbers are the host's (`os.constants.errno`), not WASI's. Registered as skipped where the
 * build is missing.
 */
import ava from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { testIf } from './helpers.js'
import { LINUX } from './inspect.js'

const root = path.join(__dirname, '..')
const built = fs.existsSync(path.join(root, 'npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm'))
const test = testIf(built, 'the WebAssembly build is missing (npm run build:wasm builds it)')
const { EAGAIN, EBADF, EEXIST, EINVAL, ENOENT } = os.constants.errno

/** The WebAssembly build's exports that these tests call, and the rest by name. */
interface WasmBinding {
  [name: string]: unknown
  epollCreate(): number
  epollRegister(epfd: number, fd: number, events: number): number
  epollUnregister(epfd: number, fd: number): number
  epollPollInto(epfd: number, out: Int32Array, timeoutMs: number, maxevents: number): number
  fdClose(fd: number): number
  errnoUseHost(table: Record<string, number>): boolean
}

/** The WebAssembly build's exports, through its package's loader. */
function wasm(): WasmBinding {
  return require('../npm/wasm32-wasi/fdpoll.wasi.cjs')
}

/** Runs `script` with fdpoll loaded from `entry` in a child with FDPOLL_BACKEND set: its JSON output. */
function child(entry: string, script: string, backend = 'wasm'): unknown {
  const code = `const fdpoll = require(${JSON.stringify(entry)}); console.log(JSON.stringify((() => { ${script} })()))`
  const out = execFileSync(process.execPath, ['--import=tsx', '-e', code], {
    cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FDPOLL_BACKEND: backend },
  })
  return JSON.parse(out)
}

test('the build says it is the wasm backend and exports the constants and the epoll functions', (t) => {
  const binding = wasm()
  t.is(binding.BACKEND, 'wasm')
  for (const name of ['epollCreate', 'epollRegister', 'epollModify', 'epollUnregister', 'epollPollInto', 'fdClose']) {
    t.is(typeof binding[name], 'function', name)
  }
  t.is(binding.socketCreate, undefined, 'the OS socket calls are not in the WebAssembly build yet')
})

test("the constants are Linux's values, whatever the host", (t) => {
  const binding = wasm()
  t.deepEqual([binding.AF_INET, binding.AF_INET6, binding.SOL_SOCKET, binding.SO_REUSEPORT], [2, 10, 1, 15])
  t.deepEqual([binding.SOCK_NONBLOCK, binding.SOCK_CLOEXEC, binding.TCP_CORK, binding.MSG_NOSIGNAL], [0o4000, 0o2000000, 3, 0x4000])
  t.deepEqual([binding.POLLIN, binding.POLLOUT, binding.POLLNVAL, binding.POLLRDHUP], [1, 4, 0x20, 0x2000])
  if (LINUX) {
    // On a Linux host the native addon has the same values, constant for constant (SOMAXCONN is
    // glibc's 4096, which musl's 128 is not).
    const native: Record<string, unknown> = require('../src/binding.js')
    t.is(binding.SOMAXCONN, 4096)
    const constants = Object.keys(binding).filter((name) => typeof binding[name] === 'number' && name !== 'SOMAXCONN')
    t.true(constants.length >= 50, `${constants.length} constants`)
    for (const name of constants) t.is(binding[name], native[name], name)
  }
})

test("the in-memory engine answers the epoll calls with the kernel's errors, in the host's errno numbers", (t) => {
  const binding = wasm()
  const ep = binding.epollCreate()
  const inner = binding.epollCreate()
  t.true(ep >= 3 && inner > ep, `fds ${ep} and ${inner}: numbered from 3, as the kernel's lowest free ones`)
  t.is(binding.epollRegister(ep, ep, 1), -EINVAL, 'an epoll in itself')
  t.is(binding.epollRegister(ep, 1000, 1), -EBADF, 'an fd that is not open')
  t.is(binding.epollRegister(ep, inner, 1), 0, 'an epoll in another')
  t.is(binding.epollRegister(ep, inner, 1), -EEXIST)
  t.is(binding.epollPollInto(ep, new Int32Array(64), 0, 1), 0, 'nothing is ready')
  t.is(binding.epollPollInto(ep, new Int32Array(64), 10, 1), -EAGAIN, 'a wait with nothing ready is left to the host')
  t.is(binding.epollPollInto(ep, new Int32Array(0), 0, 1), -EINVAL, 'no room for one event is refused before polling')
  t.is(binding.epollUnregister(ep, inner), 0)
  t.is(binding.epollUnregister(ep, inner), -ENOENT)
  t.is(binding.fdClose(inner), 0)
  t.is(binding.fdClose(inner), -EBADF)
  t.is(binding.fdClose(ep), 0)
  t.false(binding.errnoUseHost({ EBADF: 1 }), 'the loader has set the table; a second one is ignored')
  t.is(binding.fdClose(ep), -EBADF)
})

for (const [what, entry] of Object.entries({ 'the package (dist)': 'fdpoll', 'the sources (src)': './src/index.ts' })) {
  test(`${what} under FDPOLL_BACKEND=wasm: backend is 'wasm', Epoll works on the in-memory engine`, (t) => {
    const result = child(entry, `
      const ep = new fdpoll.Epoll()
      const events = ep.poll(0)
      let error
      try { ep.register(ep.fileno()) } catch (e) { error = { name: e.name, osError: e instanceof fdpoll.OSError, code: e.code, errno: e.errno, syscall: e.syscall } }
      ep.close()
      return { backend: fdpoll.backend, AF_INET6: fdpoll.AF_INET6, events, error, closed: ep.closed }`)
    t.deepEqual(result, {
      backend: 'wasm', AF_INET6: 10, events: [], closed: true,
      error: { name: 'OSError', osError: true, code: 'EINVAL', errno: EINVAL, syscall: 'epoll_ctl' },
    })
  })
}

ava('FDPOLL_BACKEND must name a backend', (t) => {
  const error = t.throws(() => child('./src/index.ts', 'return fdpoll.backend', 'wsam'))
  t.regex(String(error?.message), /FDPOLL_BACKEND is 'wsam': it can be 'native' \(the default\) or 'wasm'/)
  t.regex(String(child('./src/index.ts', 'return fdpoll.backend', 'native')), /^(epoll|mio)$/)
})
