import { PREFETCH_FAILURE_REASONS as WIRE_REASONS } from '@shoal/proto'
import type { Digest, PrefetchFailureReason } from '@shoal/proto'

/**
 * Prefetch: images named by an operator are resolved to their blobs (manifests, through a mirror)
 * and the blobs fetched in advance, so that a rollout later finds them in the cluster. The same
 * code runs in an agent (orders from the scheduler, against its own mirror) and in `shoal prefetch
 * --agent URL` (against that agent's mirror): both speak only the OCI pull API of a mirror, so the
 * agent's credentials, cache, verification and peers are used as for any pull.
 */

/** Why an image or a layer could not be prefetched (the wire's reasons, as the operator reads them). */
export type { PrefetchFailureReason } from '@shoal/proto'

export const PREFETCH_FAILURE_REASONS = Object.keys(WIRE_REASONS) as readonly PrefetchFailureReason[]

export interface PrefetchFailure {
  reason: PrefetchFailureReason
  message: string
}

/** An OCI platform, as in an image index (`linux/amd64`, `linux/arm64/v8`). */
export interface Platform {
  os: string
  architecture: string
  variant?: string
}

/** What the operator named: `[registry/]repository(:tag|@sha256:...)`, or a repository and a tag glob. */
export interface ImageRequest {
  reference: string
  /** a glob over the repository's tags (`v1.*`, `*-latest`); then `reference` names no tag or digest */
  tags?: string
}

/** One blob to fetch: a layer or an image config, under the repository it was found in. */
export interface PrefetchLayer {
  /** the registry host[:port] as the mirror routes it (`?ns=`); '' for the mirror's default upstream */
  registry: string
  repository: string
  digest: Digest
  size: number
  mediaType?: string
}

/** One concrete image (a tag filter expands to one per matching tag), or why it could not be read. */
export interface ResolvedImage {
  /** `registry/repository:tag` or `registry/repository@digest` */
  reference: string
  manifestDigest?: Digest
  /** layers and config blobs of the chosen platforms, each digest once */
  layers: PrefetchLayer[]
  error?: PrefetchFailure
}

/** The end of one layer's fetch. */
export interface LayerOutcome {
  digest: Digest
  bytes: number
  error?: PrefetchFailure
}
