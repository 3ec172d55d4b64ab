/**
 * The prebuilt binaries (`npm run build:targets` puts them in npm/<platform>/): each is a shared
 * library for its platform's architecture that exports napi-rs's entry point and needs only the
 * libc of its platform. glibc ones need no symbol version newer than GLIBC_2.17 (what they are
 * linked against, as napi-rs's own cross builds are), so they load on every glibc Node 20 runs on.
 * A binary that has not been built is a skip that says how to build it.
 */
import test from 'ava'
import fs from 'node:fs'

import { type ObjectFile, readObjectFile } from './objfile.js'

/** A published target and what its binary must be. */
interface Target {
  readonly triple: string
  readonly platform: string
  readonly format: ObjectFile['format']
  readonly arch: 'x64' | 'arm64'
  readonly libc: 'glibc' | 'musl' | 'freebsd' | 'darwin'
}

const TARGETS: readonly Target[] = [
  { triple: 'x86_64-unknown-linux-gnu', platform: 'linux-x64-gnu', format: 'elf', arch: 'x64', libc: 'glibc' },
  { triple: 'aarch64-unknown-linux-gnu', platform: 'linux-arm64-gnu', format: 'elf', arch: 'arm64', libc: 'glibc' },
  { triple: 'x86_64-unknown-linux-musl', platform: 'linux-x64-musl', format: 'elf', arch: 'x64', libc: 'musl' },
  { triple: 'aarch64-unknown-linux-musl', platform: 'linux-arm64-musl', format: 'elf', arch: 'arm64', libc: 'musl' },
  { triple: 'x86_64-apple-darwin', platform: 'darwin-x64', format: 'macho', arch: 'x64', libc: 'darwin' },
  { triple: 'aarch64-apple-darwin', platform: 'darwin-arm64', format: 'macho', arch: 'arm64', libc: 'darwin' },
  { triple: 'x86_64-unknown-freebsd', platform: 'freebsd-x64', format: 'elf', arch: 'x64', libc: 'freebsd' },
]

const GLIBC_MAX = [2, 17]
const GLIBC_LIBRARY = /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux.*)$/

const binaryPath = (target: Target) => `npm/${target.platform}/fdpoll.${target.platform}.node`

/** Every way `file` differs from what `target`'s binary must be (none: it passes). */
function problems(file: ObjectFile, target: Target): string[] {
  const found: string[] = []
  if (file.format !== target.format) found.push(`format ${file.format}, want ${target.format}`)
  if (file.arch !== target.arch) found.push(`architecture ${file.arch}, want ${target.arch}`)
  if (!file.sharedLibrary) found.push('not a shared library')
  if (!file.exports.has('napi_register_module_v1')) found.push('napi_register_module_v1 is not exported')
  const glibc = [
    ...file.needed.filter((lib) => GLIBC_LIBRARY.test(lib)),
    ...file.versionNeeds.filter((need) => need.includes('GLIBC_')),
  ]
  const needs = (lib: string) => {
    if (!file.needed.includes(lib)) found.push(`does not need ${lib}`)
  }
  switch (target.libc) {
    case 'glibc':
      needs('libc.so.6')
      for (const need of file.versionNeeds.filter((n) => n.includes('GLIBC_'))) {
        const version = /GLIBC_(\d+)\.(\d+)/.exec(need)
        if (!version || compare([Number(version[1]), Number(version[2])], GLIBC_MAX) > 0) {
          found.push(`needs ${need} (allowed: GLIBC_${GLIBC_MAX.join('.')} and older)`)
        }
      }
      break
    case 'musl':
      needs('libc.so')
      if (glibc.length) found.push(`needs glibc: ${glibc.join(', ')}`)
      break
    case 'freebsd':
      needs('libc.so.7')
      if (glibc.length) found.push(`needs glibc: ${glibc.join(', ')}`)
      break
    case 'darwin': {
      needs('/usr/lib/libSystem.B.dylib')
      const napi = [...file.imports].filter(([name]) => name.startsWith('napi_'))
      if (napi.length === 0) found.push('imports no napi_* function')
      const bound = napi.filter(([, how]) => how !== 'any-image').map(([name]) => name)
      if (bound.length) found.push(`napi_* bound to a named library, not looked up in node (no -undefined dynamic_lookup): ${bound.join(', ')}`)
      if (target.arch === 'arm64' && !file.codeSigned) found.push('no code signature (macOS runs no unsigned arm64 code)')
      break
    }
  }
  return found
}

/** > 0 if version `a` is newer than `b`, 0 if equal, < 0 if older. */
function compare(a: number[], b: number[]): number {
  return a[0] - b[0] || a[1] - b[1]
}

