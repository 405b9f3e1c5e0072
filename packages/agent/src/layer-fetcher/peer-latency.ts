import { PEER_LATENCY_MAX_PEERS, PEER_LATENCY_WEIGHT } from '../constants.ts'

/**
 * How long each peer has lately taken to start sending a piece (the first byte of its answer), as
 * an exponentially weighted mean over this agent's downloads of every blob. An uploader that is
 * also reading from the origin, or that many children ask, queues requests for seconds; one that
 * holds the same pieces and idles answers at once. Choosing holders by it (PieceBook.whomToAsk)
 * moves requests to idle uplinks. Bounded: the least recently heard of peer is forgotten first.
 */
export class PeerLatency {
  readonly #seconds = new Map<string, number>()

  observe (peer: string, firstByteSeconds: number): void {
    if (!Number.isFinite(firstByteSeconds) || firstByteSeconds < 0) return
    const before = this.#seconds.get(peer)
    this.#seconds.delete(peer)
    this.#seconds.set(peer, before == null ? firstByteSeconds : before + PEER_LATENCY_WEIGHT * (firstByteSeconds - before))
    if (this.#seconds.size > PEER_LATENCY_MAX_PEERS) this.#seconds.delete(this.#seconds.keys().next().value as string)
  }

  /** The peer's weighted first-byte time in seconds; undefined when not heard from yet. */
  expected (peer: string): number | undefined {
    return this.#seconds.get(peer)
  }
}
