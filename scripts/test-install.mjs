// Installs fdpoll as a user does, on this machine. Every tarball in artifacts/ (`npm run pack:all`)
// is published to a private registry (verdaccio 6.8.0 on 127.0.0.1 with no uplinks, so nothing
// comes from the public one), platform packages first, and beside them the WebAssembly package's
// dependencies as this clone's node_modules holds them. Then an empty project with no cargo or
// rustc on PATH runs `npm install fdpoll`, must get this platform's binary package and no other
// (and fdpoll-wasm32-wasi, which has no os or cpu), and serves examples/hello-world.ts (types
// stripped, importing the installed 'fdpoll') to curl. A second project installs as a machine no
// binary fits (`npm install --cpu=riscv64`): it must get fdpoll-wasm32-wasi and no platform
// package, and plain `node` with no FDPOLL_BACKEND must run fdpoll on the WebAssembly build, with
// the fallback's warning.
// Exits non-zero on any failure; always stops what it started and removes its temp folder.
import { transformSync } from 'esbuild'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import {
  cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, realpathSync, rmSync, symlinkSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { promisify } from 'node:util'

const VERDACCIO = '6.8.0'
/** The whole run, verdaccio's first install included, ends within this. */
const DEADLINE_MS = 10 * 60_000
const root = JSON.parse(readFileSync('package.json', 'utf8'))
const artifacts = resolve('artifacts')
const verdaccioDir = resolve('target/verdaccio')
const tmp = mkdtempSync(join(tmpdir(), 'fdpoll-install-'))
/** Processes started here, stopped in `cleanup`. */
const children = new Set()

/** Runs a program to completion within `timeoutMs`: its stdout and stderr, or an error with them. */
async function runBoth(file, args, { timeoutMs = 120_000, ...options } = {}) {
  try {
    const settings = { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 24, ...options }
    return await promisify(execFile)(file, args, settings)
  } catch (err) {
    throw new Error(`${file} ${args.join(' ')} failed (${err.signal ?? `exit ${err.code}`}):\n${err.stdout ?? ''}${err.stderr ?? err.message}`)
  }
}

/** Runs a program to completion within `timeoutMs`: its stdout, or an error with its output. */
async function run(file, args, options) {
  return (await runBoth(file, args, options)).stdout
}

/** Starts a long-running program (stopped in `cleanup`): the first match of `ready` in its stdout. */
async function start(file, args, ready, { timeoutMs = 60_000, ...options } = {}) {
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  children.add(child)
  child.once('exit', () => children.delete(child))
  let stderr = ''
  child.stderr.on('data', (chunk) => { stderr += chunk })
  const lines = createInterface({ input: child.stdout })
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    for await (const line of lines) {
      const match = ready.exec(line)
      if (match) return match
    }
    throw new Error(`${file} ${args.join(' ')} ended (or timed out, ${timeoutMs / 1000} s) before it was ready:\n${stderr}`)
  } finally {
    clearTimeout(timer)
    child.stdout.resume()
  }
}

/** Stops every process started here and removes the temp folder. */
async function cleanup() {
  await Promise.all([...children].map(async (child) => {
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 5_000)
    await exited
    clearTimeout(timer)
  }))
  rmSync(tmp, { recursive: true, force: true })
}

/** Checks a condition of the installed result; throws `message` when it does not hold. */
function check(ok, message) {
  if (!ok) throw new Error(message)
  console.log(`ok: ${message}`)
}

/** verdaccio in target/verdaccio, installed once (node-fetch pinned, so it runs on Node 20). */
async function installVerdaccio() {
  const installed = join(verdaccioDir, 'node_modules/verdaccio/package.json')
  if (existsSync(installed) && JSON.parse(readFileSync(installed, 'utf8')).version === VERDACCIO) return
  mkdirSync(verdaccioDir, { recursive: true })
  writeFileSync(join(verdaccioDir, 'package.json'), JSON.stringify({
    private: true,
    description: 'The registry of scripts/test-install.mjs',
    dependencies: { verdaccio: VERDACCIO },
    overrides: { 'node-fetch': '2.7.0' },
  }, null, 2) + '\n')
  console.log(`installing verdaccio ${VERDACCIO} into ${verdaccioDir}`)
  await run('npm', ['install', '--no-audit', '--no-fund'], { cwd: verdaccioDir, timeoutMs: 300_000 })
}

/** Starts verdaccio on a free port of 127.0.0.1: storage in the temp folder, no uplinks. */
async function startRegistry() {
  const config = join(tmp, 'verdaccio.yaml')
  writeFileSync(config, [
    `storage: ${join(tmp, 'storage')}`,
    'uplinks: {}',
    'packages:',
    "  '**':",
    '    access: $all',
    '    publish: $anonymous',
    'log: { type: stdout, format: json, level: error }',
    '',
  ].join('\n'))
  const server = 'require(process.argv[1]).runServer(process.argv[2]).then((app) => ' +
    "app.listen(0, '127.0.0.1', () => console.log('port ' + app.address().port)))"
  const verdaccio = join(verdaccioDir, 'node_modules/verdaccio')
  const match = await start(process.execPath, ['-e', server, verdaccio, config], /^port (\d+)$/)
  return `http://127.0.0.1:${match[1]}/`
}

