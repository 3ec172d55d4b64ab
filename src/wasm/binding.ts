/**
 * The WebAssembly binding made whole: the build's own exports (constants, epoll, the in-memory
 * engine), its waits blocking (wait.ts), and what the build lacks, written over the socket host:
 * the socket functions (socket.ts), poll and select (multiplex.ts), and the batched fast path
 * (batch.ts). src/native.ts loads the build and hands it here.
 */
import type * as Binding from '../binding.js'
import { batchFunctions } from './batch.js'
import { multiplexFunctions } from './multiplex.js'
import { socketFunctions } from './socket.js'
import { type WasmHost, withBlockingWaits } from './wait.js'

/** The WebAssembly build's exports (`wasm`) with every function the TypeScript API calls but `watchStart`. */
export function wasmBinding(wasm: typeof Binding & WasmHost): typeof Binding & WasmHost {
  const engine = withBlockingWaits(wasm)
  const sockets = socketFunctions(engine)
  return { ...engine, ...sockets, ...multiplexFunctions(engine), ...batchFunctions({ ...engine, ...sockets }) }
}
