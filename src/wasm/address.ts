/**
 * Socket addresses in the socket host: resolving a caller's host for a socket's family (numeric
 * addresses as they are, names through Node's resolver), and the addresses it answers with.
 */
import { promises as dns } from 'node:dns'
import * as net from 'node:net'
import { AF_INET, AF_INET6, AF_UNIX, GAI_NOT_FOUND } from './linux.js'

/** A socket address: for AF_UNIX `host` is the path; family 0 is "no address". */
export interface Address {
  family: number
  host: string
  port: number
  flowinfo: number
  scopeId: number
}

/** Resolves a host for `family`: the numeric address (or path), or GAI_NOT_FOUND. */
export async function resolve(family: number, host: string, scopeId: number): Promise<string | number> {
  if (family === AF_UNIX) return host
  if (host === '') return family === AF_INET6 ? '::' : '0.0.0.0'
  if (host === '<broadcast>' && family === AF_INET) return '255.255.255.255'
  const version = net.isIP(host)
  if (version !== 0) {
    if (version !== (family === AF_INET6 ? 6 : 4)) return GAI_NOT_FOUND
    return version === 6 && scopeId !== 0 && !host.includes('%') ? `${host}%${scopeId}` : host
  }
  try {
    return (await dns.lookup(host, { family: family === AF_INET6 ? 6 : 4 })).address
  } catch {
    return GAI_NOT_FOUND
  }
}

/** An internet address of `family` (an IPv6 host's zone, if any, as its scope id when numeric). */
export function inet(family: number, host: string, port: number): Address {
  const zone = host.indexOf('%')
  const scopeId = zone >= 0 ? Number(host.slice(zone + 1)) || 0 : 0
  return { family, host: zone >= 0 ? host.slice(0, zone) : host, port, flowinfo: 0, scopeId }
}

/** A Unix socket's address: its path ('' for an unnamed one). */
export function unix(path: string): Address {
  return { family: AF_UNIX, host: path, port: 0, flowinfo: 0, scopeId: 0 }
}

/** An unbound socket's name: the wildcard address, port 0 (an empty path for AF_UNIX). */
export function noAddress(family: number): Address {
  if (family === AF_UNIX) return unix('')
  return inet(family, family === AF_INET6 ? '::' : '0.0.0.0', 0)
}
