import type { Digest } from '@shoal/proto'
import { MAX_UNWRITTEN_BYTES, RECENT_WINDOW_BYTES, WRITE_BATCH_BYTES } from '../constants.ts'
import type { PartialBlob } from '../piece-store/partial-blob.ts'

interface Chunk { offset: number, bytes: Uint8Array }

/**
 * Sequential bytes of a download on their way to the partial file. Chunks are written in batches
 * (one writev per ~1 MiB) while more arrive, a piece is recorded only after all its bytes are
 * written, and the most recent bytes stay in memory so readers that keep up with the download are
 * served from there instead of the file.
 */
export class WriteBehind {
  private readonly partial: PartialBlob
  private batch: Chunk[] = []
  private batchBytes = 0
  private readonly recent: Chunk[] = []
  private recentBytes = 0
  private readonly donePieces: Array<{ index: number, end: number, digest: Digest | Promise<Digest> }> = []
  private chain: Promise<void> = Promise.resolve()
  private failure?: Error
  /** Bytes handed over, and bytes on disk (page cache), from the start of the blob. */
  received = 0
  written = 0

  private readonly onPieceRecorded?: (index: number) => void

  /** `onPieceRecorded` is told each piece once it is written and recorded (durable at the partial's next commit). */
  constructor (partial: PartialBlob, start: number, onPieceRecorded?: (index: number) => void) {
    this.partial = partial
    this.onPieceRecorded = onPieceRecorded
    this.received = start
    this.written = start
  }

  /** Takes the next bytes in order; resolves at once unless too much is still unwritten. */
  async push (bytes: Uint8Array): Promise<void> {
    if (this.failure != null) throw this.failure
    const chunk = { offset: this.received, bytes }
    this.received += bytes.byteLength
    this.batch.push(chunk)
    this.batchBytes += bytes.byteLength
    this.recent.push(chunk)
    this.recentBytes += bytes.byteLength
    if (this.batchBytes >= WRITE_BATCH_BYTES) this.flush()
    if (this.received - this.written > MAX_UNWRITTEN_BYTES) await this.chain
    if (this.failure != null) throw this.failure
  }

  /**
   * Takes the next bytes in order when they are a whole piece already in the file and recorded (a
   * piece read ahead, or stored early for peers): nothing is written or recorded again; `written`
   * passes over it once everything before it is written. Resolves as push does.
   */
  async pushStored (bytes: Uint8Array, index: number): Promise<void> {
    if (this.failure != null) throw this.failure
    // What came before goes to the file first: `written` only ever counts a gapless prefix.
    this.flush()
    const chunk = { offset: this.received, bytes }
    this.received += bytes.byteLength
    const end = this.received
    this.recent.push(chunk)
    this.recentBytes += bytes.byteLength
    this.chain = this.chain.then(() => {
      if (this.failure != null) return
      this.written = end
      this.onPieceRecorded?.(index)
      this.trimRecent()
    })
    if (this.received - this.written > MAX_UNWRITTEN_BYTES) await this.chain
    if (this.failure != null) throw this.failure
  }

  /** A piece whose bytes were all pushed; it is recorded once they are written and its digest is known (hashing goes on beside the writes). */
  pieceDone (index: number, end: number, digest: Digest | Promise<Digest>): void {
    // Awaited in the write chain; a failure is seen there, not as an unhandled rejection meanwhile.
    if (digest instanceof Promise) digest.catch(() => {})
    this.donePieces.push({ index, end, digest })
    this.flush()
  }

  /** Waits until everything pushed is written and its pieces recorded. */
  async drain (): Promise<void> {
    this.flush()
    await this.chain
    if (this.failure != null) throw this.failure
  }

  /** Bytes from `pos` (at most `max`) if they are still in memory. */
  read (pos: number, max: number): Uint8Array | undefined {
    for (let i = this.recent.length - 1; i >= 0; i--) {
      const c = this.recent[i]
      if (c == null || c.offset > pos) continue
      const from = pos - c.offset
      if (from >= c.bytes.byteLength) return undefined
      return c.bytes.subarray(from, from + Math.min(max, c.bytes.byteLength - from))
    }
    return undefined
  }

  private flush (): void {
    if (this.batch.length === 0) return
    const batch = this.batch
    const end = this.received
    this.batch = []
    this.batchBytes = 0
    this.chain = this.chain.then(async () => {
      if (this.failure != null) return
      try {
        await this.partial.writeChunksAt(batch[0]?.offset ?? end, batch.map(c => c.bytes))
        this.written = end
        while (this.donePieces.length > 0 && (this.donePieces[0]?.end ?? Infinity) <= end) {
          const piece = this.donePieces.shift()
          if (piece == null) continue
          await this.partial.recordPiece(piece.index, await piece.digest)
          this.onPieceRecorded?.(piece.index)
        }
        this.trimRecent()
      } catch (err) {
        this.failure = err as Error
      }
    })
  }

  /** Written bytes can be read back from the file; only a window of them stays in memory. */
  private trimRecent (): void {
    while (this.recentBytes > RECENT_WINDOW_BYTES && (this.recent[0]?.offset ?? Infinity) + (this.recent[0]?.bytes.byteLength ?? 0) <= this.written) {
      this.recentBytes -= this.recent.shift()?.bytes.byteLength ?? 0
    }
  }
}
