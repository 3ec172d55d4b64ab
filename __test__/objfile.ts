/**
 * Reads what the binaries test checks from a 64-bit little-endian ELF or Mach-O file: machine,
 * kind, exported and imported symbols, the libraries it needs and (ELF) the symbol versions it
 * needs. Only the structures those answers live in are parsed; anything else is an error.
 */

/** What an object file says about itself. */
export interface ObjectFile {
  readonly format: 'elf' | 'macho'
  /** `x64`, `arm64`, or the raw machine number for anything else. */
  readonly arch: string
  /** A shared library (ELF ET_DYN without an interpreter; Mach-O MH_DYLIB or MH_BUNDLE). */
  readonly sharedLibrary: boolean
  /** Symbols it defines for others, without Mach-O's leading underscore. */
  readonly exports: ReadonlySet<string>
  /** Libraries it names as needed: ELF DT_NEEDED, Mach-O LC_LOAD_DYLIB. */
  readonly needed: readonly string[]
  /** ELF symbol versions it needs (verneed), as `file: version`, e.g. `libc.so.6: GLIBC_2.17`. */
  readonly versionNeeds: readonly string[]
  /** Mach-O: the symbols dyld binds (bind opcodes or chained fixups), with where it looks each up. */
  readonly imports: ReadonlyMap<string, Import>
  /** Mach-O: carries a code signature (LC_CODE_SIGNATURE), which macOS requires of arm64 code. */
  readonly codeSigned: boolean
}

/** Where dyld looks an import up: in every loaded image (flat lookup), or in one library. */
export type Import = 'any-image' | 'named-library'

/** Parses `bytes` as an ELF or Mach-O file. */
export function readObjectFile(bytes: Buffer): ObjectFile {
  if (bytes.length >= 4 && bytes.readUInt32BE(0) === 0x7f454c46) return readElf(bytes)
  if (bytes.length >= 4 && bytes.readUInt32LE(0) === 0xfeedfacf) return readMachO(bytes)
  throw new Error('neither a 64-bit little-endian Mach-O nor an ELF file')
}

/** The NUL-terminated string at `offset`. */
function cString(bytes: Buffer, offset: number): string {
  const end = bytes.indexOf(0, offset)
  if (offset >= bytes.length || end < 0) throw new Error(`string offset ${offset} outside the file`)
  return bytes.toString('latin1', offset, end)
}

/** `bytes[offset, offset + size)`, or an error if the file is shorter. */
function slice(bytes: Buffer, offset: number, size: number): Buffer {
  if (offset + size > bytes.length) throw new Error(`truncated: ${size} bytes at ${offset} past the end`)
  return bytes.subarray(offset, offset + size)
}

const ELF_MACHINES: Record<number, string> = { 62: 'x64', 183: 'arm64' }
const SHT_DYNAMIC = 6
const SHT_DYNSYM = 11
const SHT_GNU_VERNEED = 0x6ffffffe
const DT_NEEDED = 1
const PT_INTERP = 3

