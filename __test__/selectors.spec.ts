/**
 * The selectors module, ported from the scenarios of CPython's Lib/test/test_selectors.py that
 * apply here, run against EpollSelector, PollSelector and SelectSelector alike, plus what
 * only one of them does (the epoll fd, select's FD_SETSIZE limit).
 */
import test from 'ava'
import fs from 'node:fs'

import {
  BaseSelector,
  DefaultSelector,
  EVENT_READ,
  EVENT_WRITE,
  EpollSelector,
  KeyError,
  OSError,
  PermissionError,
  PollSelector,
  RuntimeError,
  SelectSelector,
  SelectorMapping,
  Socket,
  ValueError,
  backend,
  socketpair,
  type SelectorKey,
} from '../src/index.js'
import { arrived, kernelOnly, peerClosed, socketpairsUpTo, writtenLater } from './helpers.js'
import { fdCount, openFds } from './inspect.js'

const SELECTORS = [EpollSelector, PollSelector, SelectSelector] as const
type SelectorClass = (typeof SELECTORS)[number]

function msSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6
}

/** Closes every socket of `socks` at the end of a `using` block. */
function closing<T extends Socket[]>(socks: T): T & Disposable {
  return Object.assign(socks, { [Symbol.dispose]: () => socks.forEach((s) => s.close()) })
}

/** `select` results as `[fd, events]`, by fd: comparable whatever order the OS returned. */
function ready(result: [SelectorKey, number][]): [number, number][] {
  return result.map(([key, events]): [number, number] => [key.fd, events]).sort((a, b) => a[0] - b[0])
}

/** The file objects of the keys in `result` that are ready for `events` (CPython's find_ready_matching). */
function readyFor(result: [SelectorKey, number][], events: number): unknown[] {
  return result.filter(([, ev]) => ev & events).map(([key]) => key.fileobj)
}

/**
 * `Selector` with its OS modify counted, or failing with `error`, once `armed` (CPython mocks
 * `_selector.modify`; SelectSelector's register goes through osModify too, hence the arming).
 */
function instrumented(Selector: SelectorClass, error?: Error) {
  const Base = Selector as typeof EpollSelector // for the types only: `super` is Selector's
  return class extends Base {
    armed = false
    readonly modifies: [number, number][] = []

    protected override osModify(fd: number, events: number): void {
      if (this.armed) {
        this.modifies.push([fd, events])
        if (error !== undefined) throw error
      }
      super.osModify(fd, events)
    }
  }
}

class ZeroDivisionError extends Error {}

test('DefaultSelector is EpollSelector; EVENT_READ and EVENT_WRITE are 1 and 2', (t) => {
  t.is(DefaultSelector, EpollSelector)
  using s = new DefaultSelector()
  t.true(s instanceof BaseSelector)
  t.is(EVENT_READ, 1)
  t.is(EVENT_WRITE, 2)
})

