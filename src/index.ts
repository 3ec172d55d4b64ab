/** fdpoll: Python-style epoll, sockets, selectors, an IOLoop and coroutines for Node.js. Re-exports only. */
export * from './constants.js'
export * from './errors.js'
export { Epoll, backend, type FileLike } from './epoll.js'
export type { Watcher } from './watcher.js'
export { Socket, socketpair, createServer, createConnection, type Address, type ServerOptions } from './socket.js'
export { setNoDelay, setCork, corked } from './tcp.js'
export { Poll, poll, select } from './select.js'
export {
  EVENT_READ, EVENT_WRITE, DefaultSelector, EpollSelector, PollSelector, SelectSelector, BaseSelector,
  SelectorMapping, type SelectorKey,
} from './selectors.js'
export { IOLoop, RemoteIOLoop, Timeout, type Handler, type RemoteHandle } from './ioloop.js'
export { type OperationOptions } from './sockops.js'
export { Task, joinAll, type JoinOptions } from './tasks.js'
export {
  IOStream, StreamClosedError, UnsatisfiableReadError, type IOStreamOptions, type ReadUntilOptions,
} from './iostream.js'
export { fastpath } from './fastpath.js'
