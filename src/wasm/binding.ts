/**
 * The WebAssembly binding made whole: the build's own exports (constants, epoll, the in-memory
 * engine), its waits blocking (wait.ts), and what the build lacks, written over the socket host:
 * the socket functions (socket.ts), poll and select (multiplex.ts), the batched fast path
 * (batch.ts) and the watch on Node's loop (watch.ts); a waker handed to another thread is
 * signalled when its doorbell rings (doorbell.ts). src/native.ts loads the build and hands it
 * here.
 */
import type * as Binding from '../binding.js'
import { batchFunctions } from './batch.js'
import { forgetDoorbell, signalWith } from './doorbell.js'
import { multiplexFunctions } from './multiplex.js'
import { socketFunctions } from './socket.js'
import { type WasmHost, withBlockingWaits } from './wait.js'
import { watchFunctions } from './watch.js'

/** The WebAssembly build's exports (`wasm`) with every function the TypeScript API calls. */
export function wasmBinding(wasm: typeof Binding & WasmHost): typeof Binding & WasmHost {
  const engine = withBlockingWaits(wasm)
  const { hostStarted, ...watch } = watchFunctions(engine)
  signalWith(watch.wakerSignal)
  const wakerClose = (fd: number): number => {
    forgetDoorbell(fd)
    return engine.wakerClose(fd)
  }
  const { batchAccess, ...sockets } = socketFunctions(engine, hostStarted)
  return { ...engine, ...watch, wakerClose, ...sockets, ...multiplexFunctions(engine), ...batchFunctions({ ...engine, ...sockets }, batchAccess) }
}