for (const Selector of SELECTORS) {
  const name = Selector.name

  test(`${name}: register returns the key; bad events, bad files and a second registration are refused`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    const [rd, wr] = pair
    const key = s.register(rd, EVENT_READ, 'data')
    t.is(key.fileobj, rd)
    t.is(key.fd, rd.fileno())
    t.is(key.events, EVENT_READ)
    t.is(key.data, 'data')
    t.is(s.register(wr, EVENT_WRITE).data, undefined, 'data defaults to undefined (None)')
    s.unregister(wr)

    for (const events of [0, 1 << 2, 1 << 5, 999999, -1, 1.5, NaN, EVENT_READ | (1 << 5)]) {
      t.throws(() => s.register(wr, events), { instanceOf: ValueError, code: 'ERR_INVALID_EVENTS' }, `events ${events}`)
    }
    t.throws(() => s.register(wr, '1' as any), { instanceOf: ValueError })
    for (const bad of [-10, {}, '3', null]) {
      t.throws(() => s.register(bad as any, EVENT_READ), { instanceOf: ValueError, code: 'ERR_INVALID_FILE' }, String(bad))
    }
    const closed = new Socket()
    closed.close()
    t.throws(() => s.register(closed, EVENT_READ), { instanceOf: ValueError, code: 'ERR_INVALID_FILE' })

    // Registered twice: by the same object, by its fd, by another object with that fd.
    for (const again of [rd, rd.fileno(), { fileno: () => rd.fileno() }]) {
      t.throws(() => s.register(again, EVENT_WRITE), { instanceOf: KeyError, code: 'ERR_ALREADY_REGISTERED' })
    }
    t.is(s.getKey(rd), key, 'the first key is untouched')
    t.is(s.getMap()!.size, 1, 'no failed registration left a key behind')
    const wrKey = s.register(wr, EVENT_WRITE)
    t.deepEqual(s.select(0), [[wrKey, EVENT_WRITE]])
  })

  test(`${name}: unregister returns the key and stops watching; KeyError when not registered`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    const [rd, wr] = pair
    const key = s.register(wr, EVENT_WRITE)
    t.is(s.select(0).length, 1)
    t.is(s.unregister(wr), key)
    t.deepEqual(s.select(0), [])
    t.is(s.getMap()!.size, 0)
    t.throws(() => s.unregister(wr), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' }, 'twice')
    t.throws(() => s.unregister(999999), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
    t.throws(() => s.unregister(rd), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
    // The OS object forgot it too: registering again is no EEXIST, and it is watched again.
    const again = s.register(wr, EVENT_WRITE)
    t.deepEqual(s.select(0), [[again, EVENT_WRITE]])
  })

  test(`${name}: unregister works after the file was closed, by fd or by the closed socket`, (t) => {
    using s = new Selector()
    const [rd, wr] = socketpair()
    const [r, w] = [rd.fileno(), wr.fileno()]
    s.register(r, EVENT_READ)
    const wrKey = s.register(wr, EVENT_WRITE)
    rd.close()
    wr.close()
    t.is(wr.fileno(), -1)
    t.is(s.getKey(wr), wrKey, 'a closed socket is still found: by identity')
    t.is(s.unregister(r).fd, r)
    const key = s.unregister(wr)
    t.is(key, wrKey)
    t.is(key.fd, w)
    t.is(s.getMap()!.size, 0)
  })

  test(`${name}: unregister after the fd was closed and its number reused leaves the new file alone`, (t) => {
    using s = new Selector()
    const [rd, wr] = socketpair()
    const [r, w] = [rd.fileno(), wr.fileno()]
    s.register(r, EVENT_READ)
    s.register(w, EVENT_WRITE)
    rd.close()
    wr.close()
    // Fill any lower holes, so that the next socketpair takes exactly r and w again (CPython dup2s).
    using fillers = closing<Socket[]>([])
    for (let i = 0; i < 10_000; i++) {
      const sock = new Socket()
      if (sock.fileno() === r) {
        sock.close()
        break
      }
      fillers.push(sock)
    }
    using reused = closing(socketpair())
    const [rd2, wr2] = reused
    t.deepEqual([rd2.fileno(), wr2.fileno()], [r, w])
    t.is(s.unregister(r).events, EVENT_READ)
    t.is(s.unregister(w).events, EVENT_WRITE)
    t.is(s.getMap()!.size, 0)
    // The new sockets work, and can be registered afresh (for epoll: no stale EEXIST).
    const key = s.register(rd2, EVENT_READ | EVENT_WRITE)
    wr2.send(Buffer.from('x'))
    arrived(rd2)
    t.deepEqual(s.select(0), [[key, EVENT_READ | EVENT_WRITE]])
    t.is(rd2.recv(4).toString(), 'x')
  })

  test(`${name}: modify changes the events or the data and returns a new key; KeyError when not registered`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    const [rd] = pair
    const key = s.register(rd, EVENT_READ)
    t.deepEqual(s.select(0), [])
    const key2 = s.modify(rd, EVENT_WRITE)
    t.not(key2, key)
    t.is(key.events, EVENT_READ, 'the old key is not changed in place')
    t.is(key2.events, EVENT_WRITE)
    t.is(s.getKey(rd), key2)
    t.deepEqual(s.select(0), [[key2, EVENT_WRITE]], 'the OS object was changed')
    s.unregister(rd)

    const d1 = {}
    const d2 = {}
    const key3 = s.register(rd, EVENT_READ, d1)
    const key4 = s.modify(rd, EVENT_READ, d2)
    t.is(key4.events, key3.events)
    t.is(key4.data, d2)
    t.is(key3.data, d1)
    t.is(s.getKey(rd), key4)
    t.is(s.modify(rd, EVENT_READ, d2), key4, 'nothing changed: the same key')

    t.throws(() => s.modify(999999, EVENT_READ), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
    // Stricter than CPython, which passes such masks to the OS: refused, and the key stays.
    t.throws(() => s.modify(rd, 0), { instanceOf: ValueError, code: 'ERR_INVALID_EVENTS' })
    t.throws(() => s.modify(rd, 1 << 5), { instanceOf: ValueError, code: 'ERR_INVALID_EVENTS' })
    t.is(s.getKey(rd), key4)
  })

  test(`${name}: a data-only modify makes no OS call; an events change makes one`, (t) => {
    const Counting = instrumented(Selector)
    using s = new Counting()
    using pair = closing(socketpair())
    const [rd] = pair
    s.register(rd, EVENT_READ, 'd1')
    s.armed = true
    t.is(s.modify(rd, EVENT_READ, 'd2').data, 'd2')
    t.deepEqual(s.modifies, [], 'CPython test_modify: "modify use a shortcut"')
    s.modify(rd, EVENT_READ | EVENT_WRITE, 'd2')
    t.deepEqual(s.modifies, [[rd.fileno(), EVENT_READ | EVENT_WRITE]])
  })

  test(`${name}: a failed OS modify unregisters the file and rethrows (bpo-30014)`, (t) => {
    const error = new ZeroDivisionError('boom')
    const Failing = instrumented(Selector, error)
    using s = new Failing()
    using pair = closing(socketpair())
    const [rd] = pair
    s.register(rd, EVENT_READ, 'a')
    s.armed = true
    t.is(s.modify(rd, EVENT_READ, 'b').data, 'b', 'a data-only change has no OS call to fail')
    t.is(s.getMap()!.size, 1)
    t.is(t.throws(() => s.modify(rd, EVENT_WRITE)), error)
    t.deepEqual(s.modifies, [[rd.fileno(), EVENT_WRITE]], 'one OS modify, which failed')
    t.is(s.getMap()!.size, 0)
    t.throws(() => s.getKey(rd), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
  })

  test(`${name}: close empties the map, getMap() is null and getKey a RuntimeError; the files stay open`, (t) => {
    const s = new Selector()
    const mapping = s.getMap()!
    using pair = closing(socketpair())
    const [rd, wr] = pair
    s.register(rd, EVENT_READ)
    s.register(wr, EVENT_WRITE)
    s.close()
    t.is(s.getMap(), null)
    for (const fileobj of [rd, wr, 999999]) {
      t.throws(() => s.getKey(fileobj), { instanceOf: RuntimeError, code: 'ERR_CLOSED' })
    }
    t.is(mapping.size, 0, 'a mapping taken before close is empty')
    t.is(mapping.get(rd), undefined)
    t.false(mapping.has(wr))
    wr.sendall(Buffer.from('still open'))
    t.is(rd.recv(64).toString(), 'still open')
    s.close() // twice is fine
    t.is(s.getMap(), null)
  })

  test(`${name}: \`using\` closes it, as Python's \`with\``, (t) => {
    const s = new Selector()
    using pair = closing(socketpair())
    const [rd, wr] = pair
    {
      using sel = s
      sel.register(rd, EVENT_READ)
      sel.register(wr, EVENT_WRITE)
      t.is(sel.getMap()!.size, 2)
    }
    t.is(s.getMap(), null)
    t.throws(() => s.getKey(rd), { instanceOf: RuntimeError, code: 'ERR_CLOSED' })
    t.throws(() => s.getKey(wr), { instanceOf: RuntimeError, code: 'ERR_CLOSED' })
  })

  test(`${name}: getKey finds the key by object or by fd; KeyError for what is not registered`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    const [rd, wr] = pair
    const key = s.register(rd, EVENT_READ, 'data')
    t.is(s.getKey(rd), key)
    t.is(s.getKey(rd.fileno()), key)
    t.is(s.getKey({ fileno: () => rd.fileno() }), key)
    t.throws(() => s.getKey(999999), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
    t.throws(() => s.getKey(wr), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
  })

  test(`${name}: getMap is a live, read-only view keyed by fd, looked up by fd or object`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    const [rd, wr] = pair
    const keys = s.getMap()!
    t.true(keys instanceof SelectorMapping)
    t.false((keys as unknown) instanceof Map)
    t.is(keys.size, 0)
    t.deepEqual([...keys], [])
    t.is(keys.get(rd), undefined)
    t.false(keys.has(rd))

    const key = s.register(rd, EVENT_READ, 'data')
    t.is(s.getMap(), keys, 'the same view, updated')
    t.true(keys.has(rd))
    t.true(keys.has(rd.fileno()))
    t.is(keys.get(rd), key)
    t.is(keys.get(rd.fileno()), key)
    t.is(keys.size, 1)
    t.deepEqual([...keys.keys()], [rd.fileno()])
    t.deepEqual([...keys.values()], [key])
    t.deepEqual([...keys], [[rd.fileno(), key]])
    t.is(keys.get(999999), undefined)
    t.is(keys.get({} as any), undefined, 'an object without an fd is simply not there')

    const wrKey = s.register(wr, EVENT_WRITE)
    t.is(keys.size, 2)
    t.deepEqual(new Set(keys.values()), new Set([key, wrKey]))
    s.unregister(rd)
    t.deepEqual([...keys], [[wr.fileno(), wrKey]])

    // Read-only: no way to change the selector's keys through it.
    for (const method of ['set', 'delete', 'clear']) t.is((keys as any)[method], undefined, method)
  })

  test(`${name}: select returns [key, events] pairs, events limited to those registered`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    const [rd, wr] = pair
    const rdKey = s.register(rd, EVENT_READ)
    const wrKey = s.register(wr, EVENT_WRITE)
    const result = s.select(5) // CPython: select(); `wr` is writable at once
    for (const [key, events] of result) {
      t.truthy(s.getMap()!.get(key.fileobj))
      t.true(events !== 0 && (events & ~(EVENT_READ | EVENT_WRITE)) === 0)
    }
    t.deepEqual(result, [[wrKey, EVENT_WRITE]], '`rd` is writable too, but registered for reading only')
    rd.send(Buffer.from('x')) // `wr` is now readable as well: still only EVENT_WRITE for it
    wr.send(Buffer.from('y'))
    arrived(wr)
    arrived(rd)
    t.deepEqual(ready(s.select(0)), ready([[rdKey, EVENT_READ], [wrKey, EVENT_WRITE]]))
  })

  test(`${name}: a file registered for both events gets both in one entry (gh-110038)`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    const [sock1, sock2] = pair
    sock2.send(Buffer.from('foo'))
    arrived(sock1)
    const key = s.register(sock1, EVENT_READ | EVENT_WRITE)
    t.deepEqual(s.select(5), [[key, EVENT_READ | EVENT_WRITE]])
  })

  test(`${name}: a hung-up peer wakes a reader with EVENT_READ only, a writer with EVENT_WRITE only`, (t) => {
    using s = new Selector()
    const [reader, gone1] = socketpair()
    const [writer, gone2] = socketpair()
    using open = closing([reader, writer])
    const readerKey = s.register(reader, EVENT_READ)
    const writerKey = s.register(writer, EVENT_WRITE)
    t.deepEqual(s.select(0), [[writerKey, EVENT_WRITE]])
    gone1.close() // HUP: epoll and poll report it as an error, which wakes both directions
    gone2.close()
    peerClosed(reader)
    peerClosed(writer)
    t.deepEqual(ready(s.select(0)), ready([[readerKey, EVENT_READ], [writerKey, EVENT_WRITE]]))
    t.is(reader.recv(1).length, 0, 'EOF')
  })

  test(`${name}: select(0) and select(-1) do not block, select(0.05) waits at least 50 ms`, async (t) => {
    using s = new Selector()
    t.deepEqual(s.select(0), [], 'nothing registered (bpo-23009)')
    const [rd, writer] = writtenLater(t, 2, 'late') // a select that blocked would end in 2 s with `rd` ready
    t.teardown(writer.stop)
    using other = closing(socketpair())
    const wrKey = s.register(other[0], EVENT_WRITE)
    let start = process.hrtime.bigint()
    t.deepEqual(s.select(0), [[wrKey, EVENT_WRITE]])
    t.deepEqual(s.select(-1), [[wrKey, EVENT_WRITE]])
    s.unregister(other[0])
    s.register(rd, EVENT_READ)
    t.deepEqual(s.select(0), [])
    t.deepEqual(s.select(-1), [])
    t.true(msSince(start) < 500, `${msSince(start)} ms`)

    start = process.hrtime.bigint()
    t.deepEqual(s.select(0.05), [])
    const ms = msSince(start)
    t.true(ms >= 50 && ms < 1500, `${ms} ms`)
    await writer.stop()
  })

  test(`${name}: timeouts round up: select(t) waits at least t (bpo-20311)`, (t) => {
    using s = new Selector()
    using pair = closing(socketpair())
    s.register(pair[0], EVENT_READ)
    for (const timeout of [1e-2, 1e-3, 1e-4]) {
      const start = process.hrtime.bigint()
      t.deepEqual(s.select(timeout), [])
      t.true(msSince(start) >= timeout * 1000, `select(${timeout}) took ${msSince(start)} ms`)
    }
    if (Selector !== SelectSelector) {
      // epoll_wait and poll count milliseconds: 0.1 ms becomes 1 ms, not 0.
      const start = process.hrtime.bigint()
      s.select(0.0001)
      t.true(msSince(start) >= 1, `select(0.0001) took ${msSince(start)} ms`)
    }
  })

  for (const timeout of [undefined, null]) {
    test(`${name}: select(${timeout}) blocks until a file is ready`, async (t) => {
      using s = new Selector()
      const start = process.hrtime.bigint()
      const [rd, writer] = writtenLater(t, 0.1, 'x')
      const key = s.register(rd, EVENT_READ)
      t.teardown(writer.stop)
      t.deepEqual(s.select(timeout), [[key, EVENT_READ]])
      const ms = msSince(start)
      t.is(rd.recv(16).toString(), 'x', 'woken by the data, not by the child exiting')
      t.true(ms >= 95, `returned after ${ms} ms`)
      await writer.stop()
    })
  }

  test(`${name}: 12 socketpairs, written one at a time, each read where it was written (test_selector)`, (t) => {
    using s = new Selector()
    const MSG = Buffer.from(' This is a test.')
    const pairs = Array.from({ length: 12 }, () => socketpair())
    using all = closing(pairs.flat())
    const w2r = new Map<unknown, Socket>()
    const r2w = new Map<unknown, Socket>()
    for (const [rd, wr] of pairs) {
      s.register(rd, EVENT_READ)
      s.register(wr, EVENT_WRITE)
      w2r.set(wr, rd)
      r2w.set(rd, wr)
    }
    const writers = new Set(pairs.map(([, wr]) => wr))
    const bufs: Buffer[] = []
    while (writers.size > 0) {
      const readyWriters = readyFor(s.select(1), EVENT_WRITE) as Socket[]
      t.true(readyWriters.length > 0, 'no sockets ready for writing')
      if (readyWriters.length === 0) return
      t.is(readyWriters.length, writers.size, 'every registered writer is writable')
      const wr = readyWriters[Math.floor(Math.random() * readyWriters.length)]
      wr.send(MSG)
      arrived(w2r.get(wr)!, MSG.length)
      const readyReaders = readyFor(s.select(1), EVENT_READ) as Socket[]
      t.deepEqual(readyReaders, [w2r.get(wr)!])
      const rd = readyReaders[0]
      bufs.push(rd.recv(MSG.length))
      s.unregister(r2w.get(rd)!)
      s.unregister(rd)
      writers.delete(r2w.get(rd)!)
    }
    t.deepEqual(bufs, Array(12).fill(MSG))
    t.is(s.getMap()!.size, 0)
  })

  test(`${name}: a file closed behind its back while registered`, (t) => {
    using s = new Selector()
    const [rd, wr] = socketpair()
    using open = closing([wr])
    const key = s.register(rd, EVENT_READ)
    rd.close() // synchronous from here on: nothing reopens the number
    if (Selector === EpollSelector) {
      t.deepEqual(s.select(0), [], 'the kernel dropped it from the epoll set')
    } else if (Selector === PollSelector) {
      t.deepEqual(s.select(0), [[key, EVENT_READ]], 'POLLNVAL wakes it, as in CPython')
    } else {
      t.throws(() => s.select(0), { instanceOf: OSError, code: 'EBADF' })
    }
    t.is(s.unregister(rd), key)
    t.deepEqual(s.select(0), [])
  })
}

