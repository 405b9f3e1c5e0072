import { isDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { CONFIG_WARMUP_MAX_BYTES } from '../constants.ts'
import type { Logger } from '../logger.ts'
import type { BlobRouteComponents, BlobRequest } from './blobs.ts'
import { blobFetchRequest } from './blobs.ts'

/** Image manifests, which name one config blob (an index names manifests, not blobs). */
const IMAGE_MANIFEST_TYPES = new Set([
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json'
])

/** The config blob an image manifest names, with its size; undefined for anything else or a body that does not parse. */
export function configOf (manifest: { mediaType: string, body: Uint8Array }): { digest: Digest, size: number } | undefined {
  if (!IMAGE_MANIFEST_TYPES.has(manifest.mediaType)) return undefined
  let parsed: unknown
  try {
    parsed = JSON.parse(Buffer.from(manifest.body).toString('utf8'))
  } catch {
    return undefined
  }
  const config = (parsed as { config?: { digest?: unknown, size?: unknown } } | null)?.config
  const digest = config?.digest
  const size = config?.size
  if (typeof digest !== 'string' || !isDigest(digest) || typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) return undefined
  return { digest, size }
}

/**
 * Starts fetching the config blob of an image manifest just sent to a client, unless it is held or
 * on its way: containerd asks for it next, and containers/image (skopeo, podman, CRI-O) only after
 * every layer, when a fetch of its own (an origin HEAD, a scheduler's answer, a peer) added half a
 * second to every pull of the swarm bench. Only a small one (CONFIG_WARMUP_MAX_BYTES), from the
 * repository the client just read the manifest of, with its credentials; nothing is sent to
 * anyone, and the client's own request for it is checked as any other.
 */
export function warmConfig (components: Pick<BlobRouteComponents, 'store' | 'fetcher' | 'access'> & { logger: Logger }, manifest: { mediaType: string, body: Uint8Array }, from: Omit<BlobRequest, 'digest'> & { authorization?: string }): void {
  const config = configOf(manifest)
  if (config == null || config.size > CONFIG_WARMUP_MAX_BYTES) return
  const { store, fetcher } = components
  if (store.get(config.digest)?.state === 'complete' || fetcher.fetching(config.digest)) return
  const blob = { registry: from.registry, name: from.name, digest: config.digest }
  // A download runs on by itself; a refusal (an upstream answer) is the client's to get when it asks.
  fetcher.open(blobFetchRequest(components, blob, from.authorization)).catch((err: Error) => {
    components.logger.debug('config blob not fetched ahead', { digest: config.digest, error: `${err.name}: ${err.message}` })
  })
}
