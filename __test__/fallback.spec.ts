/**
 * The WebAssembly fallback (src/native.ts): where no native binary loads and FDPOLL_BACKEND is
 * unset, fdpoll runs on the WebAssembly build and warns once (FDPOLL_WASM_FALLBACK);
 * FDPOLL_BACKEND=native makes that an error; where neither loads, the error names both. Each case
 * runs the built package (dist/, `npm run build`) with plain node from a temp folder, copied
 * without its .node file, so that no native binary is found: the WebAssembly build is beside it
 * as a user's install has it (node_modules/fdpoll-wasm32-wasi), or as a clone has it
 * (npm/wasm32-wasi/, which napi-rs's loader does not look in), or not at all.
 */
import test from 'ava'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { testIf } from './helpers.js'

const root = path.join(__dirname, '..')
const wasmDir = path.join(root, 'npm/wasm32-wasi')
const built = fs.existsSync(path.join(wasmDir, 'fdpoll.wasm32-wasi.wasm')) && fs.existsSync(path.join(root, 'dist/index.cjs'))
const withWasm = testIf(built, 'the WebAssembly build or dist/ is missing (npm run build:wasm, npm run build)')

/** Where the WebAssembly build is, beside the copy of the package. */
type Layout = 'installed' | 'clone' | 'none'

/**
 * A temp folder with the package's copy at node_modules/fdpoll: package.json and dist/, with
 * dist/'s .node files only when `native`; and the WebAssembly build where `layout` puts it.
 */
function install(layout: Layout, native = false): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-fallback-'))
  const pkg = path.join(dir, 'node_modules/fdpoll')
  fs.mkdirSync(pkg, { recursive: true })
  fs.copyFileSync(path.join(root, 'package.json'), path.join(pkg, 'package.json'))
  fs.cpSync(path.join(root, 'dist'), path.join(pkg, 'dist'), { recursive: true, filter: (from) => native || !from.endsWith('.node') })
  if (layout === 'installed') fs.symlinkSync(wasmDir, path.join(dir, 'node_modules/fdpoll-wasm32-wasi'))
  if (layout === 'clone') {
    fs.mkdirSync(path.join(pkg, 'npm'))
    fs.symlinkSync(wasmDir, path.join(pkg, 'npm/wasm32-wasi'))
  }
  return dir
}

/**
 * Loads fdpoll in plain node from `dir` with `FDPOLL_BACKEND` as given (unset: undefined) and no
 * napi-rs loader setting, and sends a message through an IOLoop, which its Epoll gets on the
 * loop's waker: the backend, the message, the warnings, and the exit status and stderr.
 */
function run(dir: string, backend?: string) {
  const script = `
    const warnings = []
    process.on('warning', (w) => warnings.push({ name: w.name, code: w.code, message: w.message }))
    const { IOLoop, RemoteIOLoop, backend } = require('fdpoll')
    const loop = new IOLoop()
    const remote = new RemoteIOLoop(loop.remote())
    let received = null
    loop.onMessage = (message) => { received = message; loop.stop() }
    loop.callLater(10, () => loop.stop())
    remote.addCallback('ping')
    loop.runSync()
    remote.close()
    loop.close()
    require('fdpoll') // once more: no second warning
    setImmediate(() => console.log(JSON.stringify({ backend, received, warnings })))`
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(FDPOLL_|NAPI_RS_)/.test(key)))
  if (backend !== undefined) env.FDPOLL_BACKEND = backend
  const child = spawnSync(process.execPath, ['-e', script], { cwd: dir, env, encoding: 'utf8', timeout: 30_000 })
  const out = child.status === 0 ? JSON.parse(child.stdout) : null
  return { ...out, status: child.status, stderr: child.stderr }
}

const NATIVE_FAILED = /^fdpoll cannot load its native addon on \S+ \(process\.platform \w+, process\.arch \w+[^)]*\): .*\. Supported platforms: /

for (const layout of ['installed', 'clone'] as const) {
  withWasm(`no native binary (the WebAssembly build ${layout === 'installed' ? 'installed as fdpoll-wasm32-wasi' : "in a clone's npm/wasm32-wasi"}): the WebAssembly build, with one warning`, (t) => {
    const dir = install(layout)
    try {
      const r = run(dir)
      t.is(r.status, 0, r.stderr)
      t.is(r.backend, 'wasm')
      t.is(r.received, 'ping', 'the IOLoop got the message through its waker')
      t.is(r.warnings.length, 1, JSON.stringify(r.warnings))
      t.like(r.warnings[0], { name: 'Warning', code: 'FDPOLL_WASM_FALLBACK' })
      t.regex(r.warnings[0].message, NATIVE_FAILED)
      t.regex(r.warnings[0].message, /fdpoll runs its WebAssembly build instead, which is much slower\. FDPOLL_BACKEND=wasm chooses it without this warning; FDPOLL_BACKEND=native makes this an error\.$/)
      t.regex(r.stderr, /\[FDPOLL_WASM_FALLBACK\] Warning: fdpoll cannot load its native addon/)
    } finally {
      fs.rmSync(dir, { recursive: true })
    }
  })
}

withWasm('no native binary and FDPOLL_BACKEND=native: the error that names the platform, no fallback', (t) => {
  const dir = install('installed')
  try {
    const r = run(dir, 'native')
    t.is(r.status, 1)
    t.regex(r.stderr, /^Error: fdpoll cannot load its native addon on /m)
    t.regex(r.stderr, /\[cause\]: Error: napi-rs's loader \(binding\.js\) loaded no native binary/)
    t.notRegex(r.stderr, /WebAssembly build instead|FDPOLL_WASM_FALLBACK/)
  } finally {
    fs.rmSync(dir, { recursive: true })
  }
})

withWasm('no native binary and FDPOLL_BACKEND=wasm: the WebAssembly build, chosen, so no warning', (t) => {
  const dir = install('installed')
  try {
    const r = run(dir, 'wasm')
    t.is(r.status, 0, r.stderr)
    t.like(r, { backend: 'wasm', received: 'ping', warnings: [] })
  } finally {
    fs.rmSync(dir, { recursive: true })
  }
})

withWasm('a native binary that loads wins over the WebAssembly build beside it, with no warning', (t) => {
  const dir = install('installed', true)
  try {
    const r = run(dir)
    t.is(r.status, 0, r.stderr)
    t.like(r, { backend: process.platform === 'linux' ? 'epoll' : 'mio', received: 'ping', warnings: [] })
  } finally {
    fs.rmSync(dir, { recursive: true })
  }
})

withWasm('neither a native binary nor the WebAssembly build: an AggregateError that names both failures', (t) => {
  const dir = install('none')
  try {
    const r = run(dir)
    t.is(r.status, 1)
    const [first] = r.stderr.split('\n').filter((line: string) => line.startsWith('AggregateError: '))
    t.truthy(first, r.stderr)
    t.regex(first, /^AggregateError: fdpoll cannot load its native addon on .*\. Nor could it fall back to its WebAssembly build: fdpoll cannot load its WebAssembly build: its package fdpoll-wasm32-wasi is missing or did not load/)
    t.regex(r.stderr, /\[errors\]: \[\n {4}Error: fdpoll cannot load its native addon[^]*\n {4}Error: fdpoll cannot load its WebAssembly build/)
  } finally {
    fs.rmSync(dir, { recursive: true })
  }
})
