/**
 * Batched socket I/O on the WebAssembly backend: crates/node/src/batch.rs's `epollPollRecv` and
 * `socketSendMany`, same signatures and results. Where the native ones save a boundary crossing
 * per connection, these save a round trip to the socket host per connection: the non-blocking
 * streams of a batch are read (or written) in one request (host.ts `recvMany`, `sendMany`); any
 * other fd (a blocking socket, whose call may wait; a datagram socket) goes through the binding's
 * own `socketRecv` or `socketSend`.
 */
import { constants } from 'node:os'
import type * as Binding from '../binding.js'
import { MAX_TRANSFER } from './host.js'
import { EPOLLERR, EPOLLHUP, EPOLLIN } from './linux.js'
import { type BatchAccess, hostResult } from './socket.js'

/** The batched functions this module adds to the WebAssembly binding. */
export type BatchFunctions = Pick<typeof Binding, 'epollPollRecv' | 'socketSendMany'>

/** Whether two views share memory. */
function overlap(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength
}

/** `epollPollRecv` and `socketSendMany` over the binding's `epollPollInto`, `socketRecv` and `socketSend`, and the host's batches. */
export function batchFunctions(
  binding: Pick<typeof Binding, 'epollPollInto' | 'socketRecv' | 'socketSend'>, access: BatchAccess,
): BatchFunctions {
  const { epollPollInto, socketRecv, socketSend } = binding
  const { EAGAIN, EINVAL } = constants.errno
  let events = new Int32Array(0)
  // One batch's fds, their slots or payloads, and their results: grown as needed, reused.
  let [fds, slots, results] = [new Int32Array(0), new Int32Array(0), new Int32Array(0)]
  const payloads: Uint8Array[] = []
  const room = (n: number) => {
    if (fds.length < n) [fds, slots, results] = [new Int32Array(n), new Int32Array(n), new Int32Array(n)]
  }

  function epollPollRecv(epfd: number, out: Int32Array, timeoutMs: number, area: Uint8Array, slotSize: number, skipFd: number): number {
    if (overlap(out, area)) return -EINVAL
    const max = slotSize > 0 ? Math.min(Math.floor(out.length / 3), Math.floor(area.length / slotSize)) : 0
    if (max === 0) return -EINVAL
    if (events.length < 2 * max) events = new Int32Array(2 * max)
    const count = epollPollInto(epfd, events, timeoutMs, max)
    room(count)
    let batched = 0
    for (let i = 0; i < count; i++) {
      const fd = events[2 * i]
      const bits = events[2 * i + 1]
      out[3 * i] = fd
      out[3 * i + 1] = bits
      out[3 * i + 2] = -EAGAIN
      if ((bits & (EPOLLIN | EPOLLERR | EPOLLHUP)) === 0 || fd === skipFd) continue
      if (access.batchable(fd) && slotSize <= MAX_TRANSFER) {
        fds[batched] = fd
        slots[batched++] = i
      } else {
        out[3 * i + 2] = socketRecv(fd, area.subarray(i * slotSize, (i + 1) * slotSize), 0)
      }
    }
    if (batched > 0) {
      access.host()!.recvMany(fds, slots, batched, area, slotSize, results)
      for (let k = 0; k < batched; k++) out[3 * slots[k] + 2] = hostResult(results[k])
    }
    return count
  }

  function socketSendMany(plan: Int32Array, count: number, data: Uint8Array): number {
    if (overlap(plan, data) || plan.length < 3 * count) return -EINVAL
    room(count)
    let batched = 0
    for (let i = 0; i < count; i++) {
      const [fd, start, length] = [plan[3 * i], plan[3 * i + 1], plan[3 * i + 2]]
      if (start < 0 || length < 0 || start + length > data.length) {
        plan[3 * i + 2] = -EINVAL
      } else if (access.batchable(fd)) {
        fds[batched] = fd
        slots[batched] = i
        payloads[batched++] = data.subarray(start, start + length)
      } else {
        plan[3 * i + 2] = socketSend(fd, data.subarray(start, start + length), 0)
      }
    }
    if (batched > 0) {
      access.host()!.sendMany(fds, payloads, batched, results)
      for (let k = 0; k < batched; k++) plan[3 * slots[k] + 2] = hostResult(results[k])
      payloads.length = 0
    }
    return 0
  }

  return { epollPollRecv, socketSendMany }
}
