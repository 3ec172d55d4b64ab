/**
 * The watch suite again, on the waiting-thread path (FDPOLL_WATCH=thread): the fallback for
 * runtimes where libuv cannot be reached must keep every promise the default path keeps. The
 * WebAssembly backend has no waiting thread (it always delivers on Node's loop): there the suite
 * is one skipped test.
 */
import test from 'ava'

import { WASM } from './helpers.js'

if (WASM) {
  test.skip('the watch suite on waiting threads (skipped on the WebAssembly backend: it has no waiting thread; FDPOLL_WATCH=thread changes nothing there)', () => {})
} else {
  process.env.FDPOLL_WATCH = 'thread'
  require('./watch.spec.ts')
}
