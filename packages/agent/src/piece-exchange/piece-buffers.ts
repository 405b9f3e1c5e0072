/**
 * Reused memory for the pieces the server reads from disk. A piece read into new memory each time
 * lives until a peer's connection has taken it (often hundreds of ms at a slow receiver): long
 * enough to be promoted and die in V8's old space, which is what made an uploader's major
 * collections and its resident memory (docs/dev/peer-link.md). Buffers come back once their
 * stream has handed every byte to the connection, which encrypts at hand-over (the Noise patch),
 * so nothing references them then. Idle buffers are kept up to `maxIdleBytes`; the rest are left
 * to the collector.
 */
export class PieceBuffers {
  readonly #maxIdleBytes: number
  /** Idle buffers by capacity (a blob's piece size: every piece of it fits). */
  readonly #idle = new Map<number, ArrayBuffer[]>()
  #idleBytes = 0

  constructor (maxIdleBytes: number) {
    this.#maxIdleBytes = maxIdleBytes
  }

  /** Idle bytes held for reuse. */
  get idleBytes (): number {
    return this.#idleBytes
  }

  /** A buffer of `capacity` bytes, reused when one is idle. */
  take (capacity: number): ArrayBuffer {
    const buffer = this.#idle.get(capacity)?.pop()
    if (buffer == null) return new ArrayBuffer(capacity)
    this.#idleBytes -= capacity
    return buffer
  }

  /** Gives a buffer back for reuse: only once nothing else references its bytes. */
  give (buffer: ArrayBuffer): void {
    const capacity = buffer.byteLength
    if (this.#idleBytes + capacity > this.#maxIdleBytes) return
    let list = this.#idle.get(capacity)
    if (list == null) {
      list = []
      this.#idle.set(capacity, list)
    }
    list.push(buffer)
    this.#idleBytes += capacity
  }
}
