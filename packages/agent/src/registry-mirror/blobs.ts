import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Digest } from '@shoal/proto'
import type { UpstreamConfig } from '../config/index.ts'
import { ChunkSink, followDownload, isWholeBlob, sendStoredBlob } from '../layer-fetcher/index.ts'
import type { BlobHandle, LayerFetcher, OriginBlobRequest } from '../layer-fetcher/index.ts'
import type { AgentMetrics } from '../metrics.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { refuseUnconfirmed } from './access-check.ts'
import type { AccessCheck, AccessRequest } from './access-check.ts'
import type { PullNote } from './pull-note.ts'
import { sendOciError } from './oci-errors.ts'
import { parseRange } from './range.ts'
import { sendUpstreamAnswer } from './respond.ts'

export interface BlobRouteComponents {
  store: PieceStore
  fetcher: LayerFetcher
  upstream: UpstreamClient
  metrics: AgentMetrics
  access: AccessCheck
  /** A client that accepts no byte of a blob body for this long is cut off (default MIRROR_STALLED_CONNECTION_MS). */
  stalledClientMs?: number
}

export interface BlobRequest {
  registry: UpstreamConfig
  name: string
  digest: Digest
}

function blobHeaders (digest: Digest, size: number, range: { start: number, end: number } | undefined): Record<string, string | number> {
  const headers: Record<string, string | number> = {
    'content-type': 'application/octet-stream',
    'docker-content-digest': digest,
    etag: `"${digest}"`,
    'accept-ranges': 'bytes',
    'cache-control': 'max-age=31536000',
    'content-length': range == null ? size : range.end - range.start + 1
  }
  if (range != null) headers['content-range'] = `bytes ${range.start}-${range.end}/${size}`
  return headers
}

function accessRequest (blob: BlobRequest, authorization: string | undefined): AccessRequest {
  return { registry: blob.registry, repository: blob.name, path: `/v2/${blob.name}/blobs/${blob.digest}`, authorization }
}

/** What the fetcher is asked for a client's blob request. */
export function blobFetchRequest (components: Pick<BlobRouteComponents, 'access'>, blob: BlobRequest, authorization: string | undefined): OriginBlobRequest {
  return {
    registry: blob.registry,
    repository: blob.name,
    digest: blob.digest,
    authorization,
    offlineAccess: () => components.access.whileUnreachable(accessRequest(blob, authorization)) == null,
    // The origin itself answering this client with the blob is as good as a confirmed yes.
    onOriginYes: () => { components.access.granted(accessRequest(blob, authorization)) }
  }
}

/**
 * GET and HEAD of a blob: from the store when complete, else from the download it joins or starts,
 * streamed as it arrives. Blob bodies are sent as stored, never re-encoded.
 */
export async function handleBlob (components: BlobRouteComponents, req: IncomingMessage, res: ServerResponse, blob: BlobRequest, note: PullNote = {}): Promise<void> {
  // Pinned from the first look at the store, so GC cannot take the blob between that look and the read.
  const unpin = components.store.pin(blob.digest)
  try {
    await serveBlob(components, req, res, blob, note)
  } finally {
    unpin()
  }
}

async function serveBlob (components: BlobRouteComponents, req: IncomingMessage, res: ServerResponse, blob: BlobRequest, note: PullNote): Promise<void> {
  const { store, fetcher, upstream, metrics } = components
  const authorization = req.headers.authorization
  const known = store.get(blob.digest)
  // Bytes held here, or on their way for another client, go only to a client the origin would serve.
  // No await before open() when neither: a request that joins this one's download is checked.
  const local = req.method === 'HEAD' ? known?.state === 'complete' : known != null || fetcher.fetching(blob.digest)
  if (local && await refuseUnconfirmed(components.access, res, accessRequest(blob, authorization))) return
  if (req.method === 'HEAD') {
    if (known?.state === 'complete') {
      note.source = 'local'
      res.writeHead(200, blobHeaders(blob.digest, known.size, undefined)).end()
      return
    }
    const answer = await upstream.send({ registry: blob.registry, method: 'HEAD', path: `/v2/${blob.name}/blobs/${blob.digest}`, repository: blob.name, authorization })
    await answer.body.dump()
    note.source = 'origin'
    sendUpstreamAnswer(res, { status: answer.status, headers: { ...answer.headers, 'docker-content-digest': answer.status === 200 ? blob.digest : undefined }, endpoint: answer.endpoint })
    return
  }

  const open = async (): Promise<BlobHandle> => fetcher.open(blobFetchRequest(components, blob, authorization))
  let handle = await open()
  if (handle.kind === 'upstream') {
    note.source = 'origin'
    sendUpstreamAnswer(res, handle)
    return
  }
  const size = handle.kind === 'complete' ? handle.record.size : handle.download.size
  let range: { start: number, end: number } | undefined
  try {
    range = parseRange(req.headers.range, size)
  } catch (err) {
    sendOciError(res, 416, 'RANGE_INVALID', (err as Error).message, { 'content-range': `bytes */${size}` })
    return
  }
  const span = range ?? { start: 0, end: size - 1 }
  const abort = new AbortController()
  res.on('close', () => abort.abort())
  // A part of a stored blob cannot be checked on its own: the whole file is verified before a 206
  // goes out. One that does not match was dropped from the store: fetch it again.
  if (handle.kind === 'complete' && size > 0 && !isWholeBlob(span, size) && !await store.verify(blob.digest, { signal: abort.signal })) {
    handle = await open()
    if (handle.kind === 'upstream') {
      sendUpstreamAnswer(res, handle)
      return
    }
  }
  const sink = new ChunkSink(res, abort.signal, { stallMs: components.stalledClientMs })
  const from = handle.kind === 'complete' ? 'local' : handle.download.source
  note.source = from
  try {
    res.writeHead(range == null ? 200 : 206, blobHeaders(blob.digest, size, range))
    if (size > 0 && handle.kind === 'complete') {
      await sendStoredBlob(store, handle.record, span, sink, { signal: abort.signal })
    } else if (size > 0 && handle.kind === 'download') {
      await followDownload(handle.download, span, sink, abort.signal, async () => store.openBlob(blob.digest))
    }
    res.end()
  } catch (err) {
    // Headers are out: the only honest signal left is a broken body.
    res.destroy(err as Error)
  } finally {
    // A download's bytes by where they came from: a peer download read the pieces no peer gave from
    // the origin, and everything after a fallback; pieces held already came from the store.
    const elsewhere = handle.kind === 'download' ? handle.download.bytesFrom(span.start, span.start + sink.sent) : { origin: 0, local: 0 }
    const byPath = sink.sent - elsewhere.origin - elsewhere.local
    metrics.servedBytes.inc({ source: from }, byPath)
    for (const source of ['origin', 'local'] as const) if (elsewhere[source] > 0) metrics.servedBytes.inc({ source }, elsewhere[source])
    note.bytes = sink.sent
  }
}