/** What a binary needs, for the test log. */
function describe(file: ObjectFile): string {
  const versions = [...new Set(file.versionNeeds.map((need) => need.split(': ')[1]))]
  const napi = [...file.imports].filter(([name, how]) => name.startsWith('napi_') && how === 'any-image').length
  return `needs ${file.needed.join(', ')}${versions.length ? `; versions ${versions.join(' ')}` : ''}` +
    (file.format === 'macho' ? `; ${napi} napi_* imports looked up in any image${file.codeSigned ? '; code-signed' : ''}` : '')
}

for (const target of TARGETS) {
  const title = `${target.platform}: ${target.arch} ${target.format} shared library exporting napi_register_module_v1, ${target.libc} only`
  if (!fs.existsSync(binaryPath(target))) {
    test.skip(`${title} (not built: run npm run build:targets ${target.triple})`, () => {})
    continue
  }
  test(title, (t) => {
    const file = readObjectFile(fs.readFileSync(binaryPath(target)))
    t.log(describe(file))
    t.deepEqual(problems(file, target), [])
  })
}

const built = TARGETS.filter((target) => fs.existsSync(binaryPath(target)))
const anyBuilt = built.length ? test : test.skip
anyBuilt(`the checks catch each built binary relabelled as the other architecture${built.length ? '' : ' (none built: run npm run build:targets)'}`, (t) => {
  for (const target of built) {
    const bytes = fs.readFileSync(binaryPath(target))
    const other = target.arch === 'x64' ? 'arm64' : 'x64'
    if (target.format === 'elf') bytes.writeUInt16LE(other === 'x64' ? 62 : 183, 18) // e_machine
    else bytes.writeUInt32LE(other === 'x64' ? 0x01000007 : 0x0100000c, 4) // cputype
    t.deepEqual(problems(readObjectFile(bytes), target), [`architecture ${other}, want ${target.arch}`], target.platform)
  }
})

const hostNode = process.platform === 'linux' && process.arch === 'x64' && readObjectFile(fs.readFileSync(process.execPath)).needed.includes('libc.so.6')
const onGlibcNode = hostNode ? test : test.skip
onGlibcNode(`the checks catch an executable that needs a newer glibc: this node, as each Linux x64 binary${hostNode ? '' : ' (needs x64 Linux with a glibc node)'}`, (t) => {
  const node = readObjectFile(fs.readFileSync(process.execPath))
  const [gnu, musl] = ['linux-x64-gnu', 'linux-x64-musl'].map((p) => TARGETS.find((target) => target.platform === p)!)
  const asGnu = problems(node, gnu)
  t.deepEqual(asGnu.slice(0, 2), ['not a shared library', 'napi_register_module_v1 is not exported'])
  t.regex(asGnu.slice(2).join('\n'), /^needs lib\S+: GLIBC_2\.(1[89]|[2-9]\d)\b.* \(allowed: GLIBC_2\.17 and older\)$/m)
  const asMusl = problems(node, musl)
  t.deepEqual(asMusl.slice(0, 3), ['not a shared library', 'napi_register_module_v1 is not exported', 'does not need libc.so'])
  t.regex(asMusl[3], /^needs glibc: .*libc\.so\.6.*GLIBC_/)
})

/**
 * Rebinds, in a Mach-O's bind opcodes, every napi_* import that dyld looks up in any image to
 * library ordinal 1 instead: SET_DYLIB_SPECIAL_IMM -2 (0x3e) right before or after SET_SYMBOL
 * (0x4_) and the name becomes SET_DYLIB_ORDINAL_IMM 1 (0x11), which is what a link without
 * -undefined dynamic_lookup that named some library would look like. Returns how many it changed.
 */
function bindNapiToLibrary(bytes: Buffer): number {
  let changed = 0
  for (let at = bytes.indexOf('_napi_'); at >= 2; at = bytes.indexOf('_napi_', at + 1)) {
    if ((bytes[at - 1] & 0xf0) !== 0x40) continue // a name in the string table, not in an opcode
    const after = bytes.indexOf(0, at) + 1
    for (const opcode of [at - 2, after]) {
      if (bytes[opcode] === 0x3e) {
        bytes[opcode] = 0x11
        changed++
      }
    }
  }
  return changed
}

const darwin = built.filter((target) => target.format === 'macho')
const anyDarwin = darwin.length ? test : test.skip
anyDarwin(`the checks catch a macOS binary whose napi_* imports are bound to a library${darwin.length ? '' : ' (no macOS binary built: run npm run build:targets x86_64-apple-darwin)'}`, (t) => {
  for (const target of darwin) {
    const bytes = fs.readFileSync(binaryPath(target))
    t.true(bindNapiToLibrary(bytes) > 0, `${target.platform}: no flat-lookup napi_* bind opcode found`)
    const found = problems(readObjectFile(bytes), target)
    t.is(found.length, 1, target.platform)
    t.true(found[0].startsWith('napi_* bound to a named library'), found[0])
  }
})