function readElf(bytes: Buffer): ObjectFile {
  if (bytes[4] !== 2 || bytes[5] !== 1) throw new Error('ELF file is not 64-bit little-endian')
  const type = bytes.readUInt16LE(16)
  const machine = bytes.readUInt16LE(18)
  const phoff = Number(bytes.readBigUInt64LE(0x20))
  const shoff = Number(bytes.readBigUInt64LE(0x28))
  const [phentsize, phnum] = [bytes.readUInt16LE(0x36), bytes.readUInt16LE(0x38)]
  const [shentsize, shnum] = [bytes.readUInt16LE(0x3a), bytes.readUInt16LE(0x3c)]

  let interpreter = false
  for (let i = 0; i < phnum; i++) {
    if (slice(bytes, phoff + i * phentsize, phentsize).readUInt32LE(0) === PT_INTERP) interpreter = true
  }
  const sections = Array.from({ length: shnum }, (_, i) => {
    const h = slice(bytes, shoff + i * shentsize, shentsize)
    return {
      type: h.readUInt32LE(4),
      offset: Number(h.readBigUInt64LE(24)),
      size: Number(h.readBigUInt64LE(32)),
      link: h.readUInt32LE(40),
      info: h.readUInt32LE(44),
    }
  })
  const strings = (section: { link: number }) => sections[section.link]?.offset ?? 0

  const exports = new Set<string>()
  const needed: string[] = []
  const versionNeeds: string[] = []
  for (const s of sections) {
    if (s.type === SHT_DYNSYM) {
      for (let at = s.offset + 24; at + 24 <= s.offset + s.size; at += 24) { // entry 0 is the null symbol
        const sym = slice(bytes, at, 24)
        const name = cString(bytes, strings(s) + sym.readUInt32LE(0))
        const binding = sym[4] >> 4 // 1 global, 2 weak
        const hidden = (sym[5] & 3) !== 0
        const defined = sym.readUInt16LE(6) !== 0 // st_shndx is not SHN_UNDEF
        if (defined && (binding === 1 || binding === 2) && !hidden) exports.add(name)
      }
    } else if (s.type === SHT_DYNAMIC) {
      for (let at = s.offset; at + 16 <= s.offset + s.size; at += 16) {
        const tag = bytes.readBigInt64LE(at)
        if (tag === 0n) break
        if (tag === BigInt(DT_NEEDED)) needed.push(cString(bytes, strings(s) + Number(bytes.readBigUInt64LE(at + 8))))
      }
    } else if (s.type === SHT_GNU_VERNEED) {
      let entry = s.offset
      for (let i = 0; i < s.info; i++) { // Elf64_Verneed, then its Elf64_Vernaux list
        const file = cString(bytes, strings(s) + bytes.readUInt32LE(entry + 4))
        let aux = entry + bytes.readUInt32LE(entry + 8)
        for (let j = 0; j < bytes.readUInt16LE(entry + 2); j++) {
          versionNeeds.push(`${file}: ${cString(bytes, strings(s) + bytes.readUInt32LE(aux + 8))}`)
          aux += bytes.readUInt32LE(aux + 12)
        }
        entry += bytes.readUInt32LE(entry + 12)
      }
    }
  }
  return {
    format: 'elf',
    arch: ELF_MACHINES[machine] ?? `e_machine ${machine}`,
    sharedLibrary: type === 3 /* ET_DYN */ && !interpreter,
    exports,
    needed,
    versionNeeds,
    imports: new Map(),
    codeSigned: false,
  }
}

const MACHO_CPUS: Record<number, string> = { 0x01000007: 'x64', 0x0100000c: 'arm64' }
const LC_SYMTAB = 0x2
const LC_LOAD_DYLIB = 0xc
const LC_CODE_SIGNATURE = 0x1d
const LC_DYLD_INFO = 0x22
const LC_DYLD_INFO_ONLY = 0x80000022
const LC_DYLD_CHAINED_FIXUPS = 0x80000034
const FLAT_LOOKUP = -2 // dyld's ordinal for "search every loaded image" (-undefined dynamic_lookup)

/** An unsigned LEB128 at `at`: its value and the offset after it. */
function uleb(bytes: Buffer, at: number): [number, number] {
  let value = 0
  let scale = 1
  for (;;) {
    const byte = slice(bytes, at++, 1)[0]
    value += (byte & 0x7f) * scale
    scale *= 128
    if (byte < 0x80) return [value, at]
  }
}

/**
 * The symbols dyld binds from `size` bytes of bind opcodes at `offset` (LC_DYLD_INFO's bind or
 * lazy-bind stream), each with the library ordinal it is looked up in. The lazy stream separates
 * its entries with DONE, so the whole range is read.
 */
function bindOpcodes(bytes: Buffer, offset: number, size: number, imports: Map<string, Import>): void {
  let ordinal = 0
  let symbol = ''
  const bind = () => imports.set(symbol.replace(/^_/, ''), ordinal === FLAT_LOOKUP ? 'any-image' : 'named-library')
  for (let at = offset; at < offset + size;) {
    const byte = slice(bytes, at++, 1)[0]
    const [op, imm] = [byte & 0xf0, byte & 0x0f]
    if (op === 0x10) ordinal = imm // SET_DYLIB_ORDINAL_IMM
    else if (op === 0x20) [ordinal, at] = uleb(bytes, at) // SET_DYLIB_ORDINAL_ULEB
    else if (op === 0x30) ordinal = imm === 0 ? 0 : imm - 16 // SET_DYLIB_SPECIAL_IMM: a negative nibble
    else if (op === 0x40) { // SET_SYMBOL_TRAILING_FLAGS_IMM, then the name
      symbol = cString(bytes, at)
      at += symbol.length + 1
    } else if (op === 0x60 || op === 0x70 || op === 0x80 || op === 0xa0) [, at] = uleb(bytes, at) // an addend or address step (SLEB reads the same length)
    else if (op === 0xc0) [, at] = uleb(bytes, uleb(bytes, at)[1]) // DO_BIND_ULEB_TIMES_SKIPPING_ULEB
    else if (op === 0xd0) { // THREADED
      if (imm === 0) [, at] = uleb(bytes, at)
    } else if (op !== 0x00 && op !== 0x50 && op !== 0x90 && op !== 0xb0) throw new Error(`unknown bind opcode 0x${byte.toString(16)}`)
    if (op === 0x90 || op === 0xa0 || op === 0xb0 || op === 0xc0) bind()
  }
}

