/**
 * Blocking waits on the WebAssembly backend, where the in-memory engine never blocks (crates/core
 * sys/memory.rs: a poll with a timeout and nothing ready is EAGAIN, the host waits). src/native.ts
 * hands the WebAssembly binding through `withBlockingWaits`, whose `epollPollInto` waits as
 * epoll_wait does: it polls; with nothing ready and time left, it parks the epoll, blocks this
 * thread in the wake source until the deadline or a readiness change, unparks and polls again.
 *
 * The wake source is the socket host's (src/wasm/host.ts, whose `wait` blocks in Atomics.wait on
 * this thread's wake cell, which its readiness ring moves, and hands the changes to the engine)
 * once `useWakeSource` plugs it in. Without one, only another thread's doorbell (doorbell.ts)
 * can change readiness while this thread blocks (the engine is this thread's own), so the wait
 * sleeps on the wake cell until its deadline or a ring; changes made before it (a waker
 * signalled, a readiness set, an epoll inside this one turning readable) end it at once.
 */
import type * as Binding from '../binding.js'
import { GEN, answerDoorbells, wakeCell } from './doorbell.js'

/** The in-memory engine's host API that the WebAssembly build exports (crates/node/src/memory.rs). */
export interface WasmHost {
  /** The key of `vfdNotify` that wakes every watcher, exclusive ones included. */
  readonly WAKE_ALL: number
  /** Opens a virtual fd with the epoll bits `readiness`: its number (close it with `fdClose`). */
  vfdOpen(readiness: number): number
  /** The epoll bits of `fd` now, or -errno. */
  vfdReadiness(fd: number): number
  /** Replaces the readiness of `fd`, waking its watchers if bits rose: 0 or -errno. */
  vfdSetReadiness(fd: number, readiness: number): number
  /** An event on `fd`: readiness `readiness`, a wakeup with `key` (or WAKE_ALL): 0 or -errno. */
  vfdNotify(fd: number, readiness: number, key: number): number
  /** Parks a waiter on `epfd`: 1 if parked, 0 if events are ready, or -errno. */
  epollPark(epfd: number): number
  /** The parked waiter leaves: 1 if still parked, 0 if it was woken, or -errno. */
  epollUnpark(epfd: number): number
  /** The epolls whose parked waiters were woken since the last call, one entry per waiter. */
  epollTakeWoken(): number[]
}

/** What a blocking wait blocks in. */
export interface WakeSource {
  /**
   * Blocks until readiness changes arrive, this thread's wake cell moves from `seen` (its GEN
   * slot) or `timeoutMs` passes (negative: no limit), and hands the changes to the engine
   * (`vfdNotify`): whether any came.
   */
  wait(timeoutMs: number, seen: number): boolean
  /**
   * Hands the changes that came since the last call to the engine, without blocking: how many
   * (absent: a source whose changes come only while a wait blocks).
   */
  drain?(): number
}

/** The source without a socket host: sleeps until the deadline or a doorbell. */
const sleeper: WakeSource = {
  wait(timeoutMs, seen) {
    Atomics.wait(wakeCell, GEN, seen, timeoutMs < 0 ? Infinity : timeoutMs)
    return false
  },
}

let source = sleeper

/** Plugs in the source of readiness changes (the socket host); null unplugs it. */
export function useWakeSource(next: WakeSource | null): void {
  source = next ?? sleeper
}

/**
 * Blocks in the wake source until readiness changes, a doorbell rings (its wakers are then
 * signalled) or `timeoutMs` passes (negative: no limit): whether any came.
 */
export function waitForChanges(timeoutMs: number): boolean {
  const seen = Atomics.load(wakeCell, GEN)
  if (answerDoorbells()) return true
  const changed = source.wait(timeoutMs, seen)
  return answerDoorbells() || changed
}

/**
 * Hands the readiness changes that came since the last call to the engine, and answers the
 * doorbells, so that a poll with no timeout sees them: without it, one that follows no other
 * call would report stale readiness.
 */
export function takeChanges(): void {
  source.drain?.()
  answerDoorbells()
}

/**
 * The WebAssembly binding with an `epollPollInto` that blocks up to `timeoutMs` (-1: no limit)
 * as epoll_wait does. This thread's blocking wait is the engine's only parked waiter, so the
 * woken list it empties is its own.
 */
export function withBlockingWaits(binding: typeof Binding & WasmHost): typeof Binding & WasmHost {
  const { epollPollInto: pollNow, epollPark, epollUnpark, epollTakeWoken } = binding
  const epollPollInto: typeof pollNow = (epfd, out, timeoutMs, maxevents) => {
    takeChanges()
    let count = pollNow(epfd, out, 0, maxevents)
    if (count !== 0 || timeoutMs === 0) return count
    const deadline = timeoutMs < 0 ? Infinity : performance.now() + timeoutMs
    while (true) {
      const parked = epollPark(epfd)
      if (parked < 0) return parked
      if (parked === 1) {
        try {
          const left = deadline - performance.now()
          if (left > 0) waitForChanges(left === Infinity ? -1 : left)
        } finally {
          if (epollUnpark(epfd) === 0) epollTakeWoken()
        }
      }
      count = pollNow(epfd, out, 0, maxevents)
      if (count !== 0 || performance.now() >= deadline) return count
    }
  }
  return { ...binding, epollPollInto }
}
