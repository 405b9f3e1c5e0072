import { constants, open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { cidOfDigest, pieceCountFor, pieceSizeFor, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { COMMIT_BYTES, COMMIT_INTERVAL_MS, DATA_DIR_FILE_MODE } from '../constants.ts'
import type { BlobRecord } from './blob-record.ts'

export interface PartialBlobComponents {
  /** Persists the record; called only after the pieces it names are durable on disk. */
  saveRecord: (record: BlobRecord) => Promise<void>
  /** Called once when close() begins: the store forgets this PartialBlob (the record stays). */
  onClose?: (partial: PartialBlob) => void
}

/**
 * A blob being assembled in its partial file, one piece at a time, in any order. A piece is written
 * at its offset, then made durable (fdatasync) in a batch, and only then recorded in the index, so
 * after a crash the index never names a torn piece.
 */
export class PartialBlob {
  readonly record: BlobRecord
  readonly path: string
  private readonly components: PartialBlobComponents
  private handle?: FileHandle
  private readonly pending = new Map<number, string>()
  private pendingBytes = 0
  private commitTimer?: NodeJS.Timeout
  private committing: Promise<void> = Promise.resolve()
  /** A timed commit that failed: thrown to the next recordPiece, commit or close. */
  private commitFailure?: Error
  private closing = false
  /** Told the pieces each commit made present (offered to peers from then on). */
  private readonly committedListeners = new Set<(indexes: number[]) => void>()

  constructor (components: PartialBlobComponents, record: BlobRecord, path: string) {
    this.components = components
    this.record = record
    this.path = path
  }

  get digest (): Digest { return this.record.digest }
  get size (): number { return this.record.size }
  get pieceSize (): number { return pieceSizeFor(this.record.size) }
  get pieceCount (): number { return pieceCountFor(this.record.size) }

  async open (): Promise<void> {
    // Create without truncating: pieces already recorded in the index stay valid. 0600: it may be a
    // private layer (the blob file that it becomes by rename keeps this mode).
    this.handle = await open(this.path, constants.O_RDWR | constants.O_CREAT, DATA_DIR_FILE_MODE)
    await this.handle.truncate(this.record.size)
  }

  /** A piece is present when it is durable and indexed. */
  hasPiece (index: number): boolean {
    return this.record.pieces[index] != null
  }

  /**
   * Whether the piece's bytes are in the file and recorded: present, or recorded since the last
   * commit (present at the next one). Such bytes need not be written again.
   */
  hasWritten (index: number): boolean {
    return this.record.pieces[index] != null || this.pending.has(index)
  }

  /** The recorded CID of a present piece. */
  pieceCid (index: number): string | undefined {
    return this.record.pieces[index] ?? undefined
  }

  missingPieces (): number[] {
    const missing: number[] = []
    for (let i = 0; i < this.pieceCount; i++) if (!this.hasPiece(i)) missing.push(i)
    return missing
  }

  /**
   * Writes a piece, as the chunks it arrived in, whose digest the caller computed from these very
   * bytes; indexed at the next commit.
   */
  async writePiece (index: number, chunks: readonly Uint8Array[], digest: Digest): Promise<void> {
    const span = pieceSpan(this.size, index)
    const length = byteLengthOf(chunks)
    if (length !== span.length) {
      throw new RangeError(`piece ${index} of ${this.digest} is ${span.length} bytes, not ${length}`)
    }
    await this.writeChunksAt(span.offset, chunks)
    await this.recordPiece(index, digest)
  }

  /**
   * Writes bytes of a piece still being received (a sequential origin stream), so readers can
   * follow the download closely; the piece counts only once recordPiece names its digest.
   */
  async writeAt (offset: number, bytes: Uint8Array): Promise<void> {
    if (offset < 0 || offset + bytes.byteLength > this.size) {
      throw new RangeError(`bytes ${offset}+${bytes.byteLength} are outside blob ${this.digest} of ${this.size} bytes`)
    }
    let written = 0
    while (written < bytes.byteLength) {
      const { bytesWritten } = await this.file().write(bytes, written, bytes.byteLength - written, offset + written)
      written += bytesWritten
    }
  }

  /** Writes consecutive chunks starting at `offset` in one call. */
  async writeChunksAt (offset: number, chunks: readonly Uint8Array[]): Promise<void> {
    const length = byteLengthOf(chunks)
    if (offset < 0 || offset + length > this.size) {
      throw new RangeError(`bytes ${offset}+${length} are outside blob ${this.digest} of ${this.size} bytes`)
    }
    const { bytesWritten } = await this.file().writev(chunks, offset)
    // A short writev is rare: finish the rest with plain writes.
    if (bytesWritten < length) await this.writeAt(offset + bytesWritten, Buffer.concat([...chunks]).subarray(bytesWritten))
  }

  /** Records a fully written piece; it becomes present (durable and indexed) at the next commit. */
  async recordPiece (index: number, digest: Digest): Promise<void> {
    const span = pieceSpan(this.size, index)
    this.pending.set(index, cidOfDigest(digest).toString())
    this.pendingBytes += span.length
    if (this.commitFailure != null) throw this.commitFailure
    if (this.pendingBytes >= COMMIT_BYTES) await this.commit()
    // A timed commit has no caller to tell: its failure is kept and thrown to the download's next
    // piece (or its close), which then fails and is fetched again, instead of completing with
    // pieces that were never made durable.
    else this.commitTimer ??= setTimeout(() => { this.commit().catch((err: Error) => { this.commitFailure ??= err }) }, COMMIT_INTERVAL_MS)
  }

  async read (offset: number, length: number): Promise<Buffer> {
    const buffer = Buffer.allocUnsafe(length)
    const { bytesRead } = await this.file().read(buffer, 0, length, offset)
    return buffer.subarray(0, bytesRead)
  }

  /** Makes written pieces durable, then records them. Commits run one after another. */
  async commit (): Promise<void> {
    if (this.commitFailure != null) throw this.commitFailure
    const run = this.committing.then(async () => {
      clearTimeout(this.commitTimer)
      this.commitTimer = undefined
      if (this.pending.size === 0 || this.handle == null) return
      const batch = [...this.pending]
      this.pendingBytes = 0
      await this.handle.datasync()
      // Pending until recorded: hasWritten stays true through the sync (a download passing over the
      // piece meanwhile would have written it again).
      for (const [index, cid] of batch) {
        this.record.pieces[index] = cid
        this.pending.delete(index)
      }
      await this.components.saveRecord(this.record)
      const indexes = batch.map(([index]) => index)
      for (const listener of this.committedListeners) listener(indexes)
    })
    // The chain only orders commits; each caller gets its own commit's failure from `run`.
    this.committing = run.catch(() => {})
    await run
  }

  /**
   * Calls `listener` with the pieces each commit makes present: from then on peers are served
   * them, so that is when they may be announced. Returns the unsubscribe.
   */
  onCommitted (listener: (indexes: number[]) => void): () => void {
    this.committedListeners.add(listener)
    return () => { this.committedListeners.delete(listener) }
  }

  /** Whether the file is open and close() has not been called. */
  get isOpen (): boolean {
    return this.handle != null && !this.closing
  }

  /**
   * Makes everything durable and closes the file (the blob may then be completed or left partial).
   * The store forgets this object at once: the next openPartial opens a new one that resumes from
   * the recorded pieces.
   */
  async close (): Promise<void> {
    if (!this.closing) {
      this.closing = true
      this.components.onClose?.(this)
    }
    let failure: Error | undefined
    await this.commit().catch((err: Error) => { failure = err })
    clearTimeout(this.commitTimer)
    const handle = this.handle
    this.handle = undefined
    await handle?.close()
    // Closed either way; the caller learns that the last pieces are not durable (complete() then fails).
    if (failure != null) throw failure
  }

  private file (): FileHandle {
    if (this.handle == null) throw new Error(`partial blob ${this.digest} is not open`)
    return this.handle
  }
}

function byteLengthOf (chunks: readonly Uint8Array[]): number {
  let length = 0
  for (const chunk of chunks) length += chunk.byteLength
  return length
}