kernelOnly("reads the OS's fd table (/proc/self/fd), where the WebAssembly backend's Epoll fds, its engine's, are not")(
  'EpollSelector.fileno() is its own poller fd (epoll, or kqueue off Linux), closed by close()', (t) => {
  const before = fdCount('poller')
  const s = new EpollSelector()
  const s2 = new EpollSelector()
  const fd = s.fileno()
  t.true(Number.isInteger(fd) && fd >= 0)
  t.not(s2.fileno(), fd)
  t.is(openFds().get(fd), 'poller')
  t.is(fdCount('poller'), before + (backend === 'mio' ? 4 : 2), 'the mio backend holds two poller fds per Epoll')
  s.close()
  s2.close()
  t.is(fdCount('poller'), before)
  t.throws(() => s.fileno(), { instanceOf: ValueError, code: 'ERR_CLOSED' })
  t.throws(() => s.select(0), { instanceOf: ValueError, code: 'ERR_CLOSED' })
})

test('PollSelector and SelectSelector have no fileno()', (t) => {
  using p = new PollSelector()
  using s = new SelectSelector()
  t.false('fileno' in p)
  t.false('fileno' in s)
})

test('an EpollSelector can itself be watched: its fd is readable when a file in it is ready', (t) => {
  using outer = new EpollSelector()
  using inner = new EpollSelector()
  using pair = closing(socketpair())
  const [rd, wr] = pair
  inner.register(rd, EVENT_READ)
  const innerKey = outer.register(inner, EVENT_READ)
  t.is(innerKey.fd, inner.fileno())
  t.deepEqual(outer.select(0), [])
  wr.send(Buffer.from('x'))
  t.deepEqual(outer.select(1), [[innerKey, EVENT_READ]])
  t.is(inner.select(0)[0][0].fileobj, rd)
})

