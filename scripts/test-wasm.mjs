// `npm run test:wasm` (the second half of `npm test`): the ava suites again, on the WebAssembly
// backend (FDPOLL_BACKEND=wasm): every suite but those that do not depend on the backend (they
// build, pack or inspect packages, or pick the backend themselves). A test of a kernel-only fact
// registers as skipped by asking `backend` (__test__/helpers.ts, kernelOnly); the README lists them.
// Without the WebAssembly build (`npm run build:wasm`, which needs the toolchain of
// scripts/toolchain.sh), it says so and runs nothing.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import path from 'node:path'

const root = path.join(import.meta.dirname, '..')
/** The suites that do not depend on the backend, or choose it themselves. */
const ELSEWHERE = new Set([
  'binaries.spec.ts', 'fallback.spec.ts', 'native.spec.ts', 'pack.spec.ts', 'package.spec.ts', 'wasm.spec.ts',
  'wasm-host.spec.ts', 'wasm-sockets.spec.ts', 'workflows.spec.ts',
])

if (!existsSync(path.join(root, 'npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm'))) {
  console.log('test:wasm: not run: the WebAssembly build is missing (npm run build:wasm builds it)')
  process.exit(0)
}
const env = { ...process.env, FDPOLL_BACKEND: 'wasm' }
const suites = readdirSync(path.join(root, '__test__')).filter((file) => file.endsWith('.spec.ts') && !ELSEWHERE.has(file))
execFileSync('npx', ['ava', ...suites.map((file) => `__test__/${file}`)], { cwd: root, stdio: 'inherit', env })
