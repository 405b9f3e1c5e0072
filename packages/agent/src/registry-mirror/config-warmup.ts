import type { Digest } from '@shoal/proto'
import { CONFIG_WARMUP_MAX_BYTES } from '../constants.ts'
import type { Logger } from '../logger.ts'
import { parseManifest } from '../prefetch/manifest.ts'
import type { BlobRouteComponents, BlobRequest } from './blobs.ts'
import { blobFetchRequest } from './blobs.ts'

/** The config blob an image manifest names, with its size (prefetch's parser); undefined for an index or a body that does not parse. */
export function configOf (manifest: { mediaType: string, body: Uint8Array }): { digest: Digest, size: number } | undefined {
  try {
    const parsed = parseManifest(manifest.body, manifest.mediaType)
    return parsed.kind === 'image' ? { digest: parsed.config.digest, size: parsed.config.size } : undefined
  } catch {
    return undefined
  }
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