kernelOnly("a file the OS opened is no fd of the WebAssembly backend's engine, which knows only its own (EBADF, the next test)")(
  'EpollSelector: a regular file that epoll refuses (EPERM) in register rolls the key back', (t) => {
  using s = new EpollSelector()
  // A regular file, which epoll refuses (EPERM); kqueue would watch it, so the mio backend refuses it as epoll does.
  const file = fs.openSync(__filename, 'r')
  t.teardown(() => fs.closeSync(file))
  const err = t.throws(() => s.register(file, EVENT_READ), { instanceOf: PermissionError, code: 'EPERM' })
  t.is(err.syscall, 'epoll_ctl')
  t.is(s.getMap()!.size, 0)
  t.throws(() => s.getKey(file), { instanceOf: KeyError })
})

test('EpollSelector: a failed epoll_ctl in register rolls the key back', (t) => {
  using s = new EpollSelector()
  const sock = new Socket()
  const fd = sock.fileno()
  sock.close() // synchronous from here on: nothing reopens the number
  t.throws(() => s.register(fd, EVENT_READ), { instanceOf: OSError, code: 'EBADF' })
  t.is(s.getMap()!.size, 0)
})

test('EpollSelector: modify of a file closed behind its back fails in the OS and unregisters it', (t) => {
  using s = new EpollSelector()
  const [rd, wr] = socketpair()
  using open = closing([wr])
  s.register(rd, EVENT_READ)
  rd.close() // synchronous from here on: nothing reopens the number
  const err = t.throws(() => s.modify(rd, EVENT_WRITE), { instanceOf: OSError, code: 'EBADF' })
  t.is(err.syscall, 'epoll_ctl')
  t.is(s.getMap()!.size, 0)
  t.throws(() => s.getKey(rd), { instanceOf: KeyError, code: 'ERR_NOT_REGISTERED' })
})

