/**
 * The socket host's worker: owns every Node socket (sockets.ts) and serves the calling thread's
 * requests (protocol.ts) one at a time, publishing readiness on the ring (ring.ts). It is its
 * own bundle in dist/ (`host-worker.cjs`); host.ts starts it.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { errno } from './linux.js'
import { ARGS, OP, OUT, Op, READY, REP, serveRequests } from './protocol.js'
import { RingWriter } from './ring.js'
import type { Address } from './address.js'
import { SocketTable } from './sockets.js'

/** The shared memory host.ts hands over. */
export interface HostMemory {
  control: SharedArrayBuffer
  data: SharedArrayBuffer
  ring: SharedArrayBuffer
  /** The calling thread's wake cell (doorbell.ts). */
  bell: SharedArrayBuffer
}

const memory = workerData as HostMemory
const control = new Int32Array(memory.control)
const data = new Uint8Array(memory.data)
/** The data buffer as int32s: the lists of RecvMany and SendMany. */
const ints = new Int32Array(memory.data)
const port = parentPort!
const ring = new RingWriter(memory.ring, memory.bell, () => port.postMessage(0))
const table = new SocketTable((fd, readiness, key) => ring.push(fd, readiness, key))
const text = new TextDecoder()
const encoder = new TextEncoder()

/** Argument `i` of the request. */
function arg(i: number): number {
  return control[ARGS + i]
}

/** A host string of `bytes` bytes at `offset` in the data buffer. */
function hostAt(offset: number, bytes: number): string {
  return text.decode(data.slice(offset, offset + bytes))
}

/** Writes an address into OUT (its host at data offset `at`); returns `result`. */
function putAddress(address: Address, at: number, result: number): number {
  const { written } = encoder.encodeInto(address.host, data.subarray(at))
  control[OUT] = address.family
  control[OUT + 1] = address.port
  control[OUT + 2] = address.flowinfo
  control[OUT + 3] = address.scopeId
  control[OUT + 4] = written
  control[OUT + 5] = at
  return result
}

/** Serves the request in the control buffer: its result. */
async function serve(): Promise<number> {
  switch (control[OP] as Op) {
    case Op.Noop:
      return 0
    case Op.Socket:
      return table.socket(arg(0), arg(1), arg(2), arg(3))
    case Op.Pair:
      return table.pair(arg(0), arg(1), arg(2))
    case Op.Bind:
      return table.bind(arg(0), hostAt(0, arg(4)), arg(1), arg(3))
    case Op.Listen:
      return table.listen(arg(0))
    case Op.Accept: {
      const peer = table.accept(arg(0), arg(1))
      return typeof peer === 'number' ? peer : putAddress(peer, 0, 0)
    }
    case Op.Connect:
      return table.connect(arg(0), hostAt(0, arg(4)), arg(1), arg(3))
    case Op.Recv: {
      const got = table.recv(arg(0), data.subarray(0, arg(1)), arg(2))
      if (typeof got === 'number') return got
      if (got.from === null || arg(3) === 0) control[OUT] = 0
      else putAddress(got.from, got.nbytes, 0)
      return got.nbytes
    }
    case Op.Send: {
      const nbytes = arg(1)
      const to = arg(3) === 0 ? null : { host: hostAt(nbytes, arg(7)), port: arg(4), scopeId: arg(6) }
      return table.send(arg(0), data.subarray(0, nbytes), arg(2), to)
    }
    case Op.Shutdown:
      return table.shutdown(arg(0), arg(1))
    case Op.Close:
      return table.close(arg(0), arg(1) === 1)
    case Op.Name: {
      const name = table.name(arg(0), arg(1) !== 0)
      return typeof name === 'number' ? name : putAddress(name, 0, 0)
    }
    case Op.SetOption:
      return table.setOption(arg(0), arg(1), arg(2), arg(3))
    case Op.GetOption:
      return table.getOption(arg(0), arg(1), arg(2))
    case Op.Count: {
      const [open, alive] = table.count()
      control[OUT] = alive
      return open
    }
    case Op.RecvMany: {
      const [count, slotSize] = [arg(0), arg(1)]
      for (let k = 0, at = 4 * count; k < count; k++, at += slotSize) {
        const got = table.recv(ints[k], data.subarray(at, at + slotSize), 0)
        ints[k] = typeof got === 'number' ? got : got.nbytes
      }
      return 0
    }
    case Op.SendMany: {
      const count = arg(0)
      for (let k = 0, at = 8 * count; k < count; k++) {
        const length = ints[2 * k + 1]
        ints[2 * k + 1] = await table.send(ints[2 * k], data.subarray(at, at + length), 0, null)
        at += length
      }
      return 0
    }
    default:
      return -errno.ENOSYS
  }
}

// However the worker ends (a throw outside a request, in a Node event handler, or the end of its
// loop), a caller blocked on it would wait for ever: say so and wake it, in a request or a wait.
process.on('exit', () => {
  Atomics.store(control, READY, -1)
  Atomics.notify(control, REP)
  ring.wakeWaiter()
})
// A pending waitAsync does not keep a worker's loop alive; the port does (host.ts unrefs the
// worker, so the process does not wait for it).
port.on('message', () => {})
serveRequests(control, async () => {
  try {
    return await serve()
  } catch {
    return -errno.EIO // a Node call that threw where Linux would have an errno
  }
})
Atomics.store(control, READY, 1)
Atomics.notify(control, READY)
