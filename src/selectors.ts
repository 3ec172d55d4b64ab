/**
 * Python's `selectors` module: high-level I/O multiplexing over a key map (fd → SelectorKey).
 * `EpollSelector` (the default here), `PollSelector` and `SelectSelector` share CPython's
 * semantics: register validates and records the key, then makes the OS call and rolls the
 * key back if it fails; a data-only `modify` makes no syscall; `select` is level-triggered.
 */
import { fileno } from './args.js'
import { EPOLLIN, EPOLLOUT, POLLIN, POLLOUT } from './constants.js'
import { Epoll, type FileLike } from './epoll.js'
import { KeyError, OSError, RuntimeError, ValueError } from './errors.js'
import { Poll, select } from './select.js'

/** Readable. */
export const EVENT_READ = 1 << 0
/** Writable. */
export const EVENT_WRITE = 1 << 1

/** What `register` records for a file object (Python's `SelectorKey` namedtuple). */
export interface SelectorKey<T = unknown> {
  readonly fileobj: FileLike
  readonly fd: number
  readonly events: number
  readonly data: T
}

/** The read-only view `getMap()` returns: keys looked up by fd or by file object. */
export class SelectorMapping<T = unknown> implements Iterable<[number, SelectorKey<T>]> {
  readonly #selector: BaseSelector<T>
  readonly #keys: Map<number, SelectorKey<T>>

  /** Made by the selector; not constructed by users. */
  constructor(selector: BaseSelector<T>, keys: Map<number, SelectorKey<T>>) {
    this.#selector = selector
    this.#keys = keys
  }

  /** How many file objects are registered. */
  get size(): number {
    return this.#keys.size
  }

  /** The key of `fileobj` (an fd or an object), or undefined. */
  get(fileobj: FileLike): SelectorKey<T> | undefined {
    const fd = this.#selector.lookup(fileobj)
    return fd === undefined ? undefined : this.#keys.get(fd)
  }

  /** Whether `fileobj` is registered. */
  has(fileobj: FileLike): boolean {
    return this.get(fileobj) !== undefined
  }

  /** The registered fds. */
  keys(): IterableIterator<number> {
    return this.#keys.keys()
  }

  /** The registered keys. */
  values(): IterableIterator<SelectorKey<T>> {
    return this.#keys.values()
  }

  /** `[fd, key]` pairs. */
  [Symbol.iterator](): IterableIterator<[number, SelectorKey<T>]> {
    return this.#keys.entries()
  }
}

/** What the three selectors share: the key map and its rules. */
export abstract class BaseSelector<T = unknown> implements Disposable {
  #keys: Map<number, SelectorKey<T>> = new Map()
  #map: SelectorMapping<T> | null = new SelectorMapping(this, this.#keys)

