import type { Digest } from '@shoal/proto'
import { throttle } from '../../bandwidth/index.ts'
import type { RateLimiter } from '../../bandwidth/index.ts'
import type { UpstreamConfig } from '../../config/index.ts'
import { UpstreamProtocolError, UpstreamUnauthorizedError, UpstreamUnavailableError } from '../../errors.ts'
import type { UpstreamClient, UpstreamResponse } from '../../upstream/client.ts'
import { discardBody } from '../../upstream/errors.ts'
import type { ByteSource } from '../blob-download.ts'

export interface OriginBlobRequest {
  registry: UpstreamConfig
  repository: string
  digest: Digest
  authorization?: string
  /** Whether the offline access policy lets this client have the blob from peers while the origin cannot be asked. */
  offlineAccess?: () => boolean
  /** Called when the origin answered this request's GET or HEAD with the blob: a yes to these credentials. */
  onOriginYes?: () => void
}

/** `--origin-limit`: blob bodies from the origin are read at its pace. */
export type OriginLimiter = RateLimiter | undefined

/** Total size from a 200's Content-Length or a 206's Content-Range, or undefined. */
export function blobSizeOf (res: UpstreamResponse): number | undefined {
  if (res.status === 206) {
    const total = /\/(\d+)\s*$/.exec(res.headers['content-range'] ?? '')?.[1]
    return total == null ? undefined : Number(total)
  }
  const length = res.headers['content-length']
  return length != null && /^\d+$/.test(length) ? Number(length) : undefined
}

function startOf (res: UpstreamResponse): number {
  if (res.status !== 206) return 0
  return Number(/bytes\s+(\d+)-/.exec(res.headers['content-range'] ?? '')?.[1] ?? NaN)
}

export interface OriginBlobRequestOptions {
  signal?: AbortSignal
  /** The last byte wanted (inclusive); none: to the blob's end. */
  end?: number
  /** An endpoint asked last (the one whose body just broke off). */
  avoidEndpoint?: string
  /** Bytes of a body the client already has headers for: see UpstreamRequest.patient. */
  patient?: boolean
}

/** GET of the blob from `offset` (a Range request unless from its start to its end). */
export async function requestOriginBlob (upstream: UpstreamClient, req: OriginBlobRequest, offset: number, options: OriginBlobRequestOptions = {}): Promise<UpstreamResponse> {
  const { end } = options
  return upstream.send({
    registry: req.registry,
    method: 'GET',
    path: `/v2/${req.repository}/blobs/${req.digest}`,
    repository: req.repository,
    range: offset > 0 || end != null ? `bytes=${offset}-${end ?? ''}` : undefined,
    authorization: req.authorization,
    avoidEndpoint: options.avoidEndpoint,
    patient: options.patient,
    signal: options.signal
  })
}

/**
 * The origin as a byte source: HTTP Range from the wanted offset. The response that opened the
 * download (and told its size) is used first when it starts at the right byte. When a body breaks
 * off, the rest is asked of the registry's next endpoint first: the bytes are content-addressed,
 * so any endpoint's are the same blob (and the whole is checked against the digest anyway).
 */
export function originSource (upstream: UpstreamClient, req: OriginBlobRequest, first: UpstreamResponse | undefined, limiter: OriginLimiter): ByteSource {
  let pending = first
  let broken: string | undefined
  return {
    open: async (offset, signal) => {
      let res = pending
      pending = undefined
      if (res == null || startOf(res) > offset) {
        await discardBody(res?.body)
        // The client has this blob's headers already: the rest waits out a congested path.
        res = await requestOriginBlob(upstream, req, offset, { signal, avoidEndpoint: broken, patient: true })
      }
      // open() comes again only after this body failed: then its endpoint is asked last.
      broken = res.endpoint
      return bodyFrom(res, req, offset, limiter, signal)
    },
    close: async () => {
      await pending?.body.dump()
      pending = undefined
    }
  }
}

/**
 * The body of a blob answer from byte `offset` on: refusals and failures become named errors, and
 * bytes before `offset` (a registry that ignores Range, or starts the range early) are skipped.
 */
async function bodyFrom (res: UpstreamResponse, req: OriginBlobRequest, offset: number, limiter: OriginLimiter, signal: AbortSignal): Promise<AsyncIterable<Uint8Array>> {
  if (res.status === 401 || res.status === 403) {
    await res.body.dump()
    throw new UpstreamUnauthorizedError(`${req.registry.host} refused ${req.repository}@${req.digest} (${res.status})`)
  }
  if (res.status !== 200 && res.status !== 206) {
    await res.body.dump()
    const Err = res.status >= 500 || res.status === 429 ? UpstreamUnavailableError : UpstreamProtocolError
    throw new Err(`${req.registry.host} answered ${res.status} for ${req.repository}@${req.digest}`)
  }
  const skip = offset - startOf(res)
  if (!Number.isSafeInteger(skip) || skip < 0) {
    await res.body.dump()
    throw new UpstreamProtocolError(`${req.registry.host} answered a range that does not start at byte ${offset}`)
  }
  const body = skip === 0 ? res.body : skipBytes(res.body, skip)
  return limiter == null ? body : throttle(body, limiter, { signal })
}

/** A registry that ignores Range sends the whole body: drop the bytes already held. */
async function * skipBytes (body: AsyncIterable<Uint8Array>, skip: number): AsyncIterable<Uint8Array> {
  let left = skip
  for await (const chunk of body) {
    if (left >= chunk.byteLength) {
      left -= chunk.byteLength
      continue
    }
    yield left > 0 ? chunk.subarray(left) : chunk
    left = 0
  }
}

export interface OriginRangeOptions {
  limiter?: OriginLimiter
  signal: AbortSignal
  /** The origin answered (status and headers). */
  onHeaders?: () => void
  /** Each chunk of the range as it arrives (not joined: see Piece), cut at the range's end. */
  onChunk: (chunk: Uint8Array) => void
}

/**
 * Bytes [offset, offset + length) of the blob from the origin (HTTP Range), handed on chunk by
 * chunk as they arrive: the pieces no peer could give. A registry that ignores Range is read up to
 * the wanted bytes. Resolves once all of them came.
 */
export async function fetchOriginRange (upstream: UpstreamClient, req: OriginBlobRequest, span: { offset: number, length: number }, options: OriginRangeOptions): Promise<void> {
  const { offset, length } = span
  const { signal } = options
  // A piece, for a body already promised or for the swarm: nobody falls back on its failure.
  const res = await requestOriginBlob(upstream, req, offset, { signal, end: offset + length - 1, patient: true })
  options.onHeaders?.()
  const body = await bodyFrom(res, req, offset, options.limiter, signal)
  let filled = 0
  for await (const chunk of body) {
    const take = Math.min(chunk.byteLength, length - filled)
    filled += take
    options.onChunk(take < chunk.byteLength ? chunk.subarray(0, take) : chunk)
    if (filled === length) break
  }
  await discardBody(res.body)
  if (filled !== length) throw new UpstreamProtocolError(`${req.registry.host} sent ${filled} of ${length} bytes at ${offset} of ${req.digest}`)
}
