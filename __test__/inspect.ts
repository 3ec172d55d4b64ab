/**
 * What the tests ask the OS about a process: its open fds and what each is, the fds a child
 * inherits, its threads, its CPU time, whether it is still there. Linux answers from /proc;
 * macOS and FreeBSD through lsof (part of macOS; a package on FreeBSD) and ps.
 */
import { execFileSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'

/** Linux: /proc answers here, and epoll sits below either backend (the Linux-only tests' platform). */
export const LINUX = process.platform === 'linux'

/**
 * What the fd checks tell apart: a poller (an epoll fd; a kqueue fd under the mio backend on
 * macOS and FreeBSD), a waker (an eventfd on Linux, a pipe end elsewhere), a socket, or other.
 */
export type FdKind = 'poller' | 'waker' | 'socket' | 'other'

/** /proc/PID/fd link targets of each kind on Linux: 'anon_inode:[eventpoll]', 'socket:[1234]'. */
const PROC_KINDS: [RegExp, FdKind][] = [
  [/^anon_inode:\[eventpoll\]$/, 'poller'],
  [/^anon_inode:\[eventfd\]$/, 'waker'],
  [/^socket:/, 'socket'],
]

/** lsof's TYPE of each kind on macOS and FreeBSD (FIFOs, such as helpers.ts's pipes, are 'FIFO'). */
const LSOF_KINDS: Record<string, FdKind> = { KQUEUE: 'poller', PIPE: 'waker', unix: 'socket', IPv4: 'socket', IPv6: 'socket' }

/**
 * The open fds of process `pid` (this one by default), each with its kind. Elsewhere than Linux
 * the lsof run that reads them holds a few fds of this process while it runs (the kqueue, pipe
 * and socketpairs of its spawn), the same ones each time: compare counts, not absolute numbers.
 */
export function openFds(pid = process.pid): Map<number, FdKind> {
  return LINUX ? procFds(pid) : lsofFds(pid)
}

function procFds(pid: number): Map<number, FdKind> {
  const fds = new Map<number, FdKind>()
  for (const name of fs.readdirSync(`/proc/${pid}/fd`)) {
    const target = readlink(`/proc/${pid}/fd/${name}`)
    if (target === undefined) continue // closed since the directory was listed
    fds.set(Number(name), PROC_KINDS.find(([link]) => link.test(target))?.[1] ?? 'other')
  }
  return fds
}

function readlink(file: string): string | undefined {
  try {
    return fs.readlinkSync(file)
  } catch {
    return undefined
  }
}

/** lsof's `-F ft` output: an `f<fd>` line, then a `t<type>` line, per open file (cwd, txt, ... skipped). */
function lsofFds(pid: number): Map<number, FdKind> {
  const out = execFileSync('lsof', ['-n', '-P', '-w', '-p', String(pid), '-F', 'ft'], { encoding: 'utf8' })
  const fds = new Map<number, FdKind>()
  let fd: number | undefined
  for (const line of out.split('\n')) {
    if (line.startsWith('f')) fd = /^f\d+$/.test(line) ? Number(line.slice(1)) : undefined
    else if (line.startsWith('t') && fd !== undefined) fds.set(fd, LSOF_KINDS[line.slice(1)] ?? 'other')
  }
  return fds
}

/**
 * This process's open fd numbers. /dev/fd lists them on Linux (a link to /proc/self/fd) and on
 * macOS; FreeBSD's lists only 0-2 unless fdescfs is mounted, so there lsof's list.
 */
function ownFds(): number[] {
  if (process.platform === 'freebsd') return [...openFds().keys()]
  return fs.readdirSync('/dev/fd').map(Number)
}

/** How many fds of each kind this process has open, from one look at its fd table. */
export function fdKinds(): Record<FdKind, number> {
  const counts = { poller: 0, waker: 0, socket: 0, other: 0 }
  for (const kind of openFds().values()) counts[kind]++
  return counts
}

/** How many fds this process has open; only those of `kind`, if given. */
export function fdCount(kind?: FdKind): number {
  return kind === undefined ? ownFds().length : fdKinds()[kind]
}

/** An fd number far above the ones in use that is not open. */
export function unusedFd(): number {
  const open = new Set(ownFds())
  let fd = 9000
  while (open.has(fd)) fd++
  return fd
}

/**
 * The fds a child process inherits from this one, read while it runs. It is started with this
 * process's own uid and gid: libuv then forks and execs on macOS too, instead of using
 * posix_spawn with POSIX_SPAWN_CLOEXEC_DEFAULT, which closes every fd not handed over and so
 * would hide an fd left without close-on-exec.
 */
export async function childFds(): Promise<Map<number, FdKind>> {
  const child = spawn('sleep', ['30'], { stdio: 'ignore', uid: process.getuid!(), gid: process.getgid!() })
  const exited = once(child, 'exit')
  try {
    return openFds(child.pid!) // spawn returns once the child has exec'd
  } finally {
    child.kill('SIGKILL')
    await exited
  }
}

/** How many threads process `pid` (this one by default) runs. */
export function threadCount(pid = process.pid): number {
  if (LINUX) return fs.readdirSync(`/proc/${pid}/task`).length
  // macOS: `ps -M` prints a header, then a line per thread; FreeBSD: `ps -H`, a line per thread.
  const args = process.platform === 'darwin' ? ['-M', '-p', String(pid)] : ['-H', '-o', 'lwp=', '-p', String(pid)]
  const lines = execFileSync('ps', args, { encoding: 'utf8' }).split('\n').filter((line) => line.trim() !== '')
  return process.platform === 'darwin' ? lines.length - 1 : lines.length
}

/** Linux's clock tick (USER_HZ), the unit of /proc/PID/stat's times: 100 per second on x64 and arm64. */
const USER_HZ = 100

/**
 * User + system CPU time of process `pid`, in milliseconds. Linux: fields 14 and 15 of
 * /proc/PID/stat, in clock ticks (10 ms). Elsewhere ps's `time`, `[[dd-]hh:]mm:ss.cc` (10 ms too).
 */
export function cpuMs(pid: number): number {
  if (LINUX) {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ
  }
  const time = execFileSync('ps', ['-o', 'time=', '-p', String(pid)], { encoding: 'utf8' }).trim()
  const [, days = '0', clock] = /^(?:(\d+)-)?([\d:.]+)$/.exec(time) ?? []
  if (clock === undefined) throw new Error(`ps printed no CPU time for ${pid}: ${JSON.stringify(time)}`)
  const seconds = clock.split(':').reduce((sum, part) => sum * 60 + Number(part), 0)
  return Math.round((Number(days) * 86_400 + seconds) * 1000)
}

/** Whether process `pid` exists (a zombie not yet reaped included, as /proc lists it). */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM' // exists, but is not ours to signal
  }
}
