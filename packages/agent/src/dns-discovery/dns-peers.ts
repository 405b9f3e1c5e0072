import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Libp2p, PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { tcpAddressKey } from '@shoal/p2p'
import { dnsTargetText } from '../config/index.ts'
import type { DnsTarget } from '../config/index.ts'
import { DNS_RESOLVE_INTERVAL_MS, DNS_PEER_DIAL_TIMEOUT_MS } from '../constants.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import { resolveTarget, systemResolver } from './resolve.ts'
import type { DnsResolver } from './resolve.ts'

export interface DnsPeersComponents {
  node: Pick<Libp2p, 'dial' | 'getConnections' | 'getMultiaddrs' | 'peerId'>
  /** Default: the system's DNS servers (systemResolver). */
  resolver?: DnsResolver
  logger?: Logger
}

export interface DnsPeersInit {
  targets: DnsTarget[]
  /** What the logs call these peers (`bootstrap`, `scheduler`). */
  role: string
  resolveIntervalMs?: number
  dialTimeoutMs?: number
  /**
   * At most this many of the found peers are kept connected (the others are dialled when some of
   * those go); default all. For bootstrap: a DaemonSet's name lists every host, and joining the DHT
   * takes a few of them, not a full mesh.
   */
  maxPeers?: number
}

/** A peer found behind the targets: its id, learned at the handshake, and the addresses it answered at. */
export interface DnsPeer {
  id: PeerId
  addresses: Multiaddr[]
}

export interface DnsPeersEvents {
  /** The peers behind the targets changed (one joined, one left, one answered at another address). */
  change: [DnsPeer[]]
}

interface Resolved {
  addr: Multiaddr
  /** Who answered there, once a dial did; kept while the address is in DNS. */
  peer?: PeerId
}

/**
 * `dns:NAME[:PORT]` peers: every round (at start, then every `resolveIntervalMs`) resolves each
 * target's A and AAAA records and dials each address that has no live connection (up to
 * `maxPeers` connected), without a peer id: the Noise handshake says who is there, and the connection gater judges that peer as any
 * other. An address gone from DNS is no longer dialled and its peer leaves the set (the connection
 * is not closed here: the gater, not DNS, decides membership). A DNS failure is logged and the
 * target keeps its last addresses until a round succeeds; a name with no record (NXDOMAIN, NODATA)
 * has no peers. This node's own addresses are skipped (a headless Service lists every pod, this one too).
 */
export class DnsPeers extends EventEmitter<DnsPeersEvents> implements Startable {
  readonly #node: DnsPeersComponents['node']
  readonly #resolver: DnsResolver
  readonly #log: Logger
  readonly #init: DnsPeersInit
  /** Each target's last good answer. */
  readonly #byTarget = new Map<DnsTarget, Multiaddr[]>()
  /** The addresses of the last round, by tcpAddressKey. */
  #resolved = new Map<string, Resolved>()
  #controller?: AbortController
  #loop?: Promise<void>
  #lastChange = ''

  constructor (components: DnsPeersComponents, init: DnsPeersInit) {
    super()
    this.#node = components.node
    this.#resolver = components.resolver ?? systemResolver()
    this.#log = components.logger ?? silentLogger
    this.#init = init
  }

  start (): void {
    if (this.#controller != null) return
    this.#controller = new AbortController()
    this.#loop = this.#run(this.#controller.signal)
  }

  async stop (): Promise<void> {
    const controller = this.#controller
    if (controller == null) return
    this.#controller = undefined
    controller.abort()
    this.#resolver.cancel()
    await this.#loop
  }

  /** Whether an address is one of the targets' as last resolved (any /p2p/ part aside). */
  resolves (addr: Multiaddr): boolean {
    const key = tcpAddressKey(addr)
    return key != null && this.#resolved.has(key)
  }

  /** The peers found so far, each with the addresses it answered at. */
  peers (): DnsPeer[] {
    const byPeer = new Map<string, DnsPeer>()
    for (const { addr, peer } of this.#resolved.values()) {
      if (peer == null) continue
      const entry = byPeer.get(peer.toString()) ?? { id: peer, addresses: [] }
      entry.addresses.push(addr)
      byPeer.set(peer.toString(), entry)
    }
    return [...byPeer.values()]
  }

  async #run (signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#round(signal)
      // An abort only cuts the pause short; the loop sees the signal.
      await sleep(this.#init.resolveIntervalMs ?? DNS_RESOLVE_INTERVAL_MS, undefined, { signal }).catch(() => {})
    }
  }

