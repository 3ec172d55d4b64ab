// `npm run test:mio`: the Rust tests and the ava suites against the mio backend, on Linux: every
// suite but those that never reach the native addon or pick their backend themselves (the WebAssembly build and the fallback to it, the packages and built binaries,
// the workflows). ava runs with NAPI_RS_NATIVE_LIBRARY_PATH pointing napi-rs's generated loader
// (src/binding.js, bundled in dist/ for the examples) at the mio addon; tests of Linux-only
// behaviour register as skipped by asking `backend`.
import { execFileSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import path from 'node:path'
import { buildMioAddon, targetDir } from './mio-addon.mjs'

const root = path.join(import.meta.dirname, '..')
/** The suites that do not depend on the backend. */
const ELSEWHERE = new Set([
  'wasm.spec.ts', 'wasm-host.spec.ts', 'wasm-sockets.spec.ts', 'fallback.spec.ts', 'pack.spec.ts', 'binaries.spec.ts', 'workflows.spec.ts',
])

/** Runs `cmd args` in the repository, its output shown; throws when it fails. */
function run(cmd, args, env = process.env) {
  execFileSync(cmd, args, { cwd: root, stdio: 'inherit', env })
}

const addon = buildMioAddon()
run('cargo', ['test', '--workspace', '--features', 'mio', '--target-dir', targetDir])
run('npm', ['run', 'build:dist']) // the examples import dist/: bundle the current TypeScript
const env = { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: addon }
const loaded = execFileSync(process.execPath, ['-p', "require('./dist/index.cjs').backend"], { cwd: root, env, encoding: 'utf8' }).trim()
if (loaded !== 'mio') throw new Error(`test:mio: NAPI_RS_NATIVE_LIBRARY_PATH=${addon} loaded the ${loaded} backend, not mio`)
const suites = readdirSync(path.join(root, '__test__')).filter((file) => file.endsWith('.spec.ts') && !ELSEWHERE.has(file))
run('npx', ['ava', ...suites.map((file) => `__test__/${file}`)], env)
