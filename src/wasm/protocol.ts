/**
 * The request channel between the calling thread and the socket host's worker: a control
 * SharedArrayBuffer of int32 slots and a data SharedArrayBuffer for bytes (payloads and address
 * strings). One request at a time: the caller fills OP and ARGS (and data), bumps REQ and waits
 * on REP; the worker answers in RESULT and OUT (and data) and sets REP to REQ (`serveRequests`).
 */

/** Control slots (int32 indexes). */
export const REQ = 0
export const REP = 1
/** 0 while the worker boots, 1 once it serves, -1 if it failed to load or died. */
export const READY = 2
export const OP = 3
export const ARGS = 4
export const RESULT = 12
export const OUT = 13
/** Int32 slots in the control buffer. */
export const CONTROL_SLOTS = 24
/** Bytes in the data buffer: the most one send or recv moves. */
export const DATA_BYTES = 256 * 1024

/** Request codes. Arguments in ARGS order; a result is a count, a value or -errno. */
export const enum Op {
  /** Answers 0 at once: the round trip's cost. */
  Noop,
  /** [fd, family, type, proto] */
  Socket,
  /** [fd0, fd1, type] */
  Pair,
  /** [fd, port, flowinfo, scopeId, hostBytes], host in data */
  Bind,
  /** [fd] */
  Listen,
  /** [fd, newFd] → OUT address */
  Accept,
  /** [fd, port, flowinfo, scopeId, hostBytes], host in data → 0, -EINPROGRESS or -errno */
  Connect,
  /** [fd, nbytes, flags, wantSender] → bytes in data (then the sender's host), OUT the sender */
  Recv,
  /** [fd, nbytes, flags, hasAddress, port, flowinfo, scopeId, hostBytes], payload then host in data */
  Send,
  /** [fd, how] */
  Shutdown,
  /** [fd] */
  Close,
  /** [fd, peer] → OUT address */
  Name,
  /** [fd, level, name, value] */
  SetOption,
  /** [fd, level, name] → the value */
  GetOption,
  /** → open fds; OUT[0] the Node sockets alive (open fds' handles, unaccepted, closing) */
  Count,
  /**
   * [count, slotSize]: `recv` on each fd of the int32 list at the start of data (count of them)
   * into its slot after the list (slot k at 4 * count + k * slotSize); each result (a count or
   * -errno) replaces its fd in the list.
   */
  RecvMany,
  /**
   * [count]: `send` on each (fd, length) int32 pair of the list at the start of data (count of
   * them) of its payload, the payloads packed in order after the list; each result (a count or
   * -errno) replaces its length in the list.
   */
  SendMany,
}

/** OUT slots of an address: family, port, flowinfo, scopeId, host bytes, host's data offset. */
export const ADDRESS_SLOTS = 6

/** `Atomics.waitAsync` (Node 16 on), which this project's TypeScript lib does not declare yet. */
export const waitAsync = (Atomics as unknown as {
  waitAsync(array: Int32Array, index: number, value: number): { async: true; value: Promise<string> } | { async: false; value: string }
}).waitAsync

/**
 * The worker's side: waits (on this thread's loop) for each request, answers it with `serve`'s
 * result and waits for the next. A wake alone is no request: the caller stores REQ, then
 * notifies, and a caller preempted between the two may have its request seen, served and
 * answered before that notify comes, to wake the wait for the following one. Served again, the
 * call would run twice and its answer be overwritten (a recv's bytes lost, an fd accepted twice),
 * so a wake with REQ where it was waits again.
 */
export function serveRequests(control: Int32Array, serve: () => Promise<number>): void {
  const next = (served: number): void => {
    const waiting = waitAsync(control, REQ, served)
    if (waiting.async) void waiting.value.then(() => (Atomics.load(control, REQ) === served ? next(served) : answer()))
    else setImmediate(answer)
  }
  const answer = async (): Promise<void> => {
    const seq = Atomics.load(control, REQ)
    control[RESULT] = await serve()
    Atomics.store(control, REP, seq)
    Atomics.notify(control, REP)
    next(seq)
  }
  next(Atomics.load(control, REQ))
}
