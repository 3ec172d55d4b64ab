/**
 * Loads fdpoll's WebAssembly build (fdpoll.wasm32-wasi.wasm, single-threaded wasm32-wasip1) with
 * @napi-rs/wasm-runtime, synchronously, and exports its Node-API exports, as a native addon's
 * loader does. The module gets no file system, arguments or environment (an empty WASI), and a
 * Node-API context of this package's own @emnapi/runtime (the runtime pairs it with the
 * @emnapi/core of the same version). Its errors cross as the host's numbers (os.constants.errno).
 */
'use strict'
const { readFileSync } = require('node:fs')
const { constants } = require('node:os')
const { join } = require('node:path')
const { WASI, emnapiAsyncWorkPlugin, emnapiTSFNPlugin, instantiateNapiModuleSync } = require('@napi-rs/wasm-runtime')
const { createContext } = require('@emnapi/runtime')

/**
 * The module's memory, in 64 KiB pages: the linker reserves a 64 MB stack, so it starts with
 * 250 MiB of address space (only the pages touched are resident) and may grow to 4 GiB.
 */
const memory = new WebAssembly.Memory({ initial: 4000, maximum: 65536 })

const { instance, napiModule } = instantiateNapiModuleSync(readFileSync(join(__dirname, 'fdpoll.wasm32-wasi.wasm')), {
  context: createContext(),
  wasi: new WASI({ version: 'preview1' }),
  asyncWorkPoolSize: 0, // single-threaded: no worker pool
  plugins: [emnapiAsyncWorkPlugin, emnapiTSFNPlugin],
  beforeInit({ instance }) {
    // napi-rs registers each export through a function of its own.
    for (const [name, register] of Object.entries(instance.exports)) {
      if (name.startsWith('__napi_register__')) register()
    }
  },
  overwriteImports(imports) {
    imports.env = { ...imports.env, ...imports.napi, ...imports.emnapi, memory }
    return imports
  },
})

/** Bytes per event in `epollPollInto`'s output: the fd and the event bits, 32 bits each. */
const PAIR = 8
/** The core's cap on events per poll (fdpoll-core's MAX_EVENTS_PER_POLL). */
const MAX_EVENTS_PER_POLL = 65536
/**
 * `epollPollInto` writes into a block of the module's own memory, then the events are copied
 * into the caller's array. A typed array outside that memory would reach the Rust code as
 * emnapi's copy of it, whose length napi_get_buffer_info gives in elements (not bytes) and
 * which is never copied back after the call (emnapi 2.0.0-beta.2); a view inside it is passed
 * as is, with its length in bytes.
 */
let block = 0
/** The block's size in bytes (its views read 0 once a memory growth detached them). */
let capacity = 0
let blockView = new Uint8Array(0)
let blockWords = new Int32Array(0)
const { epollPollInto } = napiModule.exports

/** A byte view of the block with room for `pairs` events (grown as needed, rebuilt when the memory grew). */
function blockFor(pairs) {
  if (capacity < pairs * PAIR) {
    if (block !== 0) instance.exports.free(block)
    block = instance.exports.malloc(pairs * PAIR) >>> 0
    if (block === 0) throw new Error('fdpoll: out of WebAssembly memory')
    capacity = pairs * PAIR
  } else if (blockView.buffer === memory.buffer || capacity === 0) {
    return blockView
  }
  blockView = new Uint8Array(memory.buffer, block, capacity)
  blockWords = new Int32Array(memory.buffer, block, capacity / 4)
  return blockView
}

/** `epollPollInto(epfd, out, timeoutMs, maxevents)` through the block (see above). */
napiModule.exports.epollPollInto = (epfd, out, timeoutMs, maxevents) => {
  if (!(out instanceof Int32Array || out instanceof Uint32Array)) return epollPollInto(epfd, out, timeoutMs, maxevents)
  const max = Math.min(out.length >>> 1, maxevents >>> 0)
  const count = epollPollInto(epfd, blockFor(Math.min(max, MAX_EVENTS_PER_POLL)), timeoutMs, max)
  if (count > 0) {
    if (blockWords.buffer !== memory.buffer) blockFor(0) // the call grew the memory
    for (let i = 0; i < 2 * count; i++) out[i] = blockWords[i]
  }
  return count
}

napiModule.exports.errnoUseHost(constants.errno)
module.exports = napiModule.exports
