/**
 * Fd ownership for the objects that own one (Epoll, Socket): an object collected without
 * `close()` has its fd closed by a FinalizationRegistry, so dropping an object never leaks.
 */
import binding = require('./native.js')

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { fdClose } = binding

const registry = new FinalizationRegistry<number>((fd) => fdClose(fd))

/** Makes `owner` responsible for `fd`: it is closed when `owner` is collected, unless released. */
export function own(owner: object, fd: number): void {
  registry.register(owner, fd, owner)
}

/** Ends `owner`'s responsibility for its fd (on close or detach). */
export function release(owner: object): void {
  registry.unregister(owner)
}
