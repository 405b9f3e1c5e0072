import { ReadPreemptedError } from '../errors.ts'

/**
 * How the server's piece-read slots are shared among the peers asking for pieces. First come, first
 * served let one downloader hold every slot: its window of requests was admitted first, and each
 * piece it got back was followed at once by its next request, while the others were answered BUSY
 * and asked again 250 ms later only to find the slots taken again. A holder of a blob that the whole
 * site wants sent it to one or two peers at a time while the rest waited, and their uplinks idled
 * (bench swarm --scenario prefetched).
 *
 * A peer that asked within the last `windowMs` counts as asking; each one may have
 * `max(minPerPeer, floor(slots / asking))` reads under way: all the slots when it is alone (a single
 * link is not slowed), an even share when many ask. Beyond its share a request is answered BUSY and
 * the asker turns to another holder. The first peer to ask finds the slots free and takes them all,
 * and its reads then wait for the server's memory one after another: when a peer is turned away
 * for want of a slot, the reads still waiting of every peer over its share are given up (`preempt`;
 * the server answers them BUSY), so the newcomers find slots on their next ask. Pure bookkeeping
 * with an injected clock.
 */
export class ReadShares {
  readonly #slots: number
  readonly #minPerPeer: number
  readonly #windowMs: number
  readonly #now: () => number
  readonly #maxPeers: number
  /** Last request time per peer, oldest first (a Map keeps insertion order). */
  readonly #askedAt = new Map<string, number>()
  readonly #reads = new Map<string, number>()
  /** Per peer, its admitted reads that still wait for memory (oldest first), to give up on preempt(). */
  readonly #waiting = new Map<string, Set<AbortController>>()

  constructor (init: { slots: number, minPerPeer: number, windowMs: number, maxPeers?: number, now?: () => number }) {
    this.#slots = init.slots
    this.#minPerPeer = init.minPerPeer
    this.#windowMs = init.windowMs
    this.#maxPeers = init.maxPeers ?? 4096
    this.#now = init.now ?? (() => performance.now())
  }

  /** Peers that asked within the window (the one asking now included). */
  get asking (): number {
    this.#forgetIdle()
    return this.#askedAt.size
  }

  /** The reads each asking peer may have under way now, of `slots` (the server's bound for this read). */
  share (slots = this.#slots): number {
    return Math.max(this.#minPerPeer, Math.floor(slots / Math.max(1, this.asking)))
  }

  /** Reads under way for the peer. */
  reads (peer: string): number {
    return this.#reads.get(peer) ?? 0
  }

  /** Notes the request; true (and counted as a read under way) when the peer is within its share of `slots`. */
  admit (peer: string, slots = this.#slots): boolean {
    this.#askedAt.delete(peer)
    this.#askedAt.set(peer, this.#now())
    if (this.#askedAt.size > this.#maxPeers) {
      const oldest = this.#askedAt.keys().next().value
      if (oldest != null) this.#askedAt.delete(oldest)
    }
    const reads = this.reads(peer)
    if (reads >= this.share(slots)) return false
    this.#reads.set(peer, reads + 1)
    return true
  }

  /** A read admitted for the peer has ended. */
  release (peer: string): void {
    const left = this.reads(peer) - 1
    if (left <= 0) this.#reads.delete(peer)
    else this.#reads.set(peer, left)
  }

  /** A read of the peer starts waiting for memory: the returned signal aborts when preempt() gives it up. */
  wait (peer: string): AbortController {
    const controller = new AbortController()
    let waiting = this.#waiting.get(peer)
    if (waiting == null) this.#waiting.set(peer, waiting = new Set())
    waiting.add(controller)
    return controller
  }

  /** The read got its memory (or ended): it can no longer be given up. */
  waited (peer: string, controller: AbortController): void {
    const waiting = this.#waiting.get(peer)
    waiting?.delete(controller)
    if (waiting?.size === 0) this.#waiting.delete(peer)
  }

  /** Gives up the newest waiting reads of every peer over its share of `slots`; returns how many. */
  preempt (slots = this.#slots): number {
    const share = this.share(slots)
    let given = 0
    for (const [peer, waiting] of [...this.#waiting]) {
      let over = this.reads(peer) - share
      for (const controller of [...waiting].reverse()) {
        if (over <= 0) break
        controller.abort(new ReadPreemptedError(`a read of ${peer} was given up: it held more than its share of ${share} read slots`))
        this.waited(peer, controller)
        over--
        given++
      }
    }
    return given
  }

  #forgetIdle (): void {
    const now = this.#now()
    for (const [peer, at] of this.#askedAt) {
      if (now - at < this.#windowMs) break
      // A peer with reads under way is still asking, in effect.
      if (this.#reads.has(peer)) continue
      this.#askedAt.delete(peer)
    }
  }
}
