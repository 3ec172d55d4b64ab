/**
 * What `npm run pack:all` packs (scripts/pack-all.mjs, here with --skip-missing into a temp
 * folder): the main package names every binary package in its optionalDependencies, the
 * WebAssembly one included, and carries dist/ (the socket host's worker among it) but no binary;
 * fdpoll-wasm32-wasi carries its .wasm and loader and names no os or cpu, so npm installs it on
 * every platform. Registered as skipped where the WebAssembly build is missing.
 */
import test from 'ava'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'

import { testIf } from './helpers.js'

const root = path.join(__dirname, '..')
const manifest = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'))
const built = fs.existsSync(path.join(root, 'npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm'))
const withWasm = testIf(built, 'the WebAssembly build is missing (npm run build:wasm builds it)')
const out = fs.mkdtempSync(path.join(os.tmpdir(), 'fdpoll-pack-'))

/** The packed package `name`: its manifest and the paths in its tarball (without `package/`). */
function packed(name: string): { manifest: Record<string, unknown>; files: string[] } {
  const tarball = path.join(out, `${name}-${manifest.version}.tgz`)
  const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).trim().split('\n').map((f) => f.replace(/^package\//, ''))
  const json = execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })
  return { manifest: JSON.parse(json), files }
}

test.before(() => {
  if (built) execFileSync(process.execPath, ['scripts/pack-all.mjs', '--skip-missing', '--out', out], { cwd: root, stdio: 'pipe' })
})
test.after.always(() => fs.rmSync(out, { recursive: true, force: true }))

withWasm("the main package's optionalDependencies: every platform package and fdpoll-wasm32-wasi, at its version", (t) => {
  const { optionalDependencies } = packed('fdpoll').manifest as { optionalDependencies: Record<string, string> }
  const platforms = fs.readdirSync(path.join(root, 'npm')).map((dir) => `${manifest.name}-${dir}`)
  t.true(platforms.includes('fdpoll-wasm32-wasi'))
  t.deepEqual(Object.keys(optionalDependencies).sort(), platforms.sort())
  for (const version of Object.values(optionalDependencies)) t.is(version, manifest.version)
  t.is(manifest.optionalDependencies, undefined, 'package.json itself names none (they are added at pack time)')
})

withWasm('fdpoll-wasm32-wasi names no os, cpu or libc and carries its .wasm and loader, which is its main', (t) => {
  const wasm = packed('fdpoll-wasm32-wasi')
  t.like(wasm.manifest, { name: 'fdpoll-wasm32-wasi', version: manifest.version, main: 'fdpoll.wasi.cjs' })
  for (const field of ['os', 'cpu', 'libc']) t.false(field in wasm.manifest, `${field} is set`)
  t.deepEqual(wasm.files.sort(), ['README.md', 'fdpoll.wasi.cjs', 'fdpoll.wasm32-wasi.wasm', 'package.json'])
  const size = fs.statSync(path.join(root, 'npm/wasm32-wasi/fdpoll.wasm32-wasi.wasm')).size
  const unpacked = execFileSync('tar', ['-xzOf', path.join(out, `fdpoll-wasm32-wasi-${manifest.version}.tgz`), 'package/fdpoll.wasm32-wasi.wasm'])
  t.is(unpacked.length, size, 'the .wasm is the one built')
})

withWasm("the main package carries dist/ with the socket host's worker, and no .node or .wasm", (t) => {
  const { files } = packed('fdpoll')
  for (const file of ['dist/index.cjs', 'dist/index.mjs', 'dist/index.d.ts', 'dist/host-worker.cjs']) t.true(files.includes(file), file)
  t.deepEqual(files.filter((file) => /\.(node|wasm)$/.test(file)), [])
})
