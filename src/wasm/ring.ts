/**
 * The readiness ring: the worker publishes each socket's readiness change or event as
 * `(fd, readiness, key)` (the in-memory engine's `notify`: key 0 is a plain change, `WAKE_ALL` a
 * key-less wakeup); the calling thread drains it in order. WRITE and READ are sequence numbers.
 * On each entry the worker moves and notifies the first slot of the caller's wake cell (`bell`,
 * doorbell.ts), so a caller blocked in `Atomics.wait` on it wakes, and, when the caller armed
 * WAKE, posts one message per drain to wake its event loop.
 */

import { waitAsync } from './protocol.js'

const WRITE = 0
const READ = 1
/** Set by the caller that wants a message when entries arrive. */
const WAKE = 2
/** Set while a wake message is on its way. */
const POSTED = 3
/** Set by the worker while entries wait in its overflow queue for room. */
const OVERFLOW = 4
const HEADER = 8
const ENTRY = 3
/** Entries the ring holds before the worker queues them on its side (a power of two). */
export const RING_ENTRIES = 16384
/** Sequence numbers wrap as int32; an entry's place is its low bits. */
const MASK = RING_ENTRIES - 1

/** A new ring's shared memory. */
export function ringMemory(): SharedArrayBuffer {
  return new SharedArrayBuffer((HEADER + RING_ENTRIES * ENTRY) * 4)
}

/** The worker's side: publishes entries in order; past a full ring, queues them until drained. */
export class RingWriter {
  readonly #ring: Int32Array
  readonly #bell: Int32Array
  readonly #wake: () => void
  readonly #overflow: number[] = []

  /** `bell` is the caller's wake cell; `wake` posts the message that wakes the caller's event loop. */
  constructor(memory: SharedArrayBuffer, bell: SharedArrayBuffer, wake: () => void) {
    this.#ring = new Int32Array(memory)
    this.#bell = new Int32Array(bell)
    this.#wake = wake
  }

  /** Publishes one entry. */
  push(fd: number, readiness: number, key: number): void {
    if (this.#overflow.length > 0 || !this.#put(fd, readiness, key)) {
      if (this.#overflow.length === 0) this.#awaitRoom()
      this.#overflow.push(fd, readiness, key)
    }
  }

  #put(fd: number, readiness: number, key: number): boolean {
    const ring = this.#ring
    const write = Atomics.load(ring, WRITE)
    if (((write - Atomics.load(ring, READ)) | 0) >= RING_ENTRIES) return false
    const at = HEADER + (write & MASK) * ENTRY
    ring[at] = fd
    ring[at + 1] = readiness
    ring[at + 2] = key
    Atomics.store(ring, WRITE, (write + 1) | 0)
    this.#ringBell()
    if (Atomics.load(ring, WAKE) === 1 && Atomics.compareExchange(ring, POSTED, 0, 1) === 0) this.#wake()
    return true
  }

  /** Waits (on this thread's loop) for the reader to advance, then moves queued entries in. */
  #awaitRoom(): void {
    Atomics.store(this.#ring, OVERFLOW, 1)
    const read = Atomics.load(this.#ring, READ)
    const waiting = waitAsync(this.#ring, READ, read)
    const flush = (): void => {
      const queued = this.#overflow
      let i = 0
      while (i < queued.length && this.#put(queued[i], queued[i + 1], queued[i + 2])) i += 3
      queued.splice(0, i)
      if (queued.length > 0) this.#awaitRoom()
      else Atomics.store(this.#ring, OVERFLOW, 0)
    }
    if (waiting.async) void waiting.value.then(flush)
    else setImmediate(flush)
  }

  /** Wakes a caller blocked in `RingReader.wait` with no entry: the worker is stopping. */
  wakeWaiter(): void {
    this.#ringBell()
  }

  #ringBell(): void {
    Atomics.add(this.#bell, 0, 1)
    Atomics.notify(this.#bell, 0)
  }
}

/** The calling thread's side. */
export class RingReader {
  readonly #ring: Int32Array
  readonly #bell: Int32Array

  /** `bell` is this thread's wake cell, the writer's. */
  constructor(memory: SharedArrayBuffer, bell: SharedArrayBuffer) {
    this.#ring = new Int32Array(memory)
    this.#bell = new Int32Array(bell)
  }

  /** Hands every published entry to `sink` in order (`key` as an unsigned 32-bit value); returns the count. */
  drain(sink: (fd: number, readiness: number, key: number) => void): number {
    const ring = this.#ring
    Atomics.store(ring, POSTED, 0)
    const read = Atomics.load(ring, READ)
    const write = Atomics.load(ring, WRITE)
    for (let seq = read; seq !== write; seq = (seq + 1) | 0) {
      const at = HEADER + (seq & MASK) * ENTRY
      sink(ring[at], ring[at + 1], ring[at + 2] >>> 0)
    }
    Atomics.store(ring, READ, write)
    if (Atomics.load(ring, OVERFLOW) === 1) Atomics.notify(ring, READ)
    return (write - read) | 0
  }

  /** Whether entries wait to be drained. */
  pending(): boolean {
    return Atomics.load(this.#ring, WRITE) !== Atomics.load(this.#ring, READ)
  }

  /** The wake cell's first slot now: what `wait` compares it with. */
  bellNow(): number {
    return Atomics.load(this.#bell, 0)
  }

  /**
   * Blocks this thread until the wake cell's first slot moves from `seen` (an entry was
   * published, a doorbell rang, the worker is stopping) or `timeoutMs` passes (negative: no
   * limit); true unless it timed out (at once if entries wait or the slot moved already).
   */
  wait(timeoutMs: number, seen: number): boolean {
    if (this.pending()) return true
    return Atomics.wait(this.#bell, 0, seen, timeoutMs < 0 ? Infinity : timeoutMs) !== 'timed-out'
  }

  /** Asks the worker for a message (see `RingWriter`'s `wake`) whenever entries arrive. */
  armWake(on: boolean): void {
    Atomics.store(this.#ring, WAKE, on ? 1 : 0)
    Atomics.store(this.#ring, POSTED, 0)
  }
}