  /** One round: resolve every target, forget addresses gone, dial those without a live connection. */
  async #round (signal: AbortSignal): Promise<void> {
    await Promise.all(this.#init.targets.map(async target => {
      try {
        const addrs = await resolveTarget(this.#resolver, target)
        if (addrs.length === 0 && this.#byTarget.get(target)?.length !== 0) this.#log.warn('dns: the name has no A or AAAA record', { role: this.#init.role, target: dnsTargetText(target) })
        this.#byTarget.set(target, addrs)
      } catch (err) {
        if (signal.aborted) return
        this.#log.warn('dns: resolving failed; the last addresses stay and it is tried again', {
          role: this.#init.role, target: dnsTargetText(target), inMs: this.#init.resolveIntervalMs ?? DNS_RESOLVE_INTERVAL_MS, error: `${(err as Error).name}: ${(err as Error).message}`
        })
      }
    }))
    if (signal.aborted) return
    const own = new Set(this.#node.getMultiaddrs().map(a => tcpAddressKey(a)))
    const next = new Map<string, Resolved>()
    for (const addr of [...this.#byTarget.values()].flat()) {
      const key = tcpAddressKey(addr)
      if (key == null || own.has(key) || next.has(key)) continue
      next.set(key, this.#resolved.get(key) ?? { addr })
    }
    this.#resolved = next
    await Promise.all(this.#toDial().map(async entry => { await this.#dial(entry, signal) }))
    if (!signal.aborted) this.#emitIfChanged()
  }

  /** The addresses without a live connection, in random order, as many as `maxPeers` leaves room for. */
  #toDial (): Resolved[] {
    const live = (entry: Resolved): boolean => entry.peer != null && this.#node.getConnections(entry.peer).length > 0
    const entries = [...this.#resolved.values()]
    const connected = new Set(entries.filter(live).map(entry => entry.peer?.toString()))
    const idle = entries.filter(entry => !live(entry))
    for (let i = idle.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1))
      ;[idle[i], idle[j]] = [idle[j] as Resolved, idle[i] as Resolved]
    }
    return idle.slice(0, Math.max(0, (this.#init.maxPeers ?? Infinity) - connected.size))
  }

  async #dial (entry: Resolved, signal: AbortSignal): Promise<void> {
    const timeout = AbortSignal.timeout(this.#init.dialTimeoutMs ?? DNS_PEER_DIAL_TIMEOUT_MS)
    try {
      const connection = await this.#node.dial(entry.addr, { signal: AbortSignal.any([signal, timeout]) })
      if (entry.peer?.equals(connection.remotePeer) !== true) {
        this.#log.info('dns: a peer answered', { role: this.#init.role, address: entry.addr.toString(), peer: connection.remotePeer.toString() })
      }
      entry.peer = connection.remotePeer
    } catch (err) {
      if (signal.aborted) return
      // `Can not dial self`: this host behind another of its addresses (a NAT, a Service IP).
      const level = (err as Error).name === 'InvalidPeerIdError' ? 'debug' : 'info'
      this.#log[level]('dns: no connection to an address; dialled again next round', {
        role: this.#init.role, address: entry.addr.toString(), error: `${(err as Error).name}: ${(err as Error).message}`
      })
    }
  }

  #emitIfChanged (): void {
    const peers = this.peers()
    const text = JSON.stringify(peers.map(p => [p.id.toString(), p.addresses.map(String).sort()]).sort())
    if (text === this.#lastChange) return
    this.#lastChange = text
    this.emit('change', peers)
  }
}
