/**
 * Python's OSError hierarchy in Node's system-error shape: every error carries `errno` (the
 * positive OS number, as in Python and `os.constants.errno`), `code` ('EEXIST'), `syscall`
 * ('epoll_ctl') and a message like Node's ("EEXIST: file already exists, epoll_ctl").
 */
import { constants } from 'node:os'
import { getSystemErrorMap } from 'node:util'
import binding = require('./native.js')

// Bound once as plain constants: a named import of the CommonJS binding costs a getter call
// per use once bundled.
const { EAI_NONAME, gaiMessage } = binding

const codes = new Map<number, string>()
for (const [name, errno] of Object.entries(constants.errno)) {
  if (!codes.has(errno)) codes.set(errno, name)
}
let descriptions: Map<number, [string, string]> | undefined

/**
 * The symbolic code of `errnum`: Node's name for it (os.constants.errno), else libuv's, which
 * names a few that Node's table lacks (ESHUTDOWN, ESOCKTNOSUPPORT, EHOSTDOWN, ...).
 */
function codeOf(errnum: number): string | undefined {
  descriptions ??= getSystemErrorMap()
  return codes.get(errnum) ?? descriptions.get(-errnum)?.[0]
}

/** The numbers of the errno codes this package names. */
export const errno = constants.errno

/** Python's OSError: an OS call failed. */
export class OSError extends Error {
  /** The positive OS error number, e.g. 17. */
  readonly errno: number
  /** The symbolic code, e.g. 'EEXIST'. */
  readonly code: string
  /** The system call that failed, e.g. 'epoll_ctl'. */
  readonly syscall: string
  /** The description alone, as Python's `strerror` attribute, e.g. 'file already exists'. */
  readonly strerror: string

  constructor(errnum: number, syscall: string, code?: string, strerror?: string) {
    code ??= codeOf(errnum) ?? `Unknown system error ${errnum}`
    strerror ??= descriptions!.get(-errnum)?.[1] ?? `unknown error ${errnum}`
    super(`${code}: ${strerror}, ${syscall}`)
    this.name = new.target.name
    this.errno = errnum
    this.code = code
    this.syscall = syscall
    this.strerror = strerror
  }
}

/** EAGAIN, EWOULDBLOCK, EALREADY, EINPROGRESS: the operation would block. */
export class BlockingIOError extends OSError {}
/** EINTR. */
export class InterruptedError extends OSError {}
/** EEXIST. */
export class FileExistsError extends OSError {}
/** ENOENT. */
export class FileNotFoundError extends OSError {}
/** EPERM, EACCES. */
export class PermissionError extends OSError {}
/** ETIMEDOUT. */
export class TimeoutError extends OSError {}
/** Base of the connection errors. */
export class ConnectionError extends OSError {}
/** EPIPE, ESHUTDOWN. */
export class BrokenPipeError extends ConnectionError {}
/** ECONNABORTED. */
export class ConnectionAbortedError extends ConnectionError {}
/** ECONNREFUSED. */
export class ConnectionRefusedError extends ConnectionError {}
/** ECONNRESET. */
export class ConnectionResetError extends ConnectionError {}

/** Python's `socket.gaierror`: a host name did not resolve (code 'EAI_NONAME'). */
export class gaierror extends OSError {}

/** Base of the Python errors that are not OS errors: a message and a Node-style `code`. */
export class PythonError extends Error {
  /** What went wrong, e.g. 'ERR_CLOSED'. */
  readonly code: string

  constructor(message: string, code: string) {
    super(message)
    this.name = new.target.name
    this.code = code
  }
}

/** Python's ValueError: a bad value, or an operation on a closed object ('ERR_CLOSED'). */
export class ValueError extends PythonError {}

/** Python's KeyError: something is not registered ('ERR_NOT_REGISTERED'), or already is. */
export class KeyError extends PythonError {}

/** Python's RuntimeError: an operation the object's state does not allow ("Selector is closed"). */
export class RuntimeError extends PythonError {}

const classes: Record<string, typeof OSError> = {
  EAGAIN: BlockingIOError,
  EALREADY: BlockingIOError,
  EINPROGRESS: BlockingIOError,
  EINTR: InterruptedError,
  EEXIST: FileExistsError,
  ENOENT: FileNotFoundError,
  EPERM: PermissionError,
  EACCES: PermissionError,
  ETIMEDOUT: TimeoutError,
  EPIPE: BrokenPipeError,
  ESHUTDOWN: BrokenPipeError,
  ECONNABORTED: ConnectionAbortedError,
  ECONNREFUSED: ConnectionRefusedError,
  ECONNRESET: ConnectionResetError,
}

/** The error Python would raise for `errnum` from `syscall`: the matching OSError subclass. */
export function osError(errnum: number, syscall: string): OSError {
  const Class = classes[codeOf(errnum) ?? ''] ?? OSError
  return new Class(errnum, syscall)
}

let hostNotFoundMessage: string | undefined

/**
 * The error for a host name that did not resolve, as getaddrinfo reports it: the C library's
 * EAI_NONAME and message (glibc: -2, 'Name or service not known'; macOS: 8, 'nodename nor
 * servname provided, or not known').
 */
export function hostNotFound(syscall: string): gaierror {
  hostNotFoundMessage ??= gaiMessage(EAI_NONAME)
  return new gaierror(EAI_NONAME, syscall, 'EAI_NONAME', hostNotFoundMessage)
}

/** The error for using a closed object, named after it: "I/O operation on closed epoll". */
export function closedError(what: string): ValueError {
  return new ValueError(`I/O operation on closed ${what}`, 'ERR_CLOSED')
}