/** The imports of an LC_DYLD_CHAINED_FIXUPS payload at `offset`, each with its library ordinal. */
function chainedImports(bytes: Buffer, offset: number, imports: Map<string, Import>): void {
  const header = slice(bytes, offset, 28)
  const [importsAt, symbolsAt] = [offset + header.readUInt32LE(8), offset + header.readUInt32LE(12)]
  const [count, format] = [header.readUInt32LE(16), header.readUInt32LE(20)]
  const size = { 1: 4, 2: 8, 3: 16 }[format]
  if (size === undefined) throw new Error(`unknown chained import format ${format}`)
  for (let i = 0; i < count; i++) {
    const at = importsAt + i * size
    // formats 1 and 2: lib_ordinal:8, weak:1, name_offset:23; format 3: lib_ordinal:16, weak:1, -:15, name_offset:32
    const [ordinal, name] = format === 3
      ? [slice(bytes, at, 8).readInt16LE(0), bytes.readUInt32LE(at + 4)]
      : [slice(bytes, at, 4).readInt8(0), bytes.readUInt32LE(at) >>> 9]
    imports.set(cString(bytes, symbolsAt + name).replace(/^_/, ''), ordinal === FLAT_LOOKUP ? 'any-image' : 'named-library')
  }
}

function readMachO(bytes: Buffer): ObjectFile {
  const cpu = bytes.readUInt32LE(4)
  const filetype = bytes.readUInt32LE(12)
  const ncmds = bytes.readUInt32LE(16)
  const exports = new Set<string>()
  const imports = new Map<string, Import>()
  const needed: string[] = []
  let codeSigned = false
  let at = 32 // after mach_header_64
  for (let i = 0; i < ncmds; i++) {
    const cmd = slice(bytes, at, 8).readUInt32LE(0)
    const cmdsize = bytes.readUInt32LE(at + 4)
    if (cmd === LC_LOAD_DYLIB) needed.push(cString(bytes, at + bytes.readUInt32LE(at + 8)))
    if (cmd === LC_CODE_SIGNATURE) codeSigned = true
    if (cmd === LC_DYLD_INFO || cmd === LC_DYLD_INFO_ONLY) {
      bindOpcodes(bytes, bytes.readUInt32LE(at + 16), bytes.readUInt32LE(at + 20), imports)
      bindOpcodes(bytes, bytes.readUInt32LE(at + 32), bytes.readUInt32LE(at + 36), imports)
    }
    if (cmd === LC_DYLD_CHAINED_FIXUPS) chainedImports(bytes, bytes.readUInt32LE(at + 8), imports)
    if (cmd === LC_SYMTAB) {
      const [symoff, nsyms, stroff] = [bytes.readUInt32LE(at + 8), bytes.readUInt32LE(at + 12), bytes.readUInt32LE(at + 16)]
      for (let s = 0; s < nsyms; s++) { // nlist_64
        const sym = slice(bytes, symoff + s * 16, 16)
        const type = sym[4]
        if ((type & 0xe0) !== 0 || (type & 0x01) === 0) continue // debugging entries, local symbols
        const name = cString(bytes, stroff + sym.readUInt32LE(0)).replace(/^_/, '')
        if ((type & 0x0e) === 0x0e) exports.add(name) // N_SECT
      }
    }
    at += cmdsize
  }
  return {
    format: 'macho',
    arch: MACHO_CPUS[cpu] ?? `cputype 0x${cpu.toString(16)}`,
    sharedLibrary: filetype === 6 /* MH_DYLIB */ || filetype === 8 /* MH_BUNDLE */,
    exports,
    needed,
    versionNeeds: [],
    imports,
    codeSigned,
  }
}
