/**
 * The watch suite again, on the waiting-thread path (FDPOLL_WATCH=thread): the fallback for
 * runtimes where libuv cannot be reached must keep every promise the default path keeps.
 */
process.env.FDPOLL_WATCH = 'thread'
require('./watch.spec.ts')
