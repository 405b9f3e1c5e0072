import type { IncomingMessage, ServerResponse } from 'node:http'
import { digestAlgorithm, digestOf } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import type { UpstreamConfig } from '../config/index.ts'
import { MAX_MANIFEST_BYTES } from '../constants.ts'
import { DigestMismatchError, UnacceptableCachedManifestError, UpstreamProtocolError, UpstreamUnavailableError } from '../errors.ts'
import type { CachedManifest, ManifestCache, StaleAnswer } from '../manifest-cache/index.ts'
import type { AgentMetrics } from '../metrics.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { refuseUnconfirmed, refuseWhileUnreachable } from './access-check.ts'
import type { AccessCheck } from './access-check.ts'
import type { PullNote } from './pull-note.ts'
import { readCapped } from './read-capped.ts'
import { sendUpstreamAnswer } from './respond.ts'

export interface ManifestRouteComponents {
  manifests: ManifestCache
  upstream: UpstreamClient
  metrics: AgentMetrics
  access: AccessCheck
  /** Told of each manifest body sent (GET), with the request it answered. */
  onManifestSent?: (manifest: CachedManifest, m: ManifestRequest, authorization: string | undefined) => void
}

export interface ManifestRequest {
  registry: UpstreamConfig
  name: string
  reference: { tag: string } | { digest: Digest }
}

function sendManifest (res: ServerResponse, manifest: CachedManifest, cache: 'hit' | 'miss' | 'stale', note: PullNote): void {
  note.source = cache === 'miss' ? 'origin' : 'local'
  note.digest = manifest.digest
  note.bytes = res.req.method === 'HEAD' ? 0 : manifest.body.byteLength
  res.writeHead(200, {
    'content-type': manifest.mediaType,
    'content-length': manifest.body.byteLength,
    'docker-content-digest': manifest.digest,
    etag: `"${manifest.digest}"`,
    'docker-distribution-api-version': 'registry/2.0',
    'x-shoal-cache': cache
  })
  res.end(res.req.method === 'HEAD' ? undefined : manifest.body)
}

/**
 * HEAD and GET of a manifest. By digest: from the cache always (immutable), else fetched, checked
 * against the digest, cached. By tag: a fresh cached answer to the same Accept, else the upstream
 * (with the client's Accept, so the registry picks the same media type it would for the client),
 * else, when the upstream is unreachable, the latest cached answer whose media type the client's
 * Accept admits, whichever client it was fetched for (stale-on-error).
 */
export async function handleManifest (components: ManifestRouteComponents, req: IncomingMessage, res: ServerResponse, m: ManifestRequest, note: PullNote = {}): Promise<void> {
  const { manifests, upstream, metrics } = components
  const send = (manifest: CachedManifest, cache: 'hit' | 'miss' | 'stale'): void => {
    sendManifest(res, manifest, cache, note)
    if (req.method === 'GET') components.onManifestSent?.(manifest, m, req.headers.authorization)
  }
  const accept = req.headers.accept
  const tag = 'tag' in m.reference ? { registry: m.registry.host, name: m.name, tag: m.reference.tag } : undefined
  const reference = 'tag' in m.reference ? m.reference.tag : m.reference.digest
  // A cached manifest goes only to a client the origin would give it to.
  const check = { registry: m.registry, repository: m.name, path: `/v2/${m.name}/manifests/${reference}`, accept, authorization: req.headers.authorization }
  if ('digest' in m.reference) {
    const hit = await manifests.get(m.reference.digest)
    if (hit != null) {
      if (await refuseUnconfirmed(components.access, res, check)) return
      metrics.manifestCache.inc({ result: 'hit' })
      send(hit, 'hit')
      return
    }
  } else if (tag != null) {
    const cached = await manifests.getTag(tag, accept)
    if (cached?.fresh === true) {
      if (await refuseUnconfirmed(components.access, res, check)) return
      metrics.manifestCache.inc({ result: 'hit' })
      send(cached.manifest, 'hit')
      return
    }
  }

  /** Serves the cached answer while the origin is unreachable (or refuses the client, or says why not). */
  const serveStale = (stale: StaleAnswer, unreachable: Error): void => {
    if (stale.kind === 'not-acceptable') {
      throw new UnacceptableCachedManifestError(`${m.registry.host} is unreachable (${unreachable.message.slice(0, 200)}), and the cached manifest of ${m.name}:${reference} is ${stale.mediaTypes.join(', ')}, which this request's Accept (${(accept ?? '').slice(0, 300)}) does not admit: accept one of those types, or retry when the registry is back`, { cause: unreachable })
    }
    if (refuseWhileUnreachable(components.access, res, check)) return
    metrics.manifestCache.inc({ result: 'stale' })
    send(stale.manifest, 'stale')
  }

  let answer
  try {
    answer = await upstream.send({ registry: m.registry, method: 'GET', path: `/v2/${m.name}/manifests/${reference}`, repository: m.name, accept, authorization: req.headers.authorization })
  } catch (err) {
    const stale = (err as Error).name === 'UpstreamUnavailableError' && tag != null ? await manifests.getStale(tag, accept) : undefined
    if (stale == null) throw err
    serveStale(stale, err as Error)
    return
  }
  if (answer.status >= 500 && tag != null) {
    const stale = await manifests.getStale(tag, accept)
    if (stale != null) {
      await answer.body.dump()
      serveStale(stale, new UpstreamUnavailableError(`${m.registry.host} answered ${answer.status}`))
      return
    }
  }
  const body = await readCapped(answer.body, MAX_MANIFEST_BYTES, 'manifest')
  if (answer.status !== 200) {
    note.source = 'origin'
    sendUpstreamAnswer(res, { status: answer.status, headers: answer.headers, body, endpoint: answer.endpoint })
    return
  }
  metrics.manifestCache.inc({ result: 'miss' })
  const mediaType = answer.headers['content-type']?.split(';')[0]?.trim()
  if (mediaType == null || mediaType === '') throw new UpstreamProtocolError(`${m.registry.host} sent manifest ${m.name}:${reference} without a Content-Type`)
  const expected = 'digest' in m.reference ? m.reference.digest : upstreamDigest(answer.headers['docker-content-digest'])
  const digest = digestOf(body, expected != null ? digestAlgorithm(expected) : 'sha256')
  if (expected != null && digest !== expected) {
    metrics.digestMismatches.inc({ kind: 'manifest' })
    throw new DigestMismatchError(`${m.registry.host} sent manifest ${m.name}:${reference} whose bytes hash to ${digest}, not ${expected}; nothing was cached`)
  }
  const manifest = { digest, mediaType, body }
  await manifests.put(manifest, tag == null ? undefined : { ...tag, accept })
  components.access.granted(check)
  send(manifest, 'miss')
}

function upstreamDigest (header: string | undefined): Digest | undefined {
  if (header == null || !/^sha(256|512):[a-f0-9]+$/.test(header)) return undefined
  return header as Digest
}

