/**
 * An IOLoop's readers and writers (asyncio's add_reader/add_writer machinery): at most one
 * reader and one writer per fd, each a callback or an operation waiting (`sockRecv`, ...), and
 * the events registered for the fd in the kernel.
 *
 * Interest is added when a reader or writer is, and for an fdpoll Socket dropped lazily: when a
 * reader or writer ends with success, the kernel keeps the fd's events, so that a busy
 * connection's next wait needs no epoll_ctl. The first event that finds no reader (or writer)
 * for it drops what is not wanted (one epoll_ctl), so a level-triggered fd never spins on
 * interest nobody holds; closing the socket drops the rest (through its detach hook). Interest
 * of any other fd, and of a wait that ends by failing or being aborted, is dropped at once.
 */
import { fileno } from './args.js'
import { EPOLLERR, EPOLLHUP, EPOLLIN, EPOLLOUT } from './constants.js'
import type { FileLike } from './epoll.js'
import { RuntimeError, errno, osError } from './errors.js'
import { Socket, detachHook, setDetachHook } from './socket.js'

/** Which slot of an fd a waiter takes: its reader (EPOLLIN) or its writer (EPOLLOUT). */
export type Direction = typeof EPOLLIN | typeof EPOLLOUT

/** What a reader or writer slot holds: a callback (`addReader`) or an operation that waits. */
export interface Waiter {
  /** The operation's name ('sockRecv'), or undefined for a callback, which `addReader` may replace. */
  readonly op: string | undefined
  /** The system call the operation makes, for the EBADF of a socket closed under it. */
  readonly syscall: string
  /** Runs when the fd is ready, during the loop's dispatch. */
  ready(): void
  /** Ends the wait with `error` (the socket or the loop closed); the slot is already empty. */
  fail(error: Error): void
}

/** What the loop keeps for a registered fd: the object registered, and what runs on its events. */
export interface Watch {
  readonly fileobj: FileLike
  /** Runs during the loop's dispatch with the fd's events. */
  run(events: number): void
}

/**
 * What the loop lends: its kernel registrations, its handler map (where the readiness entries
 * live too: one map slot per fd, not two) and its error hook.
 */
export interface ReadinessHost {
  /** What `fd`'s events are routed to, if it is registered. */
  watch(fd: number): Watch | undefined
  /** Everything registered. */
  watches(): Iterable<Watch>
  /** Registers `fd` for `events` and routes its events to `watch`. */
  register(fd: number, watch: Watch, events: number): void
  /** Changes the events registered for `fd`. */
  modify(fd: number, events: number): void
  /** Unregisters `fd` (tolerating an fd closed meanwhile). */
  unregister(fd: number): void
  /** Hands an exception a reader or writer callback threw to the loop's `onError`. */
  report(error: unknown): void
}

const READABLE = EPOLLIN | EPOLLERR | EPOLLHUP
const WRITABLE = EPOLLOUT | EPOLLERR | EPOLLHUP

/** One fd's reader, writer and registered events (0: not registered); the loop's Watch of the fd. */
class Entry implements Watch {
  reader: Waiter | undefined
  writer: Waiter | undefined
  events = 0

  constructor(readonly fd: number, readonly fileobj: FileLike, private readonly onEvents: (entry: Entry, events: number) => void) {}

  run(events: number): void {
    this.onEvents(this, events)
  }

  /** The events its waiters need. */
  get wanted(): number {
    return (this.reader === undefined ? 0 : EPOLLIN) | (this.writer === undefined ? 0 : EPOLLOUT)
  }

  /** Whether its interest may outlive its waiters: a Socket tells the loop when it closes. */
  get lazy(): boolean {
    return this.fileobj instanceof Socket
  }
}

/** The readers and writers of one IOLoop. */
export class Readiness {
  readonly #host: ReadinessHost
  #closed = false
  /** The detach hook this object sets on the Sockets it waits on. */
  readonly #forget = (sock: Socket) => this.#forgetSocket(sock)
  /** What every entry runs on its events (one for all: an entry costs no closure). */
  readonly #onEvents = (entry: Entry, events: number) => this.#ready(entry, events)

  constructor(host: ReadinessHost) {
    this.#host = host
  }

