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

const { napiModule } = instantiateNapiModuleSync(readFileSync(join(__dirname, 'fdpoll.wasm32-wasi.wasm')), {
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

napiModule.exports.errnoUseHost(constants.errno)
module.exports = napiModule.exports
