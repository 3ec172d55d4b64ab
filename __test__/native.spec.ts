/**
 * Where the native addon cannot load and FDPOLL_BACKEND=native insists on it, src/native.ts's
 * error names this platform and lists the supported ones (package.json's napi.targets, named here
 * by napi-rs's own `parseTriple`), with the loader's error as `cause`. (Unset, the WebAssembly
 * build stands in, with a warning that starts with the same text: fallback.spec.ts.) Each case
 * loads fdpoll in a child process whose load fails.
 */
import test from 'ava'
import { parseTriple } from '@napi-rs/cli'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'

const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '../package.json'), 'utf8'))
const supported: string[] = pkg.napi.targets.map((triple: string) => parseTriple(triple).platformArchABI)
const libc = (process.report.getReport() as { header: { glibcVersionRuntime?: string } }).header.glibcVersionRuntime

/** Loads `entry` in a child after `prelude`, with `env` added: the load error's message and cause's. */
function loadError(entry: string, prelude = '', env: Record<string, string> = {}): { message: string, cause: string } {
  const script = `${prelude}; try { require(${JSON.stringify(entry)}); console.log('null') } ` +
    'catch (e) { console.log(JSON.stringify({ message: e.message, cause: String(e.cause && e.cause.message) })) }'
  const out = execFileSync(process.execPath, ['--import=tsx', '-e', script], {
    // The loader's own choice, even when the suite runs against another addon (npm run test:mio).
    cwd: path.join(__dirname, '..'), encoding: 'utf8', env: { ...process.env, NAPI_RS_NATIVE_LIBRARY_PATH: '', FDPOLL_BACKEND: 'native', ...env },
  })
  const error = JSON.parse(out)
  if (error === null) throw new Error(`${entry} loaded`)
  return error
}

const entries = { 'the package (dist)': 'fdpoll', 'the sources (src)': './src/index.ts' }
for (const [what, entry] of Object.entries(entries)) {
  test(`${what}: a binary that does not load names this platform and the supported ones`, (t) => {
    const { message, cause } = loadError(entry, '', { NAPI_RS_NATIVE_LIBRARY_PATH: '/nonexistent/fdpoll.node' })
    const platform = `${process.platform}-${process.arch}${process.platform === 'linux' ? (libc ? '-gnu' : '-musl') : ''}`
    t.true(message.startsWith(`fdpoll cannot load its native addon on ${platform} `), message)
    t.true(message.includes(`process.platform ${process.platform}, process.arch ${process.arch}`), message)
    if (process.platform === 'linux') t.true(message.includes(libc ? `glibc ${libc}` : 'musl'), message)
    t.true(message.includes(`its package fdpoll-${platform} is missing or did not load`), message)
    t.true(message.endsWith(`Supported platforms: ${supported.join(', ')}.`), message)
    t.regex(cause, /Cannot find native binding/)
  })
}

test('a CPU with no prebuilt binary is named as such', (t) => {
  const { message } = loadError('fdpoll', "Object.defineProperty(process, 'arch', { value: 'riscv64' })")
  t.regex(message, /on \w+-riscv64\b.*process\.arch riscv64.*: fdpoll has no prebuilt binary for this platform\./)
  t.true(message.endsWith(`Supported platforms: ${supported.join(', ')}.`), message)
})

test('an OS with no prebuilt binary is named, without a libc', (t) => {
  const { message } = loadError('fdpoll', "Object.defineProperty(process, 'platform', { value: 'win32' })")
  t.true(message.startsWith(`fdpoll cannot load its native addon on win32-${process.arch} (process.platform win32, ` +
    `process.arch ${process.arch}): fdpoll has no prebuilt binary for this platform.`), message)
})

test('the supported list is the npm/ platform packages', (t) => {
  // npm/wasm32-wasi is the WebAssembly build, for every platform (wasm.spec.ts).
  const dirs = fs.readdirSync(path.join(__dirname, '../npm')).filter((dir) => dir !== 'wasm32-wasi')
  t.deepEqual([...supported].sort(), dirs.sort())
})
