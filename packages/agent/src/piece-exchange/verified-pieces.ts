/**
 * Pieces this process hashed from disk lately and found right. Serving one piece to many peers
 * (a rollout) would otherwise hash it again for each; a piece that rots on disk after its check is
 * served for at most the TTL, and the receiver's own check catches it.
 */
export class VerifiedPieces {
  readonly #at = new Map<string, number>()
  readonly #ttlMs: number
  readonly #maxEntries: number
  readonly #now: () => number

  constructor (init: { ttlMs: number, maxEntries: number, now?: () => number }) {
    this.#ttlMs = init.ttlMs
    this.#maxEntries = init.maxEntries
    this.#now = init.now ?? Date.now
  }

  /** Whether the piece with this CID was checked within the TTL. */
  has (digest: string, index: number, cid: string): boolean {
    const at = this.#at.get(`${digest}/${index}/${cid}`)
    return at != null && this.#now() - at < this.#ttlMs
  }

  add (digest: string, index: number, cid: string): void {
    const key = `${digest}/${index}/${cid}`
    this.#at.delete(key)
    // The oldest goes first (a Map iterates in insertion order).
    if (this.#at.size >= this.#maxEntries) this.#at.delete(this.#at.keys().next().value as string)
    this.#at.set(key, this.#now())
  }
}
