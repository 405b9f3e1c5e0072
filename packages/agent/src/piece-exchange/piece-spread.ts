/**
 * How many times one piece may leave this uploader within a short window. A piece that only this
 * agent holds (it read it from the origin a moment ago) is wanted by every downloader at once; sent
 * to all of them it costs this uplink one copy per downloader, and every other piece waits behind
 * them. Sent to a couple, it is soon held by those too, and the others fetch it from them: a tree
 * instead of a star. Past the limit a request is answered BUSY and the asker turns to another
 * holder (the scheduler and bitfields name the new ones within a few hundred milliseconds). And a
 * piece not sent yet goes before pieces sent already: its first copies are what the swarm waits for.
 */
export class PieceSpread {
  readonly #perWindow: number
  readonly #windowMs: number
  readonly #now: () => number
  readonly #maxEntries: number
  /** Send times per piece key, oldest first; a Map keeps insertion order, so the oldest keys go first. */
  readonly #sends = new Map<string, number[]>()

  constructor (init: { perWindow: number, windowMs: number, maxEntries?: number, now?: () => number }) {
    this.#perWindow = init.perWindow
    this.#windowMs = init.windowMs
    this.#maxEntries = init.maxEntries ?? 65_536
    this.#now = init.now ?? (() => performance.now())
  }

  /** How many times the piece was sent within the window (0: a piece new to the swarm, likely held here alone). */
  count (key: string): number {
    const now = this.#now()
    return (this.#sends.get(key) ?? []).filter(at => now - at < this.#windowMs).length
  }

  /** Whether the piece may be sent now; a yes counts as a send (also with the limit 0, off: the count orders the queue). */
  admit (key: string): boolean {
    const now = this.#now()
    const recent = (this.#sends.get(key) ?? []).filter(at => now - at < this.#windowMs)
    if (this.#perWindow > 0 && recent.length >= this.#perWindow) {
      this.#sends.set(key, recent)
      return false
    }
    recent.push(now)
    this.#sends.delete(key)
    this.#sends.set(key, recent)
    if (this.#sends.size > this.#maxEntries) {
      const oldest = this.#sends.keys().next().value
      if (oldest != null) this.#sends.delete(oldest)
    }
    return true
  }

  /** An admitted send that did not happen (its read was given up): it no longer counts. */
  retract (key: string): void {
    const sends = this.#sends.get(key)
    sends?.pop()
    if (sends?.length === 0) this.#sends.delete(key)
  }
}
