import { ConfigError } from '../errors.ts'

/**
 * `dns:NAME[:PORT]` as `--bootstrap` or `--scheduler`: every A and AAAA record of NAME, dialled at
 * PORT, the peer id learned at the Noise handshake. For hosts whose peer ids nobody knows in advance
 * (a Kubernetes headless Service answers one record per pod).
 */
export interface DnsTarget {
  /** The host name, lower case, without a trailing dot. */
  name: string
  port: number
}

/** The prefix that marks a DNS target among multiaddrs. */
export const DNS_TARGET_PREFIX = 'dns:'

/** A DNS label: letters, digits, '-' and '_' (SRV-style and some internal names use it), at most 63. */
const LABEL = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/

/** Whether a --bootstrap or --scheduler value is a DNS target rather than a multiaddr. */
export function isDnsTarget (text: string): boolean {
  return text.toLowerCase().startsWith(DNS_TARGET_PREFIX)
}

/** Parses `dns:NAME[:PORT]`; ConfigError naming `field` when it is not one. */
export function parseDnsTarget (field: string, text: string, defaultPort: number): DnsTarget {
  const example = `dns:shoal-scheduler.shoal.svc.cluster.local:${defaultPort}`
  const rest = text.slice(DNS_TARGET_PREFIX.length)
  const match = /^([^:]*)(?::(\d{1,5}))?$/.exec(rest)
  if (match == null) {
    throw new ConfigError(`${field}: "${text}" must be dns:NAME or dns:NAME:PORT (example: ${example}); an IPv6 address is given as a multiaddr, /ip6/ADDRESS/tcp/PORT/p2p/<peer id>`)
  }
  const name = (match[1] ?? '').toLowerCase().replace(/\.$/, '')
  const labels = name.split('.')
  if (labels.every(label => /^\d+$/.test(label))) {
    throw new ConfigError(`${field}: "${text}": "${match[1] ?? ''}" is not a host name: an IP address is given as a multiaddr with its /p2p/<peer id> (example: ${example})`)
  }
  if (name === '' || name.length > 253 || !labels.every(label => LABEL.test(label))) {
    throw new ConfigError(`${field}: "${text}": "${match[1] ?? ''}" is not a host name: labels of letters, digits and '-' joined by dots (example: ${example})`)
  }
  const port = match[2] == null ? defaultPort : Number(match[2])
  if (port < 1 || port > 65535) throw new ConfigError(`${field}: "${text}": port ${port} must be 1 to 65535`)
  return { name, port }
}

/** How logs and errors name a target. */
export function dnsTargetText (target: DnsTarget): string {
  return `${DNS_TARGET_PREFIX}${target.name}:${target.port}`
}