  /** `fd`'s entry: registered by this object, with the loop's handler map as their map. */
  #entry(fd: number): Entry | undefined {
    const watch = this.#host.watch(fd)
    return watch instanceof Entry ? watch : undefined
  }

  /** Throws if the loop is closed. */
  checkOpen(): void {
    if (this.#closed) throw new RuntimeError('IOLoop is closed', 'ERR_CLOSED')
  }

  /** What holds `fd`'s `direction` slot ('sockRecv', 'a reader from addReader'), or undefined. */
  holder(fd: number, direction: Direction): string | undefined {
    const entry = this.#entry(fd)
    const held = direction === EPOLLIN ? entry?.reader : entry?.writer
    return held === undefined ? undefined : describe(held, direction)
  }

  /** Whether `fd` has an entry (waiters, or interest left by finished ones). */
  has(fd: number): boolean {
    return this.#entry(fd) !== undefined
  }

  /**
   * Puts `waiter` in `fileobj`'s `direction` slot and makes sure the kernel watches for it. A
   * callback replaces a callback; an operation already in the slot is never replaced (a
   * RuntimeError names it). On a failed registration nothing is left behind.
   */
  add(fileobj: FileLike, direction: Direction, waiter: Waiter): void {
    this.checkOpen()
    const fd = fileno(fileobj)
    let entry = this.#entry(fd)
    const held = direction === EPOLLIN ? entry?.reader : entry?.writer
    if (held !== undefined && (held.op !== undefined || waiter.op !== undefined)) {
      throw busyError(waiter.op ?? (direction === EPOLLIN ? 'addReader' : 'addWriter'), fd, direction, describe(held, direction))
    }
    const created = entry === undefined
    if (created) {
      if (fileobj instanceof Socket) {
        const hook = detachHook(fileobj)
        if (hook !== undefined && hook !== this.#forget) throw new RuntimeError(`socket fd ${fd} is in use by another IOLoop`, 'ERR_BUSY')
      }
      entry = new Entry(fd, fileobj, this.#onEvents)
    }
    const e = entry!
    if (direction === EPOLLIN) e.reader = waiter
    else e.writer = waiter
    const events = e.events | e.wanted
    try {
      if (e.events === 0) this.#host.register(fd, e, events)
      else if (events !== e.events) this.#host.modify(fd, events)
    } catch (error) {
      if (direction === EPOLLIN) e.reader = held
      else e.writer = held
      throw error
    }
    e.events = events
    if (created && fileobj instanceof Socket) setDetachHook(fileobj, this.#forget)
  }

  /**
   * Empties `fd`'s `direction` slot (only if it holds `waiter`, when given); true if it did.
   * The interest goes at once when `eager` or when the fd is not a Socket, else lazily.
   */
  remove(fd: number, direction: Direction, waiter?: Waiter, eager = false): boolean {
    const entry = this.#entry(fd)
    const held = direction === EPOLLIN ? entry?.reader : entry?.writer
    if (entry === undefined || held === undefined || (waiter !== undefined && held !== waiter)) return false
    if (direction === EPOLLIN) entry.reader = undefined
    else entry.writer = undefined
    if (eager || !entry.lazy) this.#trim(entry)
    return true
  }

  /** Empties `fd`'s `direction` slot if it holds a callback, not an operation: true if it did. */
  removeCallback(fd: number, direction: Direction): boolean {
    const entry = this.#entry(fd)
    const held = direction === EPOLLIN ? entry?.reader : entry?.writer
    return held !== undefined && held.op === undefined && this.remove(fd, direction, held)
  }

  /** Drops `fd`'s entry if nothing waits on it (interest left by finished operations). */
  release(fd: number): void {
    const entry = this.#entry(fd)
    if (entry !== undefined && entry.wanted === 0) this.#trim(entry)
  }

  /** The loop closes: every operation waiting fails with `error`; callbacks are dropped. */
  close(error: Error): void {
    this.#closed = true
    const entries = [...this.#host.watches()].filter((watch) => watch instanceof Entry)
    for (const entry of entries) {
      if (entry.fileobj instanceof Socket) setDetachHook(entry.fileobj, undefined)
      for (const waiter of [entry.reader, entry.writer]) waiter?.fail(error)
      entry.reader = entry.writer = undefined
    }
  }

  /** Dispatch: the reader and writer run; an event no one was there for drops stale interest. */
  #ready(entry: Entry, events: number): void {
    const { reader, writer } = entry
    let unclaimed = false
    if (events & READABLE) {
      if (reader === undefined) unclaimed = true
      else this.#run(reader)
    }
    if (events & WRITABLE) {
      if (writer === undefined) unclaimed = true
      else if (entry.writer === writer) this.#run(writer) // unless the reader closed or replaced it
    }
    if (unclaimed && this.#host.watch(entry.fd) === entry) this.#trim(entry)
  }

  #run(waiter: Waiter): void {
    try {
      waiter.ready()
    } catch (error) {
      this.#host.report(error) // only callbacks throw: operations settle their promise
    }
  }

  /** Registers exactly what `entry`'s waiters need; with none, unregisters it and forgets it. */
  #trim(entry: Entry): void {
    const wanted = entry.wanted
    if (wanted === entry.events) return
    if (wanted === 0) {
      if (entry.fileobj instanceof Socket) setDetachHook(entry.fileobj, undefined)
      entry.events = 0
      this.#host.unregister(entry.fd)
    } else {
      this.#host.modify(entry.fd, wanted)
      entry.events = wanted
    }
  }

  /** A socket closes or is detached: its interest goes and what waits on it fails with EBADF. */
  #forgetSocket(sock: Socket): void {
    const entry = this.#entry(sock.fileno())
    if (entry === undefined || entry.fileobj !== sock) return
    const { reader, writer } = entry
    entry.reader = entry.writer = undefined
    this.#trim(entry)
    for (const waiter of [reader, writer]) waiter?.fail(osError(errno.EBADF, waiter.syscall))
  }
}

/** The error of a second read (or write) while `held` waits on the same socket. */
export function busyError(op: string, fd: number, direction: Direction, held: string): RuntimeError {
  const what = direction === EPOLLIN ? 'read' : 'write'
  return new RuntimeError(`${op}: socket fd ${fd} already has a ${what} waiting (${held}); one at a time`, 'ERR_BUSY')
}

/** A waiter as the busy error names it. */
function describe(waiter: Waiter, direction: Direction): string {
  return waiter.op ?? (direction === EPOLLIN ? 'a reader from addReader' : 'a writer from addWriter')
}
