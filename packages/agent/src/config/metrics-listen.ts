import { ConfigError } from '../errors.ts'
import { isLoopbackHost } from './listener.ts'
import type { Found } from './listener.ts'
import { hostPortText } from './values.ts'
import type { HostPort } from './values.ts'

/** The agent's other TCP listeners, which the metrics listener must not collide with. */
export interface TakenAddresses {
  listen: HostPort
  /** The field that gave `listen` (absent: the default). */
  listenField?: string
  /** The peer network's listen multiaddrs (`/ip4/0.0.0.0/tcp/65002`). */
  p2pListen: string[]
}

/**
 * `--metrics-listen HOST:PORT`, checked against the agent's other listeners: the same port on an
 * address that overlaps (the same host, a wildcard, or loopback names of one host) is a ConfigError
 * naming the field, rather than a bind failure at start. Port 0 (the OS chooses) never collides.
 */
export function checkMetricsListen (found: Found<HostPort>, taken: TakenAddresses): HostPort {
  const metrics = found.value
  if (metrics.port === 0) return metrics
  if (metrics.port === taken.listen.port && overlap(metrics.host, taken.listen.host)) {
    throw new ConfigError(`${found.field}: ${hostPortText(metrics)} is where the mirror listens (${taken.listenField ?? 'listen'} ${hostPortText(taken.listen)}): give the metrics listener a port of its own (for example 65005)`)
  }
  for (const addr of taken.p2pListen) {
    const match = /^\/ip[46]\/([^/]+)\/tcp\/(\d+)/.exec(addr)
    if (match != null && Number(match[2]) === metrics.port && overlap(metrics.host, match[1] ?? '')) {
      throw new ConfigError(`${found.field}: ${hostPortText(metrics)} is where the peer network listens (${addr}): give the metrics listener a port of its own (for example 65005)`)
    }
  }
  return metrics
}

const WILDCARDS = new Set(['0.0.0.0', '::', '0:0:0:0:0:0:0:0'])

/** Whether two listeners on one port would take the same socket: the same host, a wildcard, or both loopback names. */
function overlap (a: string, b: string): boolean {
  const x = a.toLowerCase()
  const y = b.toLowerCase()
  if (x === y || WILDCARDS.has(x) || WILDCARDS.has(y)) return true
  return (x === 'localhost' && isLoopbackHost(y)) || (y === 'localhost' && isLoopbackHost(x))
}
