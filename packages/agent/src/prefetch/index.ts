/**
 * Prefetch: images an operator names are resolved to their blobs through an agent's mirror, and the
 * blobs fetched through it in advance, so that a rollout finds them in the cluster. Only the OCI pull
 * API of the mirror is used (manifests, tag lists, blobs), so the agent's credentials, cache,
 * verification and peers apply as for any pull. The agent runs it on the scheduler's orders against
 * its own mirror; `shoal prefetch --agent URL` runs it against that agent's.
 */
export { resolveImages } from './resolve.ts'
export type { ResolveImagesOptions } from './resolve.ts'
export { fetchLayers } from './fetch-layers.ts'
export type { FetchLayersOptions } from './fetch-layers.ts'
export type { MirrorTarget } from './mirror-client.ts'
export { parsePlatform, hostPlatform, formatPlatform, platformMatches } from './platform.ts'
export { parseImageReference, formatImageReference } from './reference.ts'
export type { ImageReference } from './reference.ts'
export { parseTagFilter } from './tag-filter.ts'
export type { TagFilter } from './tag-filter.ts'
export {
  InvalidReferenceError, InvalidPlatformError, InvalidTagFilterError, InvalidManifestError, InvalidMirrorError,
  InvalidPrefetchOptionError, MirrorAnswerError
} from './errors.ts'
export { PREFETCH_FAILURE_REASONS } from './types.ts'
export type { PrefetchFailureReason, PrefetchFailure, Platform, ImageRequest, PrefetchLayer, ResolvedImage, LayerOutcome } from './types.ts'
