/**
 * The one module that reaches the native addon, or the WebAssembly build in its place.
 * - By default, napi-rs's generated loader (`./binding.js`) picks this platform's binary: a local
 *   build beside it, else the `fdpoll-<platform>` package that npm installs as an optional
 *   dependency. Where none loads, the WebAssembly build stands in (below), with a warning
 *   (FALLBACK_WARNING) that names this platform, the supported ones (package.json's
 *   `napi.targets`) and how to get the native addon. Where that does not load either, the error
 *   names both failures; with `FDPOLL_BACKEND=native`, there is no fallback and the error names
 *   the native failure alone (the loader's error as `cause`).
 * - With `FDPOLL_BACKEND=wasm`, the WebAssembly build (`backend` is then 'wasm'): this clone's
 *   build (`npm run build:wasm` puts it in npm/wasm32-wasi/), else the `fdpoll-wasm32-wasi`
 *   package. Its loader (npm/wasm32-wasi/fdpoll.wasi.cjs) runs it with @napi-rs/wasm-runtime.
 *   It exports the constants, the epoll functions and the in-memory engine's host API
 *   (`WasmHost`); ./wasm/binding.ts makes its waits block and adds the sockets (over a socket
 *   host: Node's sockets in a worker), poll, select, the fast path and the watch on Node's loop.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type * as Binding from './binding.js'
import { wasmBinding } from './wasm/binding.js'
import type { WasmHost } from './wasm/wait.js'

/** napi-rs's name for a target triple: `x86_64-unknown-linux-gnu` → `linux-x64-gnu`. */
function platformOf(triple: string): string {
  const [arch, , os, abi] = triple.split('-')
  const cpu = ({ x86_64: 'x64', aarch64: 'arm64' } as Record<string, string>)[arch] ?? arch
  return abi ? `${os}-${cpu}-${abi}` : `${os}-${cpu}`
}

/** The error for a failed load: this platform, the supported ones, and the loader's error. */
function unsupported(cause: unknown): Error {
  const { napi } = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8'))
  const supported = (napi.targets as string[]).map(platformOf)
  let platform = `${process.platform}-${process.arch}`
  let libc = ''
  if (process.platform === 'linux') {
    const { header } = process.report.getReport() as { header: { glibcVersionRuntime?: string } }
    platform += header.glibcVersionRuntime ? '-gnu' : '-musl'
    libc = header.glibcVersionRuntime ? `, glibc ${header.glibcVersionRuntime}` : ', musl'
  }
  const why = supported.includes(platform)
    ? `its package fdpoll-${platform} is missing or did not load (npm installs it as an ` +
      'optional dependency: reinstall without --omit=optional / --no-optional)'
    : 'fdpoll has no prebuilt binary for this platform'
  return new Error(
    `fdpoll cannot load its native addon on ${platform} (process.platform ${process.platform}, ` +
      `process.arch ${process.arch}${libc}): ${why}. Supported platforms: ${supported.join(', ')}.`,
    { cause },
  )
}

/** The WebAssembly build: this clone's, else the installed package's. */
function loadWasm(): typeof Binding {
  // A path computed at run time, so that the bundle in dist/ requires it rather than embedding it.
  const local = join(__dirname, '..', 'npm', 'wasm32-wasi')
  const built = existsSync(join(local, 'fdpoll.wasm32-wasi.wasm'))
  try {
    return require(built ? join(local, 'fdpoll.wasi.cjs') : 'fdpoll-wasm32-wasi')
  } catch (cause) {
    throw new Error('fdpoll cannot load its WebAssembly build: its package ' +
      'fdpoll-wasm32-wasi is missing or did not load (npm installs it as an optional dependency: ' +
      'reinstall without --omit=optional / --no-optional)', { cause })
  }
}

/** The code of the warning that the WebAssembly build runs because the native addon did not load. */
const FALLBACK_WARNING = 'FDPOLL_WASM_FALLBACK'

/**
 * The WebAssembly build in place of the native addon that failed with `nativeError`, with a
 * warning (once: this module loads once) saying why and how to get the native addon; where the
 * WebAssembly build does not load either, an AggregateError of both failures, naming both.
 */
function fallBack(nativeError: unknown): typeof Binding {
  const native = unsupported(nativeError)
  let binding: typeof Binding
  try {
    binding = load('wasm')
  } catch (wasmError) {
    throw new AggregateError([native, wasmError], `${native.message} Nor could it fall back to its ` +
      `WebAssembly build: ${(wasmError as Error).message}.`)
  }
  process.emitWarning(`${native.message} fdpoll runs its WebAssembly build instead, which is much ` +
    'slower. FDPOLL_BACKEND=wasm chooses it without this warning; FDPOLL_BACKEND=native makes this ' +
    'an error.', { code: FALLBACK_WARNING })
  return binding
}

/**
 * Loads the addon once: the one `backend` (`FDPOLL_BACKEND`) names, by default the native one
 * or else the WebAssembly build; throws the errors above where it cannot.
 */
function load(backend = process.env.FDPOLL_BACKEND ?? ''): typeof Binding {
  if (backend === 'wasm') return wasmBinding(loadWasm() as typeof Binding & WasmHost)
  if (backend !== '' && backend !== 'native') {
    throw new Error(`FDPOLL_BACKEND is '${backend}': it can be 'native' (the default) or 'wasm'`)
  }
  let cause: unknown
  try {
    const binding: typeof Binding = require('./binding.js')
    if (binding.BACKEND !== 'wasm') return binding
    // Where no native binary loads, napi-rs's loader takes the fdpoll-wasm32-wasi package itself
    // (without what load('wasm') adds to it, and keeping the native errors to itself).
    cause = new Error("napi-rs's loader (binding.js) loaded no native binary, neither a local build " +
      "beside it nor this platform's fdpoll-<platform> package (requiring that package shows why)")
  } catch (error) {
    cause = error
  }
  if (backend === 'native') throw unsupported(cause)
  return fallBack(cause)
}

/** The addon's functions and constants (see binding.d.ts); importers destructure them once. */
const native: typeof Binding = load()
/** The addon's types that the modules above name. */
declare namespace native {
  export type Watcher = Binding.Watcher
  export type SockAddress = Binding.SockAddress
}
export = native
