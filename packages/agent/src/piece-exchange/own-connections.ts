import type { Connection, Libp2p, PeerId } from '@libp2p/interface'
import { raceSignal } from '../race-signal.ts'

export interface OwnConnectionsInit {
  /** How long the dial of an own connection may take (shared by every request that waits for it). */
  dialTimeoutMs: number
  /** After a dial failed, how long requests to that peer use whatever connection there is before another try. */
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
 * A peer that cannot be dialled (one that reached us from behind a NAT, or listens nowhere) gets
 * undefined, and the caller uses the connection there is; the dial is tried again after `retryMs`.
 * Concurrent requests to one peer share one dial.
 */
export class OwnConnections {
  readonly #node: Pick<Libp2p, 'dial' | 'getConnections'>
  readonly #init: OwnConnectionsInit
  readonly #now: () => number
  readonly #dials = new Map<string, Promise<Connection | undefined>>()
  /** When a dial to each peer last failed; insertion order is age. */
  readonly #failedAt = new Map<string, number>()

  constructor (node: Pick<Libp2p, 'dial' | 'getConnections'>, init: OwnConnectionsInit) {
    this.#node = node
    this.#init = init
    this.#now = init.now ?? Date.now
  }

  /** The open connection this agent dialled to `peer`, dialling one when there is none; undefined when that cannot be had now. */
  async get (peer: PeerId, signal: AbortSignal): Promise<Connection | undefined> {
    const open = this.#node.getConnections(peer).find(c => c.direction === 'outbound' && c.status === 'open')
    if (open != null) return open
    const key = peer.toString()
    const failedAt = this.#failedAt.get(key)
    if (failedAt != null && this.#now() - failedAt < this.#init.retryMs) return undefined
    let dialing = this.#dials.get(key)
    if (dialing == null) {
      dialing = this.#dial(peer, key)
      this.#dials.set(key, dialing)
    }
    return raceSignal(dialing, signal)
  }

  async #dial (peer: PeerId, key: string): Promise<Connection | undefined> {
    try {
      // `force`: libp2p would otherwise hand back the connection the peer dialled.
      const connection = await this.#node.dial(peer, { force: true, signal: AbortSignal.timeout(this.#init.dialTimeoutMs) })
      this.#failedAt.delete(key)
      return connection
    } catch {
      this.#failedAt.delete(key)
      if (this.#failedAt.size >= this.#init.maxFailures) this.#failedAt.delete(this.#failedAt.keys().next().value as string)
      this.#failedAt.set(key, this.#now())
      return undefined
    } finally {
      this.#dials.delete(key)
    }
  }
}
