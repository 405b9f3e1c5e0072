import { resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { isPlacementLabel } from '@shoal/proto'
import { DEFAULT_P2P_PORT, DEFAULT_SCHEDULER_PORT } from '../constants.ts'
import { ConfigError } from '../errors.ts'
import { isDnsTarget, parseDnsTarget } from './dns-target.ts'
import type { DnsTarget } from './dns-target.ts'

/** The peer side of the agent; absent when p2p is turned off (`--no-p2p`). */
export interface P2pConfig {
  /** Multiaddrs the libp2p node listens on. */
  listen: string[]
  /** Peers dialled at start; each must name its peer id (`.../p2p/12D3Koo...`). */
  bootstrap: string[]
  /** `--bootstrap dns:NAME[:PORT]`: every address of NAME, resolved again every DNS_RESOLVE_INTERVAL_MS. */
  bootstrapDns: DnsTarget[]
  /** Multiaddrs told to peers instead of the listen addresses (a host behind address translation). */
  announce: string[]
  /** The swarm key file of a libp2p private network. */
  swarmKeyFile?: string
  /** Schedulers (`.../p2p/<peer id>`); each blob uses the first live one in its rendezvous order. None: DHT only. */
  schedulers: string[]
  /** `--scheduler dns:NAME[:PORT]`: whoever answers at NAME's addresses is a scheduler (docs/membership.md). */
  schedulerDns: DnsTarget[]
  /** Placement labels told to the scheduler: parents on the same site, then zone, are preferred. */
  site?: string
  zone?: string
  /** Run a scheduler on this agent's node too (`--embedded-scheduler`), for a small site. */
  embeddedScheduler: boolean
  /** Who may connect (docs/membership.md). */
  membership: MembershipConfig
  /** `--share-private`: which blobs peers get: all (`members`), those the origin serves without credentials (`anonymous`), none. */
  sharePrivate: 'members' | 'anonymous' | 'none'
}

/**
 * `loopback`: nothing configured, peers on this host only. `scheduler` (`--join-token FILE`): the
 * schedulers admit this agent by its token and push the members. `static` (`--members FILE`): peer
 * ids listed in a file (DHT-only swarms), re-read when it changes.
 */
export type MembershipConfig =
  | { kind: 'loopback' }
  | { kind: 'scheduler', joinTokenFile: string }
  | { kind: 'static', membersFile: string }

export interface P2pValues {
  /** `--no-p2p`: the agent is a mirror of the origin only. */
  off?: { field: string, value: boolean }
  listen: Array<{ field: string, value: unknown }>
  bootstrap: Array<{ field: string, value: unknown }>
  announce: Array<{ field: string, value: unknown }>
  swarmKey?: { field: string, value: string }
  schedulers?: Array<{ field: string, value: unknown }>
  site?: { field: string, value: unknown }
  zone?: { field: string, value: unknown }
  embeddedScheduler?: { field: string, value: boolean }
  joinToken?: { field: string, value: string }
  members?: { field: string, value: string }
  sharePrivate?: { field: string, value: unknown }
}

/** The default listen address: every interface, the port peers expect. */
export const DEFAULT_P2P_LISTEN = '/ip4/0.0.0.0/tcp/65002'

/** undefined with `--no-p2p` (and then the other p2p options are refused); else the listen addresses default to DEFAULT_P2P_LISTEN. */
export function parseP2pConfig (values: P2pValues): P2pConfig | undefined {
  const listen = values.listen.map(v => parseMultiaddr(v.field, v.value, false))
  const bootstrap = parsePeerTargets(values.bootstrap, DEFAULT_P2P_PORT)
  const announce = values.announce.map(v => parseMultiaddr(v.field, v.value, false))
  const schedulers = parsePeerTargets(values.schedulers ?? [], DEFAULT_SCHEDULER_PORT)
  const site = values.site == null ? undefined : parseLabel(values.site.field, values.site.value)
  const zone = values.zone == null ? undefined : parseLabel(values.zone.field, values.zone.value)
  if (values.off?.value === true) {
    const stray = [values.listen[0]?.field, values.bootstrap[0]?.field, values.announce[0]?.field, values.swarmKey?.field,
      values.schedulers?.[0]?.field, values.joinToken?.field, values.members?.field, values.sharePrivate?.field, values.site?.field, values.zone?.field, values.embeddedScheduler?.value === true ? values.embeddedScheduler.field : undefined].find(f => f != null)
    if (stray != null) throw new ConfigError(`${stray}: a peer option, but ${values.off.field} turns the peer network off`)
    return undefined
  }
  return {
    membership: parseMembership(values, schedulers.addrs.length + schedulers.dns.length),
    sharePrivate: parseSharePrivate(values.sharePrivate),
    listen: listen.length > 0 ? listen : [DEFAULT_P2P_LISTEN],
    bootstrap: bootstrap.addrs,
    bootstrapDns: bootstrap.dns,
    announce,
    swarmKeyFile: values.swarmKey == null ? undefined : resolve(values.swarmKey.value),
    schedulers: schedulers.addrs,
    schedulerDns: schedulers.dns,
    site,
    zone,
    embeddedScheduler: values.embeddedScheduler?.value === true
  }
}

function parseSharePrivate (found: P2pValues['sharePrivate']): P2pConfig['sharePrivate'] {
  if (found == null) return 'members'
  const text = String(found.value).trim().toLowerCase()
  if (text === 'members' || text === 'anonymous' || text === 'none') return text
  throw new ConfigError(`${found.field}: "${String(found.value)}" must be members (blobs the origin serves only with credentials go to members too), anonymous (only blobs it serves to anyone) or none (no blob to peers)`)
}

function parseMembership (values: P2pValues, schedulers: number): MembershipConfig {
  const { joinToken, members } = values
  if (joinToken != null && members != null) throw new ConfigError(`${members.field}: a static member list, but ${joinToken.field} already has the scheduler decide the members: give one`)
  if (joinToken != null) {
    if (schedulers === 0) throw new ConfigError(`${joinToken.field}: a join token is presented to a scheduler: give --scheduler MULTIADDR (or dns:NAME) too (or --members FILE for a swarm without one)`)
    if (values.embeddedScheduler?.value === true) throw new ConfigError(`${joinToken.field}: the embedded scheduler does not admit members; a site with one uses --members FILE`)
    return { kind: 'scheduler', joinTokenFile: resolve(joinToken.value) }
  }
  if (members != null) return { kind: 'static', membersFile: resolve(members.value) }
  return { kind: 'loopback' }
}

/** A site or zone name as the scheduler protocol carries it. */
function parseLabel (field: string, value: unknown): string {
  const text = String(value).trim()
  if (!isPlacementLabel(text)) {
    throw new ConfigError(`${field}: "${text.slice(0, 70)}" must be a name of letters, digits, '.', '_' and '-' (at most 63), like edge-1 or eu-west`)
  }
  return text
}

/** `--bootstrap` or `--scheduler` values: multiaddrs naming their peer id, and `dns:NAME[:PORT]` targets. */
function parsePeerTargets (values: Array<{ field: string, value: unknown }>, defaultPort: number): { addrs: string[], dns: DnsTarget[] } {
  const addrs: string[] = []
  const dns: DnsTarget[] = []
  for (const { field, value } of values) {
    const text = String(value).trim()
    if (isDnsTarget(text)) dns.push(parseDnsTarget(field, text, defaultPort))
    else addrs.push(parseMultiaddr(field, text, true))
  }
  return { addrs, dns }
}

function parseMultiaddr (field: string, value: unknown, needsPeerId: boolean): string {
  const text = String(value).trim()
  let addr
  try {
    addr = multiaddr(text)
  } catch (err) {
    throw new ConfigError(`${field}: "${text}" is not a multiaddr (example: /ip4/10.0.0.5/tcp/65002)`, { cause: err })
  }
  if (!text.startsWith('/') || !/\/tcp\/\d+/.test(text)) {
    throw new ConfigError(`${field}: "${text}" must be a TCP multiaddr (example: /ip4/10.0.0.5/tcp/65002)`)
  }
  if (needsPeerId && addr.getComponents().every(c => c.name !== 'p2p')) {
    throw new ConfigError(`${field}: "${text}" must end with /p2p/<peer id> (the agent prints it at start), or be dns:NAME[:PORT] to learn the peer ids of NAME's addresses`)
  }
  return addr.toString()
}