/** This machine in napi-rs's platform naming: `linux-x64-gnu`, `darwin-arm64`, ... */
function hostPlatform() {
  if (process.platform !== 'linux') return `${process.platform}-${process.arch}`
  return `linux-${process.arch}-${process.report.getReport().header.glibcVersionRuntime ? 'gnu' : 'musl'}`
}

/** Where `name` is installed for `dir`, as node looks it up (each node_modules upwards). */
function installedDir(name, dir) {
  for (let at = resolve(dir); ; at = dirname(at)) {
    const candidate = join(at, 'node_modules', name)
    if (existsSync(join(candidate, 'package.json'))) return candidate
    if (dirname(at) === at) throw new Error(`${name}, which ${dir} needs, is not installed: run npm ci`)
  }
}

/**
 * The installed packages (their folders, by name) that the package in `dir` depends on, all the
 * way down: what the WebAssembly package needs from the registry besides fdpoll's own.
 */
function dependencies(dir, found = new Map()) {
  const manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  for (const name of Object.keys(manifest.dependencies ?? {})) {
    if (found.has(name)) continue
    found.set(name, installedDir(name, dir))
    dependencies(found.get(name), found)
  }
  return found
}

/**
 * Publishes the installed package in `dir` as it is, but for its `publishConfig` (which could
 * name the public registry) and `scripts` (which could build what is already built).
 */
async function publishInstalled(dir, npmArgs, env) {
  const copy = join(tmp, 'deps', `${dir.split('node_modules/').pop()}`)
  cpSync(dir, copy, { recursive: true, filter: (from) => !from.slice(dir.length).includes('node_modules') })
  const { publishConfig, scripts, ...manifest } = JSON.parse(readFileSync(join(copy, 'package.json'), 'utf8'))
  writeFileSync(join(copy, 'package.json'), JSON.stringify(manifest, null, 2) + '\n')
  await run('npm', ['publish', copy, '--ignore-scripts', '--tag', 'latest', ...npmArgs], { env })
  return `${manifest.name}@${manifest.version}`
}

/** Every file under `dir` whose name ends with `suffix`. */
function findFiles(dir, suffix) {
  return readdirSync(dir, { recursive: true }).filter((file) => file.endsWith(suffix))
}

/**
 * Run by plain node in the project that got the WebAssembly build: `backend`, and an epoll round
 * trip on it (a message to an IOLoop, whose Epoll wakes on the loop's waker).
 */
const ROUND_TRIP = `
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
console.log(JSON.stringify({ backend, received }))
`

/** Serves examples/hello-world.ts (types stripped) with plain node from `project`, to curl. */
async function serveHelloWorld(node, project, env) {
  const example = readFileSync('examples/hello-world.ts', 'utf8')
  writeFileSync(join(project, 'hello-world.mjs'), transformSync(example, { loader: 'ts', format: 'esm' }).code)
  const match = await start(node, ['hello-world.mjs'], /^Serving on (\S+)$/, { cwd: project, env: { ...env, PORT: '0' } })
  const body = await run('curl', ['-sS', '--max-time', '10', match[1]])
  check(body === 'Hello, world!', `the installed hello-world server answered curl at ${match[1]} with "${body}"`)
}

