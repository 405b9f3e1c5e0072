import type { Digest } from '@shoal/proto'
import type { UpstreamConfig } from '../config/index.ts'
import { UpstreamProtocolError } from '../errors.ts'
import type { BlobRecord } from '../piece-store/blob-record.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { BlobDownload } from './blob-download.ts'
import { blobSizeOf, originSource, requestOriginBlob } from './origin-source.ts'
import type { OriginBlobRequest } from './origin-source.ts'

export { ChunkSink, followDownload, sendFileRange } from './blob-reader.ts'
export type { ByteRange } from './blob-reader.ts'
export { BlobDownload } from './blob-download.ts'

/** An answer of the origin that is not the blob (401 with its challenge, 404...), passed on as is. */
export interface UpstreamAnswer {
  kind: 'upstream'
  status: number
  headers: Record<string, string | undefined>
  body: Buffer
}

export type BlobHandle =
  | { kind: 'complete', record: BlobRecord }
  | { kind: 'download', download: BlobDownload }
  | UpstreamAnswer

export interface LayerFetcherComponents {
  store: PieceStore
  upstream: UpstreamClient
}

export interface LayerFetcherEvents {
  onUpstreamBytes?: (n: number) => void
  onDownloadDone?: (download: BlobDownload) => void
}

const MAX_ERROR_BODY_BYTES = 64 * 1024

/**
 * One blob, wherever it is: complete in the store, being downloaded (join it), or fetched now.
 * Concurrent requests for one digest share one download, whoever asks and whatever repository or
 * registry name they use: the task is the digest itself.
 */
export class LayerFetcher {
  private readonly components: LayerFetcherComponents
  private readonly events: LayerFetcherEvents
  private readonly inflight = new Map<Digest, Promise<BlobHandle>>()
  private readonly downloads = new Set<BlobDownload>()

  constructor (components: LayerFetcherComponents, events: LayerFetcherEvents = {}) {
    this.components = components
    this.events = events
  }

  /** Blobs being downloaded right now. */
  get active (): number {
    return this.downloads.size
  }

  /** Whether a request for this digest is on its way to the origin or downloading now (open() would join it). */
  fetching (digest: Digest): boolean {
    return this.inflight.has(digest)
  }

  async stop (): Promise<void> {
    const running = [...this.downloads]
    for (const d of running) d.abort(new Error('agent stopping'))
    await Promise.all(running.map(async d => { await d.changed() }))
  }

  async open (req: OriginBlobRequest): Promise<BlobHandle> {
    const record = this.components.store.get(req.digest)
    if (record?.state === 'complete') return { kind: 'complete', record }
    let handle = this.inflight.get(req.digest)
    if (handle == null) {
      handle = this.start(req)
      this.inflight.set(req.digest, handle)
      handle.then(h => { if (h.kind !== 'download') this.inflight.delete(req.digest) }, () => this.inflight.delete(req.digest))
    }
    return handle
  }

  private async start (req: OriginBlobRequest): Promise<BlobHandle> {
    const { store, upstream } = this.components
    const known = store.get(req.digest)
    const resumeAt = known == null ? 0 : firstMissingOffset(known)
    // Not the client's signal: the download goes on for the store and other clients if it leaves.
    const controller = new AbortController()
    const res = await requestOriginBlob(upstream, req, resumeAt, controller.signal)
    if (res.status !== 200 && res.status !== 206) {
      return { kind: 'upstream', status: res.status, headers: res.headers, body: await readCapped(res.body, MAX_ERROR_BODY_BYTES) }
    }
    const size = blobSizeOf(res)
    if (size == null) {
      await res.body.dump()
      throw new UpstreamProtocolError(`${req.registry.host} sent blob ${req.digest} without a length`)
    }
    const partial = await store.openPartial(req.digest, size).catch(async err => {
      await res.body.dump().catch(() => {})
      throw err
    })
    const download = new BlobDownload(partial, controller)
    if (this.events.onUpstreamBytes != null) download.on('bytes', this.events.onUpstreamBytes)
    this.downloads.add(download)
    download.run(originSource(upstream, req, res), async hashed => { await store.complete(partial, hashed) })
      .finally(() => {
        this.downloads.delete(download)
        this.inflight.delete(req.digest)
        this.events.onDownloadDone?.(download)
      }).catch(() => {})
    return { kind: 'download', download }
  }
}

function firstMissingOffset (record: BlobRecord): number {
  const i = record.pieces.indexOf(null)
  return i < 0 ? 0 : i * record.pieceSize
}

async function readCapped (body: AsyncIterable<Uint8Array>, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    if (total < cap) chunks.push(Buffer.from(chunk.subarray(0, cap - total)))
    total += chunk.byteLength
  }
  return Buffer.concat(chunks)
}

export type { UpstreamConfig }
