/**
 * The one module that reaches the native addon. napi-rs's generated loader (`./binding.js`)
 * picks this platform's binary: a local build beside it, else the `fdpoll-<platform>` package
 * that npm installs as an optional dependency. Where none loads, the error names this platform
 * and the supported ones (package.json's `napi.targets`), with the loader's error as `cause`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type * as Binding from './binding.js'

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

/** Loads the addon once; throws the error above where it cannot. */
function load(): typeof Binding {
  try {
    return require('./binding.js')
  } catch (cause) {
    throw unsupported(cause)
  }
}

/** The addon's functions and constants (see binding.d.ts); importers destructure them once. */
const native: typeof Binding = load()
/** The addon's types that the modules above name. */
declare namespace native {
  export type Watcher = Binding.Watcher
  export type SockAddress = Binding.SockAddress
}
export = native