  /** Watches `fileobj` for `events` (EVENT_READ | EVENT_WRITE), with `data` attached; returns its key. */
  register(fileobj: FileLike, events: number, data?: T): SelectorKey<T> {
    checkEvents(events)
    const key: SelectorKey<T> = { fileobj, fd: this.#fd(fileobj), events, data: data as T }
    if (this.#keys.has(key.fd)) throw new KeyError(`${describe(fileobj)} (FD ${key.fd}) is already registered`, 'ERR_ALREADY_REGISTERED')
    this.#keys.set(key.fd, key)
    try {
      this.osRegister(key.fd, events)
    } catch (e) {
      this.#keys.delete(key.fd)
      throw e
    }
    return key
  }

  /** Stops watching `fileobj` (which may be closed already); returns its key. */
  unregister(fileobj: FileLike): SelectorKey<T> {
    const key = this.#key(fileobj)
    this.#keys.delete(key.fd)
    try {
      this.osUnregister(key.fd)
    } catch (e) {
      if (!(e instanceof OSError)) throw e // the fd may have been closed since it was registered
    }
    return key
  }

  /** Changes the events and/or data of `fileobj`; a data-only change makes no syscall. */
  modify(fileobj: FileLike, events: number, data?: T): SelectorKey<T> {
    const key = this.#key(fileobj)
    if (events !== key.events) {
      checkEvents(events)
      try {
        this.osModify(key.fd, events)
      } catch (e) {
        this.#keys.delete(key.fd) // as CPython: a failed OS modify leaves the fd unregistered
        throw e
      }
    } else if (data === key.data) {
      return key
    }
    const changed: SelectorKey<T> = { ...key, events, data: data as T }
    this.#keys.set(key.fd, changed)
    return changed
  }

  /**
   * Waits up to `timeout` seconds (undefined or null blocks, <= 0 does not) and returns
   * `[key, events]` for each ready file object, events limited to those it registered.
   */
  select(timeout?: number | null): [SelectorKey<T>, number][] {
    if (timeout !== undefined && timeout !== null && typeof timeout !== 'number') {
      throw new TypeError(`timeout must be a number of seconds, got ${typeof timeout}`)
    }
    const ready: [SelectorKey<T>, number][] = []
    for (const [fd, events] of this.osSelect(timeout)) {
      const key = this.#keys.get(fd)
      if (key !== undefined && (events & key.events) !== 0) ready.push([key, events & key.events])
    }
    return ready
  }

  /** The key of `fileobj`; KeyError if it is not registered, RuntimeError once closed. */
  getKey(fileobj: FileLike): SelectorKey<T> {
    if (this.#map === null) throw new RuntimeError('Selector is closed', 'ERR_CLOSED')
    const key = this.#map.get(fileobj)
    if (key === undefined) throw new KeyError(`${describe(fileobj)} is not registered`, 'ERR_NOT_REGISTERED')
    return key
  }

  /** The read-only map of registered keys, or null once closed. */
  getMap(): SelectorMapping<T> | null {
    return this.#map
  }

  /** Forgets every key (and closes the OS object, for EpollSelector). Registered files stay open. */
  close(): void {
    this.#keys.clear()
    this.#map = null
  }

  /** Closes, so `using sel = new DefaultSelector()` works like Python's `with`. */
  [Symbol.dispose](): void {
    this.close()
  }

  /** The fd of `fileobj`, or of the registered object that is `fileobj` when it has none now. */
  lookup(fileobj: FileLike): number | undefined {
    try {
      return fileno(fileobj)
    } catch (e) {
      for (const key of this.#keys.values()) if (key.fileobj === fileobj) return key.fd
      if (e instanceof TypeError || e instanceof RangeError) return undefined
      throw e
    }
  }

  /** Adds `fd` to the OS object, with EVENT_* `events`. */
  protected abstract osRegister(fd: number, events: number): void
  /** Changes the EVENT_* `events` of `fd` in the OS object. */
  protected abstract osModify(fd: number, events: number): void
  /** Removes `fd` from the OS object. */
  protected abstract osUnregister(fd: number): void
  /** Waits and returns `[fd, EVENT_* events]` pairs. */
  protected abstract osSelect(timeout: number | null | undefined): [number, number][]

  #fd(fileobj: FileLike): number {
    const fd = this.lookup(fileobj)
    if (fd === undefined) throw new ValueError(`Invalid file object: ${describe(fileobj)}`, 'ERR_INVALID_FILE')
    return fd
  }

  #key(fileobj: FileLike): SelectorKey<T> {
    const fd = this.lookup(fileobj)
    const key = fd === undefined ? undefined : this.#keys.get(fd)
    if (key === undefined) throw new KeyError(`${describe(fileobj)} is not registered`, 'ERR_NOT_REGISTERED')
    return key
  }
}

/**
 * A selector on fdpoll's Epoll: O(ready) per select. The default wherever fdpoll runs: epoll on
 * Linux, kqueue through the mio backend on macOS and FreeBSD.
 */
export class EpollSelector<T = unknown> extends BaseSelector<T> {
  readonly #epoll = new Epoll()

  /** The Epoll's fd, an epoll or (mio backend) kqueue fd, so that this selector can itself be watched. */
  fileno(): number {
    return this.#epoll.fileno()
  }

  protected osRegister(fd: number, events: number): void {
    this.#epoll.register(fd, toMask(events, EPOLLIN, EPOLLOUT))
  }

  protected osModify(fd: number, events: number): void {
    this.#epoll.modify(fd, toMask(events, EPOLLIN, EPOLLOUT))
  }

  protected osUnregister(fd: number): void {
    this.#epoll.unregister(fd)
  }

  protected osSelect(timeout: number | null | undefined): [number, number][] {
    const seconds = timeout === undefined || timeout === null ? -1 : timeout <= 0 ? 0 : Math.ceil(timeout * 1e3) * 1e-3
    return this.#epoll.poll(seconds, Math.max(this.getMap()?.size ?? 0, 1)).map(([fd, ev]) => [fd, toEvents(ev, EPOLLIN, EPOLLOUT)])
  }

  override close(): void {
    this.#epoll.close()
    super.close()
  }
}

/** A selector on poll(2): O(registered) per select. */
export class PollSelector<T = unknown> extends BaseSelector<T> {
  readonly #poll = new Poll()

  protected osRegister(fd: number, events: number): void {
    this.#poll.register(fd, toMask(events, POLLIN, POLLOUT))
  }

  protected osModify(fd: number, events: number): void {
    this.#poll.modify(fd, toMask(events, POLLIN, POLLOUT))
  }

  protected osUnregister(fd: number): void {
    this.#poll.unregister(fd)
  }

  protected osSelect(timeout: number | null | undefined): [number, number][] {
    const ms = timeout === undefined || timeout === null ? null : timeout <= 0 ? 0 : Math.ceil(timeout * 1e3)
    return this.#poll.poll(ms).map(([fd, ev]) => [fd, toEvents(ev, POLLIN, POLLOUT)])
  }
}

/** A selector on select(2): O(registered) per select, fds below 1024 only. */
export class SelectSelector<T = unknown> extends BaseSelector<T> {
  readonly #readers = new Set<number>()
  readonly #writers = new Set<number>()

  protected osRegister(fd: number, events: number): void {
    if (fd >= 1024) throw new RangeError(`filedescriptor out of range in select(): ${fd}`)
    this.osModify(fd, events)
  }

  protected osModify(fd: number, events: number): void {
    if (events & EVENT_READ) this.#readers.add(fd)
    else this.#readers.delete(fd)
    if (events & EVENT_WRITE) this.#writers.add(fd)
    else this.#writers.delete(fd)
  }

  protected osUnregister(fd: number): void {
    this.#readers.delete(fd)
    this.#writers.delete(fd)
  }

  protected osSelect(timeout: number | null | undefined): [number, number][] {
    const [r, w] = select(this.#readers, this.#writers, [], timeout === undefined || timeout === null ? null : Math.max(timeout, 0))
    const ready = new Map<number, number>()
    for (const fd of r) ready.set(fd, EVENT_READ)
    for (const fd of w) ready.set(fd, (ready.get(fd) ?? 0) | EVENT_WRITE)
    return [...ready]
  }
}

/** The best selector for this platform: EpollSelector on every platform fdpoll runs on. */
export const DefaultSelector = EpollSelector

/** ValueError unless `events` is a non-empty combination of EVENT_READ and EVENT_WRITE. */
function checkEvents(events: unknown): void {
  if (typeof events !== 'number' || !Number.isInteger(events) || events <= 0 || events & ~(EVENT_READ | EVENT_WRITE)) {
    throw new ValueError(`Invalid events: ${typeof events === 'number' ? events : typeof events}`, 'ERR_INVALID_EVENTS')
  }
}

/** EVENT_* bits → an OS mask. */
function toMask(events: number, read: number, write: number): number {
  return (events & EVENT_READ ? read : 0) | (events & EVENT_WRITE ? write : 0)
}

/** An OS mask → EVENT_* bits: anything but "only writable" reads, anything but "only readable" writes (errors wake both). */
function toEvents(mask: number, read: number, write: number): number {
  return (mask & ~write ? EVENT_READ : 0) | (mask & ~read ? EVENT_WRITE : 0)
}

function describe(fileobj: unknown): string {
  if (typeof fileobj === 'number') return String(fileobj)
  const name = (fileobj as object)?.constructor?.name ?? typeof fileobj
  return `<${name}>`
}
