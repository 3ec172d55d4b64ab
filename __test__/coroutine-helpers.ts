/**
 * What the coroutine suites share: a started IOLoop with its epoll fd, connected non-blocking TCP
 * sockets on 127.0.0.1, the kernel's interest list of the loop (Linux's /proc/self/fdinfo), a
 * count of epoll_ctl calls, and a snapshot of the fds and registrations to compare with later.
 */
import type { ExecutionContext } from 'ava'
import fs from 'node:fs'

import { Epoll, IOLoop, Socket, createServer } from '../src/index.js'
import { WASM } from './helpers.js'
import { LINUX, fdCount, openFds } from './inspect.js'
import { until } from './servers.js'

// The first listen() of a process opens its spare fd for good (src/spare.ts): open it now, before any fd count.
createServer(['127.0.0.1', 0]).close()

/** A started loop (on Node's loop), closed when the test ends; an exception inside it fails the test. */
export function startedLoop(t: ExecutionContext): { loop: IOLoop, epfd: number, errors: unknown[] } {
  const pollers = () => [...openFds()].filter(([, kind]) => kind === 'poller').map(([fd]) => fd)
  const before = new Set(pollers())
  const loop = new IOLoop()
  const epfd = pollers().find((fd) => !before.has(fd)) ?? -1
  const errors: unknown[] = []
  loop.onError = (e) => errors.push(e)
  void loop.start()
  t.teardown(() => loop.close())
  return { loop, epfd, errors }
}

/** A connected pair of non-blocking TCP sockets on 127.0.0.1, made with `sockAccept` and `sockConnect`; closed when the test ends. */
export async function tcpPair(t: ExecutionContext, loop: IOLoop): Promise<[Socket, Socket]> {
  const server = createServer(['127.0.0.1', 0])
  server.setblocking(false)
  const client = new Socket()
  client.setblocking(false)
  try {
    const [[conn]] = await Promise.all([loop.sockAccept(server), loop.sockConnect(client, server.getsockname())])
    t.teardown(() => conn.close())
    t.teardown(() => client.close())
    return [conn, client]
  } finally {
    server.close()
  }
}

/** The kernel's interest list of epoll fd `epfd`: fd -> events (Linux's /proc/self/fdinfo). */
export function interestList(epfd: number): Map<number, number> {
  const list = new Map<number, number>()
  for (const [, fd, events] of fs.readFileSync(`/proc/self/fdinfo/${epfd}`, 'utf8').matchAll(/^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)/gm)) {
    list.set(Number(fd), parseInt(events, 16))
  }
  return list
}

/** Counts every epoll_ctl an Epoll makes (register, modify, unregister) until the test ends. */
export function countCtl(t: ExecutionContext): { readonly calls: number } {
  const counter = { calls: 0 }
  const proto = Epoll.prototype as any
  const originals = ['register', 'modify', 'unregister'].map((name) => [name, proto[name]] as const)
  for (const [name, original] of originals) {
    proto[name] = function (this: Epoll, ...args: unknown[]) {
      counter.calls++
      return original.apply(this, args)
    }
  }
  t.teardown(() => {
    for (const [name, original] of originals) proto[name] = original
  })
  return counter
}

/** Counts the polls an Epoll makes (each dispatch of a watched loop is one) until the test ends. */
export function countPolls(t: ExecutionContext): { readonly calls: number } {
  const counter = { calls: 0 }
  const proto = Epoll.prototype as any
  const original = proto.pollInto
  proto.pollInto = function (this: Epoll, ...args: unknown[]) {
    counter.calls++
    return original.apply(this, args)
  }
  t.teardown(() => {
    proto.pollInto = original
  })
  return counter
}

/**
 * The process's fd count and the loop's registrations (its map, and the kernel's list on Linux;
 * on the WebAssembly backend the loop's epoll is the in-memory engine's, which /proc does not show).
 */
export interface Snapshot {
  fds: number
  watched: number[]
  kernel: number[]
}

export function snapshot(loop: IOLoop, epfd: number): Snapshot {
  return {
    fds: fdCount(),
    watched: [...loop.watched().keys()].sort(),
    kernel: LINUX && !WASM ? [...interestList(epfd).keys()].sort() : [],
  }
}

/** Waits until the fd count and the registrations are back to `before` (closing is immediate, Node's sockets' may lag), then asserts it. */
export async function backTo(t: ExecutionContext, loop: IOLoop, epfd: number, before: Snapshot, what: string): Promise<void> {
  const same = (a: Snapshot) => a.fds === before.fds && String(a.watched) === String(before.watched) && String(a.kernel) === String(before.kernel)
  try {
    await until(3000, what, () => same(snapshot(loop, epfd)))
  } catch {
    // the assertion below reports the difference
  }
  t.deepEqual(snapshot(loop, epfd), before, `${what}: fds and registrations are back where they were`)
}
