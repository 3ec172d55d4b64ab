/**
 * Batched socket I/O on the WebAssembly backend: crates/node/src/batch.rs's `epollPollRecv` and
 * `socketSendMany`, same signatures and results, as loops over the binding's own poll, recv and
 * send (the boundary they save a crossing of is a JavaScript call here).
 */
import { constants } from 'node:os'
import type * as Binding from '../binding.js'
import { EPOLLERR, EPOLLHUP, EPOLLIN } from './linux.js'

/** The batched functions this module adds to the WebAssembly binding. */
export type BatchFunctions = Pick<typeof Binding, 'epollPollRecv' | 'socketSendMany'>

/** Whether two views share memory. */
function overlap(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return a.buffer === b.buffer && a.byteOffset < b.byteOffset + b.byteLength && b.byteOffset < a.byteOffset + a.byteLength
}

/** `epollPollRecv` and `socketSendMany` over the binding's `epollPollInto`, `socketRecv` and `socketSend`. */
export function batchFunctions(binding: Pick<typeof Binding, 'epollPollInto' | 'socketRecv' | 'socketSend'>): BatchFunctions {
  const { epollPollInto, socketRecv, socketSend } = binding
  const { EAGAIN, EINVAL } = constants.errno
  let events = new Int32Array(0)

  function epollPollRecv(epfd: number, out: Int32Array, timeoutMs: number, area: Uint8Array, slotSize: number, skipFd: number): number {
    if (overlap(out, area)) return -EINVAL
    const max = slotSize > 0 ? Math.min(Math.floor(out.length / 3), Math.floor(area.length / slotSize)) : 0
    if (max === 0) return -EINVAL
    if (events.length < 2 * max) events = new Int32Array(2 * max)
    const count = epollPollInto(epfd, events, timeoutMs, max)
    for (let i = 0; i < count; i++) {
      const fd = events[2 * i]
      const bits = events[2 * i + 1]
      out[3 * i] = fd
      out[3 * i + 1] = bits
      const read = (bits & (EPOLLIN | EPOLLERR | EPOLLHUP)) !== 0 && fd !== skipFd
      out[3 * i + 2] = read ? socketRecv(fd, area.subarray(i * slotSize, (i + 1) * slotSize), 0) : -EAGAIN
    }
    return count
  }

  function socketSendMany(plan: Int32Array, count: number, data: Uint8Array): number {
    if (overlap(plan, data) || plan.length < 3 * count) return -EINVAL
    for (let i = 0; i < count; i++) {
      const [fd, start, length] = [plan[3 * i], plan[3 * i + 1], plan[3 * i + 2]]
      const inside = start >= 0 && length >= 0 && start + length <= data.length
      plan[3 * i + 2] = inside ? socketSend(fd, data.subarray(start, start + length), 0) : -EINVAL
    }
    return 0
  }

  return { epollPollRecv, socketSendMany }
}
