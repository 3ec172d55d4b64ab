/** fdpoll: Python-style epoll for Node.js. Re-exports only. */
export * from './constants.js'
export * from './errors.js'
export { Epoll, type FileLike } from './epoll.js'
