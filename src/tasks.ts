/**
 * Tasks: async functions run as gevent's greenlets. `IOLoop.spawn` starts one; `joinAll` waits
 * for several, with a timeout in seconds.
 */

/** An async function started by `IOLoop.spawn` (gevent's Greenlet). `await task` gives its value or throws its exception. */
export class Task<T = unknown> implements PromiseLike<T> {
  #state: 'pending' | 'fulfilled' | 'rejected' = 'pending'
  /** The value once fulfilled, the exception once rejected: one field for both (8 bytes less per task). */
  #result: unknown
  /** `settled`, made when first asked for, and what resolves it: a task nobody joins has no promise of its own. */
  #settled: Promise<void> | undefined
  #resolveSettled: (() => void) | undefined
  /** Where an exception of the function goes (the loop's `onError`). */
  readonly #onError: (error: unknown) => void

  /** Starts `fn(...args)` once the current code yields (a microtask); `IOLoop.spawn` calls this. */
  constructor(fn: (...args: any[]) => T | PromiseLike<T>, args: unknown[], onError: (error: unknown) => void) {
    if (typeof fn !== 'function') throw new TypeError('spawn: the task must be a function')
    this.#onError = onError
    queueMicrotask(() => this.#start(fn, args))
  }

  /** The function's result, once it has returned. */
  get value(): T | undefined {
    return this.#state === 'fulfilled' ? (this.#result as T) : undefined
  }

  /** What the function threw, once it has failed (also handed to the loop's `onError`). */
  get exception(): unknown {
    return this.#state === 'rejected' ? this.#result : undefined
  }

  /** Settles (never rejects) once the function has returned or thrown. */
  get settled(): Promise<void> {
    this.#settled ??= this.ready() ? Promise.resolve() : new Promise((resolve) => (this.#resolveSettled = resolve))
    return this.#settled
  }

  /**
   * Calls the function and watches its promise (or value): a parked task holds that one reaction,
   * its handlers bound methods (no closures, so no context for them to share).
   */
  #start(fn: (...args: any[]) => T | PromiseLike<T>, args: unknown[]): void {
    let result: T | PromiseLike<T>
    try {
      result = fn(...args)
    } catch (error) {
      this.#fail(error)
      return
    }
    Promise.resolve(result).then(this.#succeed.bind(this), this.#fail.bind(this))
  }

  #succeed(value: T): void {
    this.#result = value
    this.#state = 'fulfilled'
    this.#resolveSettled?.()
  }

  #fail(error: unknown): void {
    this.#result = error
    this.#state = 'rejected'
    this.#resolveSettled?.()
    this.#onError(error)
  }

  /** True once the function has returned or thrown (gevent's `ready()`). */
  ready(): boolean {
    return this.#state !== 'pending'
  }

  /** True once the function has returned without throwing (gevent's `successful()`). */
  successful(): boolean {
    return this.#state === 'fulfilled'
  }

  /** Makes `await task` give the value or throw the exception (gevent's `get()`). */
  then<A = T, B = never>(onFulfilled?: ((value: T) => A | PromiseLike<A>) | null, onRejected?: ((error: unknown) => B | PromiseLike<B>) | null): Promise<A | B> {
    return this.settled.then(() => this.#outcome()).then(onFulfilled, onRejected)
  }

  /** The value, or the exception thrown, once settled. */
  #outcome(): T {
    if (this.#state === 'rejected') throw this.#result
    return this.#result as T
  }
}

/** Options of `joinAll`. */
export interface JoinOptions {
  /** The most to wait, in seconds; undefined or null: until all are done. */
  timeout?: number | null
}

/**
 * Waits until every task is done, or `timeout` seconds have passed (gevent's `joinall`), and
 * resolves with the tasks done by then, in the order they finished. Never rejects for a task's
 * exception: look at `task.exception`, or `await` the task.
 */
export function joinAll(tasks: Iterable<Task<unknown>>, { timeout = null }: JoinOptions = {}): Promise<Task<unknown>[]> {
  const list = [...tasks]
  for (const task of list) if (!(task instanceof Task)) throw new TypeError('joinAll: every item must be a Task from IOLoop.spawn')
  if (timeout !== null && (typeof timeout !== 'number' || Number.isNaN(timeout))) throw new TypeError('joinAll: timeout must be a number of seconds')
  const done: Task<unknown>[] = []
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined
    const finish = () => {
      clearTimeout(timer)
      resolve(done.slice())
    }
    if (list.length === 0) return finish()
    if (timeout !== null && timeout !== Infinity) timer = setTimeout(finish, Math.ceil(Math.max(0, timeout) * 1000))
    for (const task of list) {
      void task.settled.then(() => {
        done.push(task)
        if (done.length === list.length) finish()
      })
    }
  })
}
