import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { EventEmitter, once } from 'node:events'
import { cidOfDigest, digestAlgorithm, digestOf, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { UPSTREAM_RETRIES, UPSTREAM_RETRY_BASE_MS } from '../constants.ts'
import { UpstreamProtocolError } from '../errors.ts'
import type { PartialBlob } from '../piece-store/partial-blob.ts'

/** Where the bytes of a blob come from; the origin now, peers from the next issue on. */
export interface ByteSource {
  /** Opens the blob's bytes from `offset` to the end. */
  open: (offset: number, signal: AbortSignal) => Promise<AsyncIterable<Uint8Array>>
  /** Releases what the source holds open (a response nobody read). */
  close?: () => Promise<void>
}

export interface BlobDownloadEvents {
  /** Bytes of the blob received from the source. */
  bytes: (n: number) => void
}

/**
 * One blob being fetched into its partial file. Readers follow `available` (bytes written in
 * order from the start) and may send everything but the last byte before `verified`: the end is
 * held back until the whole blob hashes to its digest, so no client ever gets a complete wrong body.
 */
export class BlobDownload extends EventEmitter {
  readonly digest: Digest
  readonly size: number
  readonly partial: PartialBlob
  available = 0
  state: 'running' | 'verified' | 'failed' = 'running'
  error?: Error
  private readonly controller: AbortController
  private readonly hasher: Hash
  private pieceHasher = createHash('sha256')
  private pieceIndex = 0

  /** `controller` also aborts whatever was opened for this download before it existed. */
  constructor (partial: PartialBlob, controller = new AbortController()) {
    super()
    this.controller = controller
    this.setMaxListeners(0)
    this.partial = partial
    this.digest = partial.digest
    this.size = partial.size
    this.hasher = createHash(digestAlgorithm(this.digest))
  }

  /** Waits until more bytes are available or the download ends. */
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
   * completes the blob in the store only when the whole digest matches.
   */
  async run (source: ByteSource, complete: (hashed: Digest) => Promise<void>): Promise<void> {
    try {
      await this.adoptStoredPrefix()
      let failures = 0
      while (this.available < this.size) {
        const before = this.available
        try {
          for await (const chunk of await source.open(this.available, this.controller.signal)) {
            await this.accept(chunk)
          }
          if (this.available < this.size) throw new UpstreamProtocolError(`${this.digest}: the source ended at byte ${this.available} of ${this.size}`)
        } catch (err) {
          if (this.controller.signal.aborted) throw this.controller.signal.reason ?? err
          failures = this.available > before ? 1 : failures + 1
          if (failures > UPSTREAM_RETRIES || isFinal(err)) throw err
          await new Promise(resolve => setTimeout(resolve, UPSTREAM_RETRY_BASE_MS * 2 ** failures))
        }
      }
      const hashed = `${digestAlgorithm(this.digest)}:${this.hasher.digest('hex')}` as Digest
      await complete(hashed)
      this.state = 'verified'
    } catch (err) {
      this.error = err as Error
      this.state = 'failed'
      await this.partial.close().catch(() => {})
    } finally {
      await source.close?.().catch(() => {})
      this.emit('change')
    }
  }

  /** Pieces recorded before a restart are re-read and re-checked, then resumed after. */
  private async adoptStoredPrefix (): Promise<void> {
    for (let i = 0; i < this.partial.pieceCount && this.partial.hasPiece(i); i++) {
      const span = pieceSpan(this.size, i)
      const bytes = await this.partial.read(span.offset, span.length)
      if (bytes.byteLength !== span.length || cidOfDigest(digestOf(bytes)).toString() !== this.partial.pieceCid(i)) break
      this.hasher.update(bytes)
      this.available = span.offset + span.length
      this.pieceIndex = i + 1
    }
    this.emit('change')
  }

  private async accept (chunk: Uint8Array): Promise<void> {
    if (this.available + chunk.byteLength > this.size) {
      throw new UpstreamProtocolError(`${this.digest}: the source sent more than the ${this.size} bytes it announced`)
    }
    let offset = 0
    while (offset < chunk.byteLength) {
      const span = pieceSpan(this.size, this.pieceIndex)
      const take = Math.min(chunk.byteLength - offset, span.offset + span.length - this.available)
      const part = chunk.subarray(offset, offset + take)
      await this.partial.writeAt(this.available, part)
      this.hasher.update(part)
      this.pieceHasher.update(part)
      this.available += take
      offset += take
      if (this.available === span.offset + span.length) {
        await this.partial.recordPiece(this.pieceIndex, `sha256:${this.pieceHasher.digest('hex')}` as Digest)
        this.pieceHasher = createHash('sha256')
        this.pieceIndex++
      }
    }
    this.emit('bytes', chunk.byteLength)
    this.emit('change')
  }
}

/** Errors a retry cannot fix. */
function isFinal (err: unknown): boolean {
  const name = (err as Error).name
  return name === 'UpstreamUnauthorizedError' || name === 'UpstreamTlsError' || name === 'UpstreamProtocolError' || name === 'NotFoundError'
}
