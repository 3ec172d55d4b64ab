/**
 * Doorbells: how another thread wakes a loop of this thread on the WebAssembly backend, where a
 * waker fd means nothing outside its own thread's in-memory engine. Each thread has one wake
 * cell (shared memory): slot GEN moves whenever something may wake the thread (the socket
 * host's ring publishes an entry, a doorbell rings), and every blocking wait of the thread
 * (wait.ts, host.ts) blocks on it; slot RUNG counts the rings not yet answered.
 *
 * `IOLoop.remote()` hands out the cell as its loop's doorbell; `ringDoorbell` (any thread) rings
 * it. This thread answers by signalling its own wakers that were handed out (`doorbell`), as the
 * other thread's `wakerSignal` would have done natively: in a blocking wait as it wakes
 * (`answerDoorbells`), and on Node's loop through `Atomics.waitAsync` on RUNG. A ring does not
 * say which loop it is for, so every such waker of the thread is signalled (a loop woken for
 * nothing finds no message on its port and waits again).
 */
import { waitAsync } from './protocol.js'

/** The wake cell's slots (int32 indexes). */
export const GEN = 0
const RUNG = 1

/** This thread's wake cell. */
export const wakeCell = new Int32Array(new SharedArrayBuffer(8))

/** This thread's wakers that another thread may ring for. */
const wakers = new Set<number>()
let signal: (fd: number) => number = () => 0
let listening = false

/** Sets how a waker is signalled when its doorbell rings (the binding's `wakerSignal`). */
export function signalWith(wakerSignal: (fd: number) => number): void {
  signal = wakerSignal
}

/** The doorbell of the waker `fd` of this thread, for another thread's `ringDoorbell`. */
export function doorbell(fd: number): SharedArrayBuffer {
  wakers.add(fd)
  listen()
  return wakeCell.buffer as SharedArrayBuffer
}

/** The waker `fd` is closing: its doorbell no longer signals it. */
export function forgetDoorbell(fd: number): void {
  wakers.delete(fd)
}

/** Rings a doorbell from `doorbell` (on any thread). */
export function ringDoorbell(bell: SharedArrayBuffer): void {
  const cell = new Int32Array(bell)
  Atomics.add(cell, RUNG, 1)
  Atomics.notify(cell, RUNG)
  Atomics.add(cell, GEN, 1)
  Atomics.notify(cell, GEN)
}

/** Signals this thread's wakers if a doorbell rang since the last answer: whether one did. */
export function answerDoorbells(): boolean {
  if (Atomics.exchange(wakeCell, RUNG, 0) === 0) return false
  for (const fd of wakers) signal(fd)
  return true
}

/** While wakers may be rung, answers each ring on Node's loop (a pending wait does not keep it alive). */
function listen(): void {
  if (listening) return
  listening = true
  const answer = (): void => {
    listening = false
    answerDoorbells()
    if (wakers.size > 0) listen()
  }
  const waiting = waitAsync(wakeCell, RUNG, 0)
  if (waiting.async) void waiting.value.then(answer)
  else setImmediate(answer)
}