for (const Selector of [EpollSelector, PollSelector]) {
  test(`${Selector.name}: watches more fds than FD_SETSIZE (test_above_fd_setsize)`, (t) => {
    using s = new Selector()
    const pairs = socketpairsUpTo(1100)
    using all = closing(pairs.flat())
    t.true(all[all.length - 1].fileno() >= 1100)
    for (const [rd, wr] of pairs) {
      s.register(rd, EVENT_READ)
      s.register(wr, EVENT_WRITE)
    }
    const result = s.select(0)
    t.is(result.length, pairs.length, 'every writer, and no reader')
    t.true(result.every(([key, events]) => events === EVENT_WRITE && key.events === EVENT_WRITE))
    const [lastRd, lastWr] = pairs[pairs.length - 1]
    lastWr.send(Buffer.from('x'))
    arrived(lastRd)
    t.deepEqual(readyFor(s.select(0), EVENT_READ), [lastRd])
  })
}

test('SelectSelector: an fd at or past FD_SETSIZE is RangeError at register, and the key is rolled back', (t) => {
  using s = new SelectSelector()
  using pair = closing(socketpair())
  const low = s.register(pair[0], EVENT_READ | EVENT_WRITE)
  const fake = { fileno: () => 1500 }
  t.throws(() => s.register(fake, EVENT_READ), { instanceOf: RangeError })
  t.throws(() => s.register(1024, EVENT_WRITE), { instanceOf: RangeError })
  t.is(s.getMap()!.size, 1)
  t.throws(() => s.getKey(fake), { instanceOf: KeyError })

  const pairs = socketpairsUpTo(1030)
  using all = closing(pairs.flat())
  const high = all[all.length - 1]
  t.true(high.fileno() >= 1024)
  t.throws(() => s.register(high, EVENT_WRITE), { instanceOf: RangeError })
  t.is(s.getMap()!.size, 1)
  t.false(s.getMap()!.has(high))
  t.deepEqual(s.select(0), [[low, EVENT_WRITE]], 'select still works with the fds it can watch')
})
