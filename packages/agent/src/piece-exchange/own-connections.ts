import type { Connection, Libp2p, PeerId } from '@libp2p/interface'

export interface OwnConnectionsInit {
  /** How long the dial of an own connection may take. */
  dialTimeoutMs: number
  /** After a dial failed, how long requests to that peer use the connection it made before another try. */
  retryMs: number
  /** Peers whose failed dial is remembered; the oldest is forgotten first. */
  maxFailures: number
  now?: () => number
}

/**
 * For each peer, the connection this agent dialled itself, which carries its requests to that peer.
 *
 * libp2p keeps one connection per pair of peers, so a request to a peer went out behind every piece
 * byte this agent was uploading to that same peer: one TCP send queue, first in first out. In `bench
 * swarm` at 25 Mbit a piece request took p50 137 ms, p90 1.7 s, p99 3.9 s to reach the peer (both
 * ends logged on one clock). On a connection of its own the request waits behind other requests
 * only: the peer's answers come back on it, while the peer's requests to us, and our uploads to it,
 * go on the connection the peer dialled. Measured the same way: p90 221 ms, p99 294 ms.
 *
 * No request waits for such a dial: while a peer has only the connection it made, requests use it
 * and one dial of ours runs in the background. A peer that cannot be dialled (one that reached us
 * from behind a NAT, or listens nowhere) keeps using its own connection; the dial is tried again
 * after `retryMs`.
 */
export class OwnConnections {
  readonly #node: Pick<Libp2p, 'dial' | 'getConnections'>
  readonly #init: OwnConnectionsInit
  readonly #now: () => number
  readonly #controller = new AbortController()
  readonly #dialling = new Set<string>()
  /** When a dial to each peer last failed; insertion order is age. */
  readonly #failedAt = new Map<string, number>()

  constructor (node: Pick<Libp2p, 'dial' | 'getConnections'>, init: OwnConnectionsInit) {
    this.#node = node
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  /**
   * The open connection this agent dialled to `peer` (`own`), and whether there is none but the
   * peer has dialled us (`peerDialled`): then one of ours is dialled in the background for later
   * requests, and a request now goes on the peer's connection.
   */
  get (peer: PeerId): { own?: Connection, peerDialled: boolean } {
    const connections = this.#node.getConnections(peer)
    const own = connections.find(c => c.direction === 'outbound' && c.status === 'open')
    if (own != null) return { own, peerDialled: false }
    if (connections.length === 0) return { peerDialled: false }
    this.#dialSoon(peer)
    return { peerDialled: true }
  }

  /** Aborts the dials under way; no new one starts. */
  stop (): void {
    this.#controller.abort()
  }

  #dialSoon (peer: PeerId): void {
    const key = peer.toString()
    const failedAt = this.#failedAt.get(key)
    if (this.#controller.signal.aborted || this.#dialling.has(key) || (failedAt != null && this.#now() - failedAt < this.#init.retryMs)) return
    this.#dialling.add(key)
    // `force`: libp2p would otherwise hand back the connection the peer dialled.
    const signal = AbortSignal.any([this.#controller.signal, AbortSignal.timeout(this.#init.dialTimeoutMs)])
    void this.#node.dial(peer, { force: true, signal }).then(() => {
      this.#failedAt.delete(key)
    }, () => {
      // Not an error: the peer's requests keep using the connection it made.
      this.#failedAt.delete(key)
      if (this.#failedAt.size >= this.#init.maxFailures) this.#failedAt.delete(this.#failedAt.keys().next().value as string)
      this.#failedAt.set(key, this.#now())
    }).finally(() => {
      this.#dialling.delete(key)
    })
  }
}