async function main() {
  const mainTarball = `${root.name}-${root.version}.tgz`
  const wasmPackage = `${root.name}-wasm32-wasi`
  const tarballs = existsSync(artifacts) ? readdirSync(artifacts).filter((f) => f.endsWith('.tgz')) : []
  if (!tarballs.includes(mainTarball)) throw new Error(`no artifacts/${mainTarball}: run npm run pack:all first`)
  const platforms = tarballs.filter((f) => f !== mainTarball).map((f) => f.slice(0, -`-${root.version}.tgz`.length))
  if (!platforms.includes(wasmPackage)) {
    throw new Error(`no artifacts/${wasmPackage}-${root.version}.tgz: run npm run build:wasm, then npm run pack:all`)
  }

  await installVerdaccio()
  const registry = await startRegistry()
  console.log(`registry ${registry} (storage in ${tmp})`)

  // npm as a user runs it: only this registry, a fresh cache, none of `npm run`'s settings.
  const npmrc = join(tmp, 'npmrc')
  writeFileSync(npmrc, `registry=${registry}\n${registry.replace(/^http:/, '')}:_authToken=anonymous\n`)
  // (And no FDPOLL_BACKEND or napi-rs loader setting: fdpoll picks its backend itself.)
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^(npm_|FDPOLL_|NAPI_RS_)/i.test(key)))
  const npmArgs = ['--userconfig', npmrc, '--cache', join(tmp, 'cache'), '--no-audit', '--no-fund']
  for (const tarball of [...platforms.map((p) => `${p}-${root.version}.tgz`), mainTarball]) {
    await run('npm', ['publish', join(artifacts, tarball), ...npmArgs], { env })
    console.log(`published ${tarball}`)
  }
  const runtime = [...dependencies('npm/wasm32-wasi').values()]
  const published = await Promise.all(runtime.map((dir) => publishInstalled(dir, npmArgs, env)))
  console.log(`published ${wasmPackage}'s dependencies from node_modules: ${published.join(', ')}`)

  // A PATH with node and npm only.
  const bin = join(tmp, 'bin')
  mkdirSync(bin)
  symlinkSync(process.execPath, join(bin, 'node'))
  symlinkSync(realpathSync((await run('sh', ['-c', 'command -v npm'])).trim()), join(bin, 'npm'))
  const user = { ...env, PATH: bin }
  const node = join(bin, 'node')
  /** An empty project in the temp folder. */
  const newProject = (name) => {
    const project = join(tmp, name)
    mkdirSync(project)
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'fdpoll-user', version: '1.0.0', private: true }))
    return project
  }
  const project = newProject('project')
  const compilers = await run('/bin/sh', ['-c', 'command -v cargo rustc; true'], { env: user })
  check(compilers === '', 'no cargo or rustc on the PATH npm install runs with')

  await run(join(bin, 'npm'), ['install', 'fdpoll', '--registry', registry, ...npmArgs], { cwd: project, env: user })
  const modules = join(project, 'node_modules')
  const installed = JSON.parse(readFileSync(join(modules, 'fdpoll/package.json'), 'utf8'))
  check(installed.version === root.version, `npm install fdpoll installed fdpoll@${root.version}`)
  check(findFiles(join(modules, 'fdpoll'), '.node').length === 0, 'node_modules/fdpoll carries no .node file')
  const host = `${root.name}-${hostPlatform()}`
  const binaries = existsSync(join(modules, host)) ? findFiles(join(modules, host), '.node') : []
  check(binaries.length === 1, `node_modules/${host} holds the binary`)
  const others = readdirSync(modules).filter((dir) => dir.startsWith(`${root.name}-`) && dir !== host && dir !== wasmPackage)
  check(others.length === 0, `no other platform's package was installed (found: ${others.join(', ') || 'none'})`)
  console.log(`   skipped though in the registry: ${platforms.filter((p) => p !== host && p !== wasmPackage).join(', ') || 'none'}`)
  const wasmFiles = existsSync(join(modules, wasmPackage)) ? findFiles(join(modules, wasmPackage), '.wasm') : []
  check(wasmFiles.length === 1, `node_modules/${wasmPackage} came too, with its .wasm (it names no os or cpu)`)

  const { stdout, stderr } = await runBoth(node, ['-p', "require('fdpoll').backend"], { cwd: project, env: user })
  check(stdout.trim() === (process.platform === 'linux' ? 'epoll' : 'mio'), `require('fdpoll').backend is ${stdout.trim()}`)
  check(stderr === '', `with no warning (stderr: "${stderr.trim()}")`)
  await serveHelloWorld(node, project, user)

  // A machine no prebuilt binary fits: npm (10 and later) takes --cpu for optional dependencies.
  const wasmProject = newProject('project-wasm')
  await run(join(bin, 'npm'), ['install', 'fdpoll', '--cpu=riscv64', '--registry', registry, ...npmArgs], { cwd: wasmProject, env: user })
  const wasmModules = join(wasmProject, 'node_modules')
  const binaryPackages = readdirSync(wasmModules).filter((dir) => dir.startsWith(`${root.name}-`) && dir !== wasmPackage)
  check(binaryPackages.length === 0, `npm install --cpu=riscv64 installed no platform package (found: ${binaryPackages.join(', ') || 'none'})`)
  check(findFiles(join(wasmModules, wasmPackage), '.wasm').length === 1, `node_modules/${wasmPackage} holds the .wasm`)
  writeFileSync(join(wasmProject, 'round-trip.cjs'), ROUND_TRIP)
  const fallback = await runBoth(node, ['round-trip.cjs'], { cwd: wasmProject, env: user, timeoutMs: 30_000 })
  const result = JSON.parse(fallback.stdout)
  check(result.backend === 'wasm', `there, plain node with no FDPOLL_BACKEND runs the WebAssembly build: backend is ${result.backend}`)
  check(result.received === 'ping', `an IOLoop there got "${result.received}" through its waker, woken in the WebAssembly epoll`)
  const warning = /\[FDPOLL_WASM_FALLBACK\] Warning: fdpoll cannot load its native addon .*WebAssembly build instead/
  check(warning.test(fallback.stderr), `with the FDPOLL_WASM_FALLBACK warning on stderr: "${fallback.stderr.trim().slice(0, 100)}..."`)
  await serveHelloWorld(node, wasmProject, user)
}

const watchdog = setTimeout(async () => {
  console.error(`test-install: gave up after ${DEADLINE_MS / 1000} s`)
  await cleanup()
  process.exit(1)
}, DEADLINE_MS)
try {
  await main()
  console.log('test-install: passed')
} catch (err) {
  console.error(`test-install: FAILED: ${err.message}`)
  process.exitCode = 1
} finally {
  await cleanup()
  clearTimeout(watchdog)
}
