// Packs every publishable package into artifacts/, exactly as it would be published: one
// `fdpoll-<platform>` package per target in package.json's `napi.targets` (npm/<platform>/ with
// its binary), the WebAssembly build `fdpoll-wasm32-wasi` (npm/wasm32-wasi/ with its .wasm and
// loader; no os or cpu, so npm installs it everywhere), and the main package with all of them in
// `optionalDependencies` at its own version. Those are added here, in a staged copy, as
// `napi prepublish` does: in package.json they would have to be in the clone's lock file, which
// npm cannot write while they are not on the registry.
//
// Usage: node scripts/pack-all.mjs [--skip-missing] [--out <dir>]
// A platform's binary is npm/<platform>/fdpoll.<platform>.node (`npm run build:targets`), or for
// the host, src/'s from `npm run build`; the .wasm is npm/wasm32-wasi/'s (`npm run build:wasm`).
// One missing is an error; --skip-missing leaves that package out (the main package still lists
// it) and the summary says so. --out packs into <dir> (absent or empty) instead of artifacts/.
import { parseTriple } from '@napi-rs/cli'
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/** Stops with `message` and exit status 1. */
function fail(message) {
  console.error(`pack-all: ${message}`)
  process.exit(1)
}

const args = process.argv.slice(2)
const skipMissing = args.includes('--skip-missing')
const outAt = args.indexOf('--out')
const out = outAt >= 0 ? args[outAt + 1] : 'artifacts'
if (out === undefined || out.startsWith('--')) fail('--out needs a directory')
const unknown = args.filter((arg, i) => arg !== '--skip-missing' && (outAt < 0 || (i !== outAt && i !== outAt + 1)))
if (unknown.length > 0) fail(`unknown arguments ${unknown.join(' ')} (only --skip-missing, --out <dir>)`)
if (outAt >= 0 && existsSync(out) && readdirSync(out).length > 0) fail(`--out ${out} is not empty`)

const root = JSON.parse(readFileSync('package.json', 'utf8'))
const artifacts = resolve(out)
const stage = join(artifacts, 'stage')

/** Runs npm with its output on this terminal, or returns it with `capture`. */
function npm(args, cwd = '.', capture = false) {
  return execFileSync('npm', args, { cwd, encoding: 'utf8', stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'] })
}

/** Builds dist/ when it is missing or older than a file in src/. */
function buildDist() {
  if (!existsSync('src/binding.js')) return npm(['run', 'build'])
  const built = existsSync('dist/index.cjs') ? statSync('dist/index.cjs').mtimeMs : 0
  if (readdirSync('src', { recursive: true }).some((file) => statSync(join('src', String(file))).mtimeMs > built)) npm(['run', 'build:dist'])
}

/** Copies `files` (paths relative to `from`) into `to`. */
function copyInto(from, files, to) {
  for (const file of files) {
    mkdirSync(dirname(join(to, file)), { recursive: true })
    copyFileSync(join(from, file), join(to, file))
  }
}

/** `npm pack` of a staged package into artifacts/: the tarball's name and size. */
function pack(dir) {
  const [result] = JSON.parse(npm(['pack', '--json', '--ignore-scripts', '--pack-destination', artifacts], dir, true))
  return { file: result.filename, size: statSync(join(artifacts, result.filename)).size }
}

buildDist()
/**
 * The package npm/<name>/: its manifest, its binary (the `files` entry that is built, not
 * committed) and where that was built (null when it was not).
 */
function binaryPackage(name, binary, sources) {
  const dir = join('npm', name)
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  if (manifest.name !== `${root.name}-${name}` || manifest.version !== root.version) {
    fail(`${dir}/package.json: expected ${root.name}-${name}@${root.version}, found ${manifest.name}@${manifest.version}`)
  }
  if (!manifest.files.includes(binary)) fail(`${dir}/package.json: its files do not list ${binary}`)
  const source = sources.map((from) => join(from, binary)).find((path) => existsSync(path)) ?? null
  return { name, dir, manifest, binary, source }
}

/** Each target's platform package, then the WebAssembly one. */
const packages = [
  ...root.napi.targets.map((triple) => {
    const name = parseTriple(triple).platformArchABI
    return binaryPackage(name, `${root.name}.${name}.node`, [join('npm', name), 'src'])
  }),
  binaryPackage('wasm32-wasi', `${root.name}.wasm32-wasi.wasm`, [join('npm', 'wasm32-wasi')]),
]

const missing = packages.filter((p) => p.source === null)
if (missing.length > 0 && !skipMissing) {
  fail(`no binary for ${missing.map((p) => p.name).join(', ')} ` +
    '(npm run build:targets builds them; --skip-missing packs the rest)')
}

rmSync(artifacts, { recursive: true, force: true })
mkdirSync(stage, { recursive: true })
const packed = []
for (const p of packages.filter((p) => p.source !== null)) {
  const to = join(stage, p.name)
  copyInto(p.dir, ['package.json', 'README.md', ...p.manifest.files.filter((file) => file !== p.binary)], to)
  copyFileSync(p.source, join(to, p.binary))
  packed.push({ ...pack(to), from: p.source })
}

// The main package: the files `npm publish` would take from here, and the manifest it would send
// after `napi prepublish`.
const [{ files }] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], '.', true))
const main = join(stage, root.name)
copyInto('.', files.map((f) => f.path).filter((path) => path !== 'package.json'), main)
const optionalDependencies = Object.fromEntries(packages.map((p) => [p.manifest.name, root.version]))
writeFileSync(join(main, 'package.json'), JSON.stringify({ ...root, optionalDependencies }, null, 2) + '\n')
if (files.some((f) => /\.(node|wasm)$/.test(f.path))) fail('the main package would carry a binary (.node or .wasm)')
packed.push({ ...pack(main), from: 'package.json + dist/' })
rmSync(stage, { recursive: true })

for (const { file, size, from } of packed) {
  console.log(`${join(out, file).padEnd(44)} ${`${(size / 1024).toFixed(1)} KiB`.padStart(10)}  (${from})`)
}
console.log(`packed ${packed.length} of ${packages.length + 1} packages` +
  (missing.length > 0 ? `; skipped, no binary: ${missing.map((p) => p.name).join(', ')}` : ''))
