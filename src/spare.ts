/**
 * The spare fd that lets a process out of fds still turn connections away. When accept() fails
 * with EMFILE or ENFILE, the connection stays queued and a level-triggered listener stays ready,
 * so a loop around it spins until an fd is freed. Closing the spare fd frees one: each pending
 * connection is then accepted and closed at once (its client sees the connection end), and the
 * spare is opened again (the remedy libuv, and so Node, applies). Every accept of fdpoll does this
 * before it reports the EMFILE. One spare per thread, opened by the first `listen()`.
 */
import fs from 'node:fs'
import os from 'node:os'
import binding = require('./native.js')
import { errno } from './errors.js'

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { fdClose, socketAcceptFd } = binding

let spare = -1

/** Opens the spare fd (close-on-exec, on the null device) unless it is held; quietly, if it cannot. */
export function holdSpare(): void {
  if (spare >= 0) return
  try {
    spare = fs.openSync(os.devNull, 'r')
  } catch {
    spare = -1 // out of fds already: the next refuseAll tries again
  }
}

/**
 * After accept() on listening socket `fd` returned `result` (an fd, or -errno): on -EMFILE or
 * -ENFILE, accepts and closes every connection pending on `fd` through the spare fd, so that the
 * listener is no longer ready. Returns `result`.
 */
export function refuseAll(fd: number, result: number): number {
  if (result !== -errno.EMFILE && result !== -errno.ENFILE) return result
  holdSpare()
  if (spare < 0) return result
  fs.closeSync(spare)
  spare = -1
  for (let conn = socketAcceptFd(fd); conn >= 0; conn = socketAcceptFd(fd)) fdClose(conn)
  holdSpare()
  return result
}
