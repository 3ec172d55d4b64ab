/**
 * The IOLoop's timeouts: a min-heap by deadline (ties in scheduling order), with Tornado's
 * rules: a cancelled timeout stays in the heap until it reaches the top, and the heap is
 * compacted once more than 512 entries, and more than half of them, are cancelled.
 */

/** A scheduled call; pass it to `IOLoop.removeTimeout` to cancel it. */
export class Timeout {
  /** @internal */
  constructor(
    /** When it is due, in `IOLoop.time()` seconds. */
    readonly deadline: number,
    /** What runs when it is due; null once cancelled. */
    public callback: (() => void) | null,
    /** Scheduling order, to break ties between equal deadlines. */
    readonly seq: number,
  ) {}
}

/** The heap of pending timeouts. */
export class TimeoutQueue {
  #heap: Timeout[] = []
  #cancelled = 0
  #seq = 0

  /** How many timeouts the heap holds, cancelled ones included. */
  get size(): number {
    return this.#heap.length
  }

  /** Schedules `callback` at `deadline`. */
  add(deadline: number, callback: () => void): Timeout {
    const timeout = new Timeout(deadline, callback, this.#seq++)
    this.#heap.push(timeout)
    this.#up(this.#heap.length - 1)
    return timeout
  }

  /** Cancels `timeout` (lazily: it is dropped when it reaches the top, or at compaction). */
  cancel(timeout: Timeout): void {
    if (!(timeout instanceof Timeout)) throw new TypeError('timeout must be a Timeout that callLater or callAt returned')
    if (timeout.callback === null) return
    timeout.callback = null
    this.#cancelled++
    if (this.#cancelled > 512 && this.#cancelled > this.#heap.length >> 1) this.#compact()
  }

  /** Removes and returns the live timeouts due at `now`, in deadline order. */
  popDue(now: number): Timeout[] {
    const due: Timeout[] = []
    while (this.#heap.length > 0) {
      const top = this.#heap[0]
      if (top.callback === null) this.#cancelled--
      else if (top.deadline <= now) due.push(top)
      else break
      this.#pop()
    }
    return due
  }

  /** The deadline of the next live timeout, or undefined. */
  nextDeadline(): number | undefined {
    while (this.#heap.length > 0 && this.#heap[0].callback === null) {
      this.#cancelled--
      this.#pop()
    }
    return this.#heap[0]?.deadline
  }

  /** Drops everything. */
  clear(): void {
    this.#heap = []
    this.#cancelled = 0
  }

  #compact(): void {
    this.#heap = this.#heap.filter((t) => t.callback !== null)
    this.#cancelled = 0
    for (let i = (this.#heap.length >> 1) - 1; i >= 0; i--) this.#down(i)
  }

  #pop(): void {
    const last = this.#heap.pop()!
    if (this.#heap.length > 0) {
      this.#heap[0] = last
      this.#down(0)
    }
  }

  #less(a: Timeout, b: Timeout): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq)
  }

  #up(i: number): void {
    const heap = this.#heap
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.#less(heap[i], heap[parent])) return
      ;[heap[i], heap[parent]] = [heap[parent], heap[i]]
      i = parent
    }
  }

  #down(i: number): void {
    const heap = this.#heap
    while (true) {
      let least = i
      for (const child of [2 * i + 1, 2 * i + 2]) {
        if (child < heap.length && this.#less(heap[child], heap[least])) least = child
      }
      if (least === i) return
      ;[heap[i], heap[least]] = [heap[least], heap[i]]
      i = least
    }
  }
}
