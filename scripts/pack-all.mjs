// Packs every publishable package into artifacts/, exactly as it would be published: one
// `fdpoll-<platform>` package per target in package.json's `napi.targets` (npm/<platform>/ with
// its binary), and the main package with all of them in `optionalDependencies` at its own version.
// Those are added here, in a staged copy, as `napi prepublish` does: in package.json they would
// have to be in the clone's lock file, which npm cannot write while they are not on the registry.
//
// Usage: node scripts/pack-all.mjs [--skip-missing]
// A platform's binary is npm/<platform>/fdpoll.<platform>.node (`npm run build:targets`), or for
// the host, src/'s from `npm run build`. One missing is an error; --skip-missing leaves that
// package out (the main package still lists it) and the summary says so.
import { parseTriple } from '@napi-rs/cli'
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

/** Stops with `message` and exit status 1. */
function fail(message) {
  console.error(`pack-all: ${message}`)
  process.exit(1)
}

const skipMissing = process.argv.includes('--skip-missing')
const unknown = process.argv.slice(2).filter((arg) => arg !== '--skip-missing')
if (unknown.length > 0) fail(`unknown arguments ${unknown.join(' ')} (only --skip-missing)`)

const root = JSON.parse(readFileSync('package.json', 'utf8'))
const artifacts = resolve('artifacts')
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
/** Each target's platform package: its folder, manifest and binary (null when not built). */
const platforms = root.napi.targets.map((triple) => {
  const name = parseTriple(triple).platformArchABI
  const dir = join('npm', name)
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  if (manifest.name !== `${root.name}-${name}` || manifest.version !== root.version) {
    fail(`${dir}/package.json: expected ${root.name}-${name}@${root.version}, found ${manifest.name}@${manifest.version}`)
  }
  const binary = manifest.main
  const source = [join(dir, binary), join('src', binary)].find((path) => existsSync(path)) ?? null
  return { name, dir, manifest, binary, source }
})

const missing = platforms.filter((p) => p.source === null)
if (missing.length > 0 && !skipMissing) {
  fail(`no binary for ${missing.map((p) => p.name).join(', ')} ` +
    '(npm run build:targets builds them; --skip-missing packs the rest)')
}

rmSync(artifacts, { recursive: true, force: true })
mkdirSync(stage, { recursive: true })
const packed = []
for (const p of platforms.filter((p) => p.source !== null)) {
  const to = join(stage, p.name)
  copyInto(p.dir, ['package.json', 'README.md'], to)
  copyFileSync(p.source, join(to, p.binary))
  packed.push({ ...pack(to), from: p.source })
}

// The main package: the files `npm publish` would take from here, and the manifest it would send
// after `napi prepublish`.
const [{ files }] = JSON.parse(npm(['pack', '--dry-run', '--json', '--ignore-scripts'], '.', true))
const main = join(stage, root.name)
copyInto('.', files.map((f) => f.path).filter((path) => path !== 'package.json'), main)
const optionalDependencies = Object.fromEntries(platforms.map((p) => [p.manifest.name, root.version]))
writeFileSync(join(main, 'package.json'), JSON.stringify({ ...root, optionalDependencies }, null, 2) + '\n')
if (files.some((f) => f.path.endsWith('.node'))) fail('the main package would carry a .node file')
packed.push({ ...pack(main), from: 'package.json + dist/' })
rmSync(stage, { recursive: true })

for (const { file, size, from } of packed) {
  console.log(`${`artifacts/${file}`.padEnd(44)} ${`${(size / 1024).toFixed(1)} KiB`.padStart(10)}  (${from})`)
}
console.log(`packed ${packed.length} of ${platforms.length + 1} packages` +
  (missing.length > 0 ? `; skipped, no binary: ${missing.map((p) => p.name).join(', ')}` : ''))
