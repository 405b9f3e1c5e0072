import type { Digest } from '@shoal/proto'
import { MAX_INDEX_DEPTH, RESOLVE_CONCURRENCY, RESOLVE_TIMEOUT_MS } from './constants.ts'
import { InvalidManifestError, MirrorAnswerError } from './errors.ts'
import { failureOf } from './failure.ts'
import { mapLimit } from './limit.ts'
import type { Descriptor, ParsedManifest } from './manifest.ts'
import { fetchManifest } from './manifest-fetch.ts'
import { MirrorClient } from './mirror-client.ts'
import type { MirrorTarget } from './mirror-client.ts'
import { formatPlatform, hostPlatform, platformMatches } from './platform.ts'
import { formatImageReference, formatRepository, parseImageReference } from './reference.ts'
import type { ImageReference } from './reference.ts'
import { parseTagFilter } from './tag-filter.ts'
import { listTags } from './tags.ts'
import type { ImageRequest, Platform, PrefetchLayer, ResolvedImage } from './types.ts'

export interface ResolveImagesOptions {
  /** Platforms to pick from indexes; none: the host's own. */
  platforms: Platform[]
  /** Bounds the whole call; RESOLVE_TIMEOUT_MS when not given. */
  signal?: AbortSignal
}

interface Context {
  client: MirrorClient
  platforms: Platform[]
  signal: AbortSignal
}

/**
 * Resolves what an operator named to the blobs of each concrete image, through the mirror's pull
 * API (so the agent's credentials, cache and verification apply): one entry per image, a tag filter
 * expanded to one per matching tag (sorted). A request that cannot be resolved is an entry with an
 * `error`, never a throw.
 */
export async function resolveImages (mirror: MirrorTarget, requests: ImageRequest[], opts: ResolveImagesOptions): Promise<ResolvedImage[]> {
  const signal = opts.signal ?? AbortSignal.timeout(RESOLVE_TIMEOUT_MS)
  const platforms = opts.platforms.length > 0 ? opts.platforms : [hostPlatform()]
  const client = new MirrorClient(mirror, { connections: RESOLVE_CONCURRENCY })
  try {
    const ctx = { client, platforms, signal }
    const perRequest = await mapLimit(requests, RESOLVE_CONCURRENCY, async request => resolveRequest(ctx, request))
    return perRequest.flat()
  } finally {
    await client.close()
  }
}

async function resolveRequest (ctx: Context, request: ImageRequest): Promise<ResolvedImage[]> {
  let ref: ImageReference
  try {
    ref = parseImageReference(request.reference)
  } catch (err) {
    return [failed(request.reference, err, ctx.signal)]
  }
  if (request.tags == null) return [await resolveImage(ctx, ref.tag == null && ref.digest == null ? { ...ref, tag: 'latest' } : ref)]

  const repository = { registry: ref.registry, repository: ref.repository }
  const label = formatImageReference(repository)
  if (ref.tag != null || ref.digest != null) {
    return [{ reference: request.reference, layers: [], error: { reason: 'invalid', message: `"${request.reference.slice(0, 100)}" names a tag or digest and also a tag filter "${request.tags.slice(0, 100)}"; name the repository alone with a filter` } }]
  }
  let matching: string[]
  try {
    const filter = parseTagFilter(request.tags)
    const tags = await listTags(ctx.client, { ...repository, signal: ctx.signal })
    matching = [...new Set(tags.filter(filter.matches))].sort()
    if (matching.length === 0) {
      throw new MirrorAnswerError('not-found', `no tag of ${formatRepository(repository)} matches "${filter.glob}" (${tags.length} tag${tags.length === 1 ? '' : 's'} exist${tags.length === 1 ? 's' : ''})`)
    }
  } catch (err) {
    return [failed(label, err, ctx.signal)]
  }
  return mapLimit(matching, RESOLVE_CONCURRENCY, async tag => {
    let tagged: ImageReference
    try {
      // A tag from the registry is checked like one from the operator before it goes into a path.
      tagged = parseImageReference(formatImageReference({ ...repository, tag }))
    } catch (err) {
      return failed(`${label}:${tag.slice(0, 130)}`, err, ctx.signal)
    }
    return resolveImage(ctx, tagged)
  })
}

async function resolveImage (ctx: Context, ref: ImageReference): Promise<ResolvedImage> {
  const reference = formatImageReference(ref)
  let manifestDigest: Digest | undefined
  try {
    const top = await fetchManifest(ctx.client, {
      registry: ref.registry, repository: ref.repository, reference: ref.digest != null ? { digest: ref.digest } : { tag: ref.tag ?? 'latest' }, signal: ctx.signal
    })
    manifestDigest = top.digest
    const layers = new Map<Digest, PrefetchLayer>()
    await collect(ctx, ref, top.manifest, 0, layers)
    return { reference, manifestDigest, layers: [...layers.values()] }
  } catch (err) {
    const image = failed(reference, err, ctx.signal)
    if (manifestDigest != null) image.manifestDigest = manifestDigest
    return image
  }
}

/** Adds the blobs of an image, or of the index's entries for the wanted platforms, each digest once. */
async function collect (ctx: Context, ref: ImageReference, manifest: ParsedManifest, depth: number, into: Map<Digest, PrefetchLayer>): Promise<void> {
  if (manifest.kind === 'image') {
    for (const blob of [manifest.config, ...manifest.layers]) {
      // Foreign layers live outside the registry; a runtime fetches them from their urls itself.
      if (blob.urls != null && blob.urls.length > 0) continue
      if (!into.has(blob.digest)) into.set(blob.digest, layerOf(ref, blob))
    }
    return
  }
  if (depth >= MAX_INDEX_DEPTH) throw new InvalidManifestError(`indexes nest deeper than ${MAX_INDEX_DEPTH} levels`)
  const chosen: Digest[] = []
  for (const wanted of ctx.platforms) {
    const entry = manifest.manifests.find(e => e.platform != null && platformMatches(wanted, e.platform))
    if (entry != null && !chosen.includes(entry.digest)) chosen.push(entry.digest)
  }
  if (chosen.length === 0) {
    const available = [...new Set(manifest.manifests.flatMap(e => e.platform != null ? [formatPlatform(e.platform)] : []))]
    throw new MirrorAnswerError('not-found', `no manifest for ${ctx.platforms.map(formatPlatform).join(', ')} in ${formatImageReference(ref)}; ` +
      `it has ${available.length > 0 ? available.join(', ') : 'no platforms'}`)
  }
  for (const digest of chosen) {
    const child = await fetchManifest(ctx.client, { registry: ref.registry, repository: ref.repository, reference: { digest }, signal: ctx.signal })
    await collect(ctx, ref, child.manifest, depth + 1, into)
  }
}

function layerOf (ref: ImageReference, blob: Descriptor): PrefetchLayer {
  const layer: PrefetchLayer = { registry: ref.registry, repository: ref.repository, digest: blob.digest, size: blob.size }
  if (blob.mediaType != null) layer.mediaType = blob.mediaType
  return layer
}

function failed (reference: string, err: unknown, signal: AbortSignal): ResolvedImage {
  return { reference, layers: [], error: failureOf(err, signal, reference) }
}
