import { MAX_BLOB_SIZE, parseDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { InvalidManifestError } from './errors.ts'
import type { Platform } from './types.ts'

export const MANIFEST_MEDIA_TYPES = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json'
} as const

/** What prefetch asks the mirror for: indexes first, so that it picks the platforms itself. */
export const MANIFEST_ACCEPT = [
  MANIFEST_MEDIA_TYPES.ociIndex, MANIFEST_MEDIA_TYPES.ociManifest, MANIFEST_MEDIA_TYPES.dockerList, MANIFEST_MEDIA_TYPES.dockerManifest
].join(', ')

const INDEX_TYPES = new Set<string>([MANIFEST_MEDIA_TYPES.ociIndex, MANIFEST_MEDIA_TYPES.dockerList])
const IMAGE_TYPES = new Set<string>([MANIFEST_MEDIA_TYPES.ociManifest, MANIFEST_MEDIA_TYPES.dockerManifest])

export interface Descriptor {
  digest: Digest
  size: number
  mediaType?: string
  /** Where a foreign layer lives instead of the registry. */
  urls?: string[]
}

export interface IndexEntry extends Descriptor {
  platform?: Platform
}

export type ParsedManifest =
  | { kind: 'index', manifests: IndexEntry[] }
  | { kind: 'image', config: Descriptor, layers: Descriptor[] }

/**
 * Parses an image manifest or an index (OCI or Docker schema 2); the media type comes from the body,
 * else the Content-Type. Every descriptor's digest and size are checked.
 */
export function parseManifest (body: Uint8Array, contentType: string | undefined): ParsedManifest {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(body).toString('utf8'))
  } catch (err) {
    throw new InvalidManifestError('the manifest is not JSON', { cause: err })
  }
  if (!isObject(json)) throw new InvalidManifestError('the manifest is not a JSON object')
  if (json.schemaVersion !== 2) throw new InvalidManifestError(`manifest schemaVersion ${JSON.stringify(json.schemaVersion)} is not supported (only 2)`)
  const mediaType = typeof json.mediaType === 'string' ? json.mediaType : contentType?.split(';')[0]?.trim()
  const isIndex = mediaType != null && mediaType !== '' ? INDEX_TYPES.has(mediaType) : Array.isArray(json.manifests)
  const isImage = mediaType != null && mediaType !== '' ? IMAGE_TYPES.has(mediaType) : json.config != null
  if (isIndex) {
    if (!Array.isArray(json.manifests)) throw new InvalidManifestError('an index without a manifests list')
    return { kind: 'index', manifests: json.manifests.map((entry, i) => indexEntry(entry, `manifests[${i}]`)) }
  }
  if (isImage) {
    if (!Array.isArray(json.layers)) throw new InvalidManifestError('an image manifest without a layers list')
    return { kind: 'image', config: descriptor(json.config, 'config'), layers: json.layers.map((layer, i) => descriptor(layer, `layers[${i}]`)) }
  }
  throw new InvalidManifestError(`manifest media type ${JSON.stringify(mediaType ?? null)} is neither an image manifest nor an index prefetch reads`)
}

function descriptor (value: unknown, field: string): Descriptor {
  if (!isObject(value)) throw new InvalidManifestError(`${field} is not a descriptor`)
  let digest: Digest
  try {
    digest = parseDigest(String(value.digest))
  } catch (err) {
    throw new InvalidManifestError(`${field}.digest: ${(err as Error).message}`, { cause: err })
  }
  const size = value.size
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0 || size > MAX_BLOB_SIZE) {
    throw new InvalidManifestError(`${field}.size ${JSON.stringify(size)} is not a blob size`)
  }
  const out: Descriptor = { digest, size }
  if (typeof value.mediaType === 'string' && value.mediaType !== '') out.mediaType = value.mediaType.slice(0, 255)
  if (Array.isArray(value.urls) && value.urls.length > 0) out.urls = value.urls.filter((url): url is string => typeof url === 'string')
  return out
}

function indexEntry (value: unknown, field: string): IndexEntry {
  const entry: IndexEntry = descriptor(value, field)
  const platform = (value as Record<string, unknown>).platform
  if (isObject(platform) && typeof platform.os === 'string' && typeof platform.architecture === 'string') {
    entry.platform = { os: platform.os, architecture: platform.architecture }
    if (typeof platform.variant === 'string' && platform.variant !== '') entry.platform.variant = platform.variant
  }
  return entry
}

function isObject (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value != null && !Array.isArray(value)
}
