import { EventEmitter, once } from 'node:events'
import { cidOfDigest, digestAlgorithm, digestOf, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { UPSTREAM_RETRIES, UPSTREAM_RETRY_BASE_MS } from '../constants.ts'
import { UpstreamProtocolError } from '../errors.ts'
import { inThreadHashing } from '../hashing/hash-thread.ts'
import type { BlobHashing, HashThread } from '../hashing/hash-thread.ts'
import type { PartialBlob } from '../piece-store/partial-blob.ts'
import { SourceSpans } from './source-spans.ts'
import type { SpanSource } from './source-spans.ts'
import { WriteBehind } from './write-behind.ts'

/** Where the bytes of a blob come from: one origin stream, or pieces from peers in order. */
export interface ByteSource {
  /** Opens the blob's bytes from `offset` to the end. */
  open: (offset: number, signal: AbortSignal) => Promise<AsyncIterable<Uint8Array>>
  /** Releases what the source holds open (a response nobody read). */
  close?: () => Promise<void>
  /**
   * The digest of piece `index` when the source has already hashed and checked it (pieces from
   * peers): the download then records it without hashing the piece a second time. Asked once per
   * piece, for a piece that arrives whole in one chunk.
   */
  verifiedPiece?: (index: number) => Digest | undefined
  /**
   * Where piece `index` came from when not by the download's path: the origin (a peer path reads
   * the pieces no peer gives that way) or the store (a piece held already). Asked once per piece,
   * when the download has it whole; undefined, or no such function, means by its path.
   */
  pieceSource?: (index: number) => SpanSource | undefined
}

/**
 * One blob being fetched into its partial file. Readers follow `written` (bytes in the file, in
 * order from the start) and may send everything but the last byte before `verified`: the end is
 * held back until the whole blob hashes to its digest, so no client ever gets a complete wrong
 * body. Emits `bytes` (n received), `change` (more bytes written, or the state changed), `piece`
 * (index) when a piece is written and recorded, and `fallback` (error, offset) when its source
 * failed and the rest comes from the fallback source given to run().
 */
export class BlobDownload extends EventEmitter {
  readonly digest: Digest
  readonly size: number
  readonly partial: PartialBlob
  /** The path it takes: `origin` (one stream from the origin) or `peer` (pieces from peers, the origin for those no peer gave). */
  readonly source: 'origin' | 'peer'
  /** Set when the source failed and the fallback (the origin) gave the bytes from here on. */
  fallbackAt?: number
  /** Bytes that came from the origin or the store although the download's path is another. */
  private readonly spans = new SourceSpans()
  state: 'running' | 'verified' | 'failed' = 'running'
  error?: Error
  private readonly controller: AbortController
  private readonly hashThread?: HashThread
  private pieceIndex = 0
  /** The end of a piece already in the file whose bytes are passing through: hashed, not written again. */
  private storedEnd = 0
  private writer: WriteBehind
  private verifiedPiece?: (index: number) => Digest | undefined
  private pieceSource?: (index: number) => SpanSource | undefined
  private readonly writerEvents = {
    onPieceRecorded: (index: number): void => { this.emit('piece', index) },
    onWritten: (): void => { this.emit('change') }
  }

  /**
   * `controller` also aborts whatever was opened for this download before it existed. `hashing`:
   * the agent's hashing thread; without one the bytes are hashed on the calling thread.
   */
  constructor (partial: PartialBlob, init: { controller?: AbortController, source?: 'origin' | 'peer', hashing?: HashThread } = {}) {
    super()
    this.source = init.source ?? 'origin'
    this.controller = init.controller ?? new AbortController()
    this.setMaxListeners(0)
    this.partial = partial
    this.digest = partial.digest
    this.size = partial.size
    this.hashThread = init.hashing
    this.writer = new WriteBehind(partial, 0, this.writerEvents)
  }

  /** Bytes received in order from the start (handed to the writer and the hashing). */
  get available (): number { return this.writer.received }
  /** Bytes in the partial file, in order from the start. */
  get written (): number { return this.writer.written }

  /** Waits until more bytes are written or the download ends. */
  async changed (signal?: AbortSignal): Promise<void> {
    if (this.state !== 'running') return
    await once(this, 'change', { signal })
  }

  abort (reason: Error): void {
    this.controller.abort(reason)
  }

  /**
   * Runs the download to the end: re-reads and checks the pieces already on disk (after a restart),
   * fetches the rest from the source (resuming at the exact byte after a broken connection), and
   * completes the blob in the store only when the whole digest matches. When the source fails for
   * good, the rest comes from `fallback` (once), if given and the error allows it (canFallBack).
   */
  async run (source: ByteSource, complete: (hashed: Digest) => Promise<void>, fallback?: () => ByteSource): Promise<void> {
    const algorithm = digestAlgorithm(this.digest)
    let hashing: BlobHashing | undefined
    let next = fallback
    try {
      hashing = this.hashThread?.session(algorithm) ?? inThreadHashing(algorithm)
      this.writer = new WriteBehind(this.partial, await this.adoptStoredPrefix(hashing), this.writerEvents)
      this.verifiedPiece = source.verifiedPiece?.bind(source)
      this.pieceSource = source.pieceSource?.bind(source)
      this.emit('change')
      let failures = 0
      while (this.available < this.size) {
        const before = this.available
        try {
          for await (const chunk of await source.open(this.available, this.controller.signal)) {
            await this.accept(chunk, hashing)
          }
          if (this.available < this.size) throw new UpstreamProtocolError(`${this.digest}: the source ended at byte ${this.available} of ${this.size}`)
        } catch (err) {
          if (this.controller.signal.aborted) throw this.controller.signal.reason ?? err
          failures = this.available > before ? 1 : failures + 1
          if (failures > UPSTREAM_RETRIES || isFinal(err)) {
            if (next == null || !canFallBack(err)) throw err
            // The clients following this download keep their bytes and get the rest from the fallback
            // (the origin): the whole-blob digest still gates the end, over every byte.
            await source.close?.().catch(() => {})
            source = next()
            next = undefined
            failures = 0
            this.verifiedPiece = source.verifiedPiece?.bind(source)
            this.pieceSource = source.pieceSource?.bind(source)
            this.fallbackAt = this.available
            this.emit('fallback', err as Error, this.available)
            continue
          }
          await new Promise(resolve => setTimeout(resolve, UPSTREAM_RETRY_BASE_MS * 2 ** failures))
        }
      }
      await this.writer.drain()
      const hashed = `${algorithm}:${await hashing.digest()}` as Digest
      await complete(hashed)
      this.state = 'verified'
    } catch (err) {
      hashing?.close()
      this.error = err as Error
      this.state = 'failed'
      // The download has failed with `err`, the error its clients and onDownloadDone see; a write or
      // a commit that fails too on the way out adds nothing (the partial is closed and forgotten
      // either way, and the next request resumes from the pieces recorded).
      await this.writer.drain().catch(() => {})
      await this.partial.close().catch(() => {})
    } finally {
      // Releases a response or peer streams nobody reads any more; failing to is not the download's failure.
      await source.close?.().catch(() => {})
      this.emit('change')
    }
  }

  /**
   * Where the bytes [start, end) came from: from the store (held already, or kept from before a
   * restart), from the origin (on the origin path; on the peer path, the pieces its source read
   * from the origin and everything from a fallback on), and by the download's path (the rest).
   */
  bytesFrom (start: number, end: number): Record<SpanSource, number> {
    const local = this.spans.count('local', start, end)
    const length = Math.max(0, end - start)
    if (this.source === 'origin') return { local, origin: length - local }
    const fallback = this.fallbackAt == null ? 0 : Math.max(0, end - Math.max(start, this.fallbackAt))
    // Ranges past the fallback point are counted with it.
    return { local, origin: fallback + this.spans.count('origin', start, end, this.fallbackAt) }
  }

  /** Notes where the piece [offset, end) came from, once the download has it whole. */
  private notePieceSource (offset: number, end: number): void {
    const source = this.pieceSource?.(this.pieceIndex)
    if (source != null) this.spans.note(source, offset, end)
  }

  /** Pieces recorded before a restart are re-read and re-checked; returns where to resume. */
  private async adoptStoredPrefix (hashing: BlobHashing): Promise<number> {
    let resumeAt = 0
    for (let i = 0; i < this.partial.pieceCount && this.partial.hasPiece(i); i++) {
      const span = pieceSpan(this.size, i)
      const bytes = await this.partial.read(span.offset, span.length)
      if (bytes.byteLength !== span.length || cidOfDigest(digestOf(bytes)).toString() !== this.partial.pieceCid(i)) break
      await hashing.update(bytes, false)
      this.spans.note('local', span.offset, span.offset + span.length)
      resumeAt = span.offset + span.length
      this.pieceIndex = i + 1
    }
    return resumeAt
  }

  private async accept (chunk: Uint8Array, hashing: BlobHashing): Promise<void> {
    const start = this.available
    if (start + chunk.byteLength > this.size) {
      throw new UpstreamProtocolError(`${this.digest}: the source sent more than the ${this.size} bytes it announced`)
    }
    const whole = pieceSpan(this.size, this.pieceIndex)
    if (start === whole.offset && this.partial.hasWritten(this.pieceIndex)) {
      // Already in the file and recorded (read ahead, or stored early for peers), committed or not:
      // hashed into the blob's digest, not written again, in however many chunks it comes. The
      // source's digest of it is dropped unused.
      this.storedEnd = whole.offset + whole.length
      this.verifiedPiece?.(this.pieceIndex)
      this.notePieceSource(whole.offset, this.storedEnd)
    }
    if (start < this.storedEnd) {
      const take = Math.min(chunk.byteLength, this.storedEnd - start)
      await hashing.update(take < chunk.byteLength ? chunk.subarray(0, take) : chunk, false)
      const last = start + take === this.storedEnd
      const stored = this.writer.pushStored(take, last ? this.pieceIndex : undefined)
      if (last) this.pieceIndex++
      this.emit('bytes', take)
      await stored
      // A chunk that runs on into the next piece (an origin body's chunks ignore piece bounds).
      if (take < chunk.byteLength) await this.accept(chunk.subarray(take), hashing)
      return
    }
    const pieceEnd = whole.offset + whole.length
    if (start + chunk.byteLength > pieceEnd && this.partial.hasWritten(this.pieceIndex + 1)) {
      // The chunk runs on into a piece already in the file: this piece is written, that one passed over.
      await this.accept(chunk.subarray(0, pieceEnd - start), hashing)
      await this.accept(chunk.subarray(pieceEnd - start), hashing)
      return
    }
    const written = this.writer.push(chunk)
    let offset = 0
    while (offset < chunk.byteLength) {
      const span = pieceSpan(this.size, this.pieceIndex)
      const pieceEnd = span.offset + span.length
      const take = Math.min(chunk.byteLength - offset, pieceEnd - (start + offset))
      const known = start + offset === span.offset && take === span.length ? this.verifiedPiece?.(this.pieceIndex) : undefined
      await hashing.update(chunk.subarray(offset, offset + take), known == null)
      offset += take
      if (start + offset === pieceEnd) {
        this.notePieceSource(span.offset, pieceEnd)
        this.writer.pieceDone(this.pieceIndex, pieceEnd, known ?? hashing.endPiece())
        this.pieceIndex++
      }
    }
    this.emit('bytes', chunk.byteLength)
    await written
  }
}

/**
 * Errors a retry of the same source cannot fix. HashThreadError: the session's bytes are lost with
 * its thread; a new download hashes on a new one.
 */
const FINAL_ERRORS = new Set(['UpstreamUnauthorizedError', 'UpstreamTlsError', 'UpstreamProtocolError', 'PieceTableMismatchError', 'NoPeerSourceError', 'HashThreadError'])

function isFinal (err: unknown): boolean {
  return FINAL_ERRORS.has((err as Error).name)
}

/**
 * Errors after which the rest of the blob may come from the fallback source: any the source's
 * retries did not cure, and of the final ones only a source that broke its protocol (a piece
 * stream that ended early, an origin piece read cut short). Not a piece table the origin's bytes
 * contradicted (the download fails, and its table's givers are banned), a lost hashing thread
 * (the digest so far is lost with it), the origin's own refusals, or no origin fallback allowed.
 */
function canFallBack (err: unknown): boolean {
  return !isFinal(err) || (err as Error).name === 'UpstreamProtocolError'
}
