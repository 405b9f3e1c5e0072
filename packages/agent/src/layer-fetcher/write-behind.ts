import type { Digest } from '@shoal/proto'
import { MAX_UNWRITTEN_BYTES, WRITE_BATCH_BYTES } from '../constants.ts'
import type { PartialBlob } from '../piece-store/partial-blob.ts'

interface Chunk { offset: number, bytes: Uint8Array }

export interface WriteBehindInit {
  /** Told each piece once it is written and recorded (durable at the partial's next commit). */
  onPieceRecorded?: (index: number) => void
  /** Told each time `written` moves on: readers of the download follow the file. */
  onWritten?: () => void
}

/**
 * Sequential bytes of a download on their way to the partial file. Chunks are written at once
 * when no write is under way, else gathered into the next batch (one writev of up to ~1 MiB), and a
 * piece is recorded only after all its bytes are written. A chunk is let go as soon as it is
 * written: readers of the download read the file (the page cache), so no chunk lives long enough
 * to be promoted to V8's old generation, where dead buffers wait for a major collection (a window
 * of recent chunks kept for readers held the agent's memory tens of MiB higher while serving a
 * cold blob to several clients; `docs/dev/swarm-cpu.md`).
 */
export class WriteBehind {
  private readonly partial: PartialBlob
  private batch: Chunk[] = []
  private batchBytes = 0
  private readonly donePieces: Array<{ index: number, end: number, digest: Digest | Promise<Digest> }> = []
  private chain: Promise<void> = Promise.resolve()
  /** Batches handed to the chain and not yet written. */
  private queued = 0
  private failure?: Error
  /** Bytes handed over, and bytes on disk (page cache), from the start of the blob. */
  received = 0
  written = 0

  private readonly onPieceRecorded?: (index: number) => void
  private readonly onWritten?: () => void

  constructor (partial: PartialBlob, start: number, init: WriteBehindInit = {}) {
    this.partial = partial
    this.onPieceRecorded = init.onPieceRecorded
    this.onWritten = init.onWritten
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
    // An idle writer writes at once (readers follow the file); a busy one gathers a batch meanwhile.
    if (this.queued === 0 || this.batchBytes >= WRITE_BATCH_BYTES) this.flush()
    if (this.received - this.written > MAX_UNWRITTEN_BYTES) await this.chain
    if (this.failure != null) throw this.failure
  }

  /**
   * Takes the next `length` bytes in order when they are (part of) a piece already in the file and
   * recorded (a piece read ahead, or stored early for peers): nothing is written or recorded again;
   * `written` passes over them once everything before them is written, and `index` (given with the
   * piece's last bytes) is told as recorded then. Resolves as push does.
   */
  async pushStored (length: number, index?: number): Promise<void> {
    if (this.failure != null) throw this.failure
    // What came before goes to the file first: `written` only ever counts a gapless prefix.
    this.flush()
    this.received += length
    const end = this.received
    this.chain = this.chain.then(() => {
      if (this.failure != null) return
      this.written = end
      if (index != null) this.onPieceRecorded?.(index)
      this.onWritten?.()
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

  private flush (): void {
    if (this.batch.length === 0) return
    const batch = this.batch
    const end = this.received
    this.batch = []
    this.batchBytes = 0
    this.queued++
    this.chain = this.chain.then(async () => {
      try {
        if (this.failure != null) return
        await this.partial.writeChunksAt(batch[0]?.offset ?? end, batch.map(c => c.bytes))
        this.written = end
        this.onWritten?.()
        while (this.donePieces.length > 0 && (this.donePieces[0]?.end ?? Infinity) <= end) {
          const piece = this.donePieces.shift()
          if (piece == null) continue
          await this.partial.recordPiece(piece.index, await piece.digest)
          this.onPieceRecorded?.(piece.index)
        }
      } catch (err) {
        this.failure = err as Error
      } finally {
        // What arrived during this write goes next, whatever its size.
        if (--this.queued === 0) this.flush()
      }
    })
  }
}
