import { parseDigest } from './digest.ts'
import type { Digest } from './digest.ts'
import { InvalidMessageError } from './errors.ts'
import { PrefetchBlobState, PrefetchFailureReason as WireReason } from './gen/scheduler.js'
import type { PrefetchBlob, PrefetchFailure, PrefetchOrder, PrefetchProgress, PrefetchResolved } from './gen/scheduler.js'
import { wireDigest } from './messages.ts'
import { MAX_BLOB_SIZE, MAX_PIECE_COUNT } from './pieces.ts'
import type { PieceStripe } from './pieces.ts'

/** A prefetch job's id: what the scheduler's admin API and the agents name it by. */
export type JobId = string & { readonly __brand: 'JobId' }

const JOB_ID = /^[a-z0-9][a-z0-9-]{0,63}$/

export function parseJobId (value: string): JobId {
  if (!JOB_ID.test(value)) throw new InvalidMessageError(`"${value.slice(0, 70)}" is not a job id (lower-case letters, digits and -, at most 64)`)
  return value as JobId
}

/** Why an image or a blob could not be prefetched: what the operator should look at. */
export type PrefetchFailureReason = 'unauthorized' | 'not-found' | 'timeout' | 'unavailable' | 'invalid' | 'cancelled' | 'failed'

export const PREFETCH_FAILURE_REASONS: Readonly<Record<PrefetchFailureReason, WireReason>> = {
  unauthorized: WireReason.PREFETCH_UNAUTHORIZED,
  'not-found': WireReason.PREFETCH_NOT_FOUND,
  timeout: WireReason.PREFETCH_TIMEOUT,
  unavailable: WireReason.PREFETCH_UNAVAILABLE,
  invalid: WireReason.PREFETCH_INVALID,
  cancelled: WireReason.PREFETCH_CANCELLED,
  failed: WireReason.PREFETCH_FAILED
}

export interface ParsedPrefetchFailure { reason: PrefetchFailureReason, message: string }
export interface ParsedPrefetchBlob {
  registry: string
  repository: string
  digest: Digest
  size: number
  mediaType?: string
  /** Placement by pieces: only this stripe of the blob's pieces is to be held; none: the whole blob. */
  stripe?: PieceStripe
}
export type PrefetchBlobStateName = 'fetching' | 'done' | 'failed'

/** Limits of one order or answer: a job of many images is sent as several. */
export const MAX_PREFETCH_IMAGES = 256
export const MAX_PREFETCH_BLOBS = 4096
export const MAX_PREFETCH_PLATFORMS = 16
/** An image reference and a tag filter, as long as the wire carries them. */
export const MAX_PREFETCH_REFERENCE_LENGTH = 512
export const MAX_PREFETCH_TAG_FILTER_LENGTH = 128
const MAX_TEXT_LENGTH = 1024
const REGISTRY = /^$|^[A-Za-z0-9.-]+(:\d{1,5})?$/
const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/
const PLATFORM = /^[a-z0-9]+\/[a-z0-9_]+(\/[a-z0-9]+)?$/
const LABEL = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/

/** `os/arch[/variant]` as a prefetch order names a platform (`linux/arm64/v8`). */
export function isPlatformText (value: string): boolean {
  return PLATFORM.test(value)
}

/** A site or zone name as agents register it: letters, digits, `.`, `_`, `-`, at most 63. */
export function isPlacementLabel (value: string): boolean {
  return LABEL.test(value)
}

export interface ParsedPrefetchOrder {
  kind: 'prefetch'
  job: JobId
  images: Array<{ reference: string, tags?: string }>
  platforms: string[]
  blobs: ParsedPrefetchBlob[]
  concurrency: number
  timeoutMs?: number
  /** the job's own Authorization for the origin (never logged or stored); none: the agent's credentials */
  authorization?: string
}

/** Longest Authorization a job may carry (a registry JWT is about 1 KiB). */
export const MAX_JOB_AUTHORIZATION_LENGTH = 8192
/** `Scheme credentials` in visible ASCII: nothing that could end a header line. */
const AUTHORIZATION = /^[A-Za-z][A-Za-z0-9!#$%&'*+.^_`|~-]* [\x21-\x7e][\x20-\x7e]*$/

/** Whether a value may be sent as a job's Authorization header. */
export function isJobAuthorization (value: string): boolean {
  return value.length <= MAX_JOB_AUTHORIZATION_LENGTH && AUTHORIZATION.test(value)
}

export function parsePrefetchOrder (order: PrefetchOrder): ParsedPrefetchOrder {
  const job = parseJobId(order.job)
  if (order.images.length > 0 && order.blobs.length > 0) throw new InvalidMessageError('a prefetch order both resolves images and fetches blobs')
  const images = order.images.map(image => ({ reference: text('reference', image.reference, MAX_PREFETCH_REFERENCE_LENGTH), tags: image.tags === '' ? undefined : text('tag filter', image.tags, MAX_PREFETCH_TAG_FILTER_LENGTH) }))
  for (const platform of order.platforms) if (!isPlatformText(platform)) throw new InvalidMessageError(`"${platform.slice(0, 70)}" is not a platform (os/arch[/variant])`)
  if (order.concurrency < 1 || order.concurrency > 64) throw new InvalidMessageError(`prefetch concurrency ${order.concurrency} is not in [1, 64]`)
  // The message names no part of the value: it is a credential.
  if (order.authorization !== '' && !isJobAuthorization(order.authorization)) throw new InvalidMessageError(`a prefetch order's authorization is not "Scheme credentials" of visible ASCII, at most ${MAX_JOB_AUTHORIZATION_LENGTH} characters`)
  const authorization = order.authorization === '' ? undefined : order.authorization
  return { kind: 'prefetch', job, images, platforms: order.platforms, blobs: order.blobs.map(parsePrefetchBlob), concurrency: order.concurrency, timeoutMs: order.timeoutMs === 0 ? undefined : order.timeoutMs, authorization }
}

export type ParsedPrefetchResolved = {
  kind: 'prefetchResolved'
  job: JobId
  images: Array<{ reference: string, manifestDigest?: Digest, blobs: ParsedPrefetchBlob[], failure?: ParsedPrefetchFailure }>
}

export function parsePrefetchResolved (message: PrefetchResolved): ParsedPrefetchResolved {
  return {
    kind: 'prefetchResolved',
    job: parseJobId(message.job),
    images: message.images.map(image => ({
      reference: text('reference', image.reference, MAX_PREFETCH_REFERENCE_LENGTH),
      manifestDigest: image.manifestDigest === '' ? undefined : wireDigest(image.manifestDigest),
      blobs: image.blobs.map(parsePrefetchBlob),
      failure: failureOf(image.failure)
    }))
  }
}

export type ParsedPrefetchProgress = {
  kind: 'prefetchProgress'
  job: JobId
  blobs: Array<{ digest: Digest, state: PrefetchBlobStateName, bytes: number, failure?: ParsedPrefetchFailure, stripe?: PieceStripe }>
}

const STATES: Partial<Record<PrefetchBlobState, PrefetchBlobStateName>> = {
  [PrefetchBlobState.PREFETCH_BLOB_FETCHING]: 'fetching',
  [PrefetchBlobState.PREFETCH_BLOB_DONE]: 'done',
  [PrefetchBlobState.PREFETCH_BLOB_FAILED]: 'failed'
}

export const PREFETCH_BLOB_STATES: Readonly<Record<PrefetchBlobStateName, PrefetchBlobState>> = {
  fetching: PrefetchBlobState.PREFETCH_BLOB_FETCHING,
  done: PrefetchBlobState.PREFETCH_BLOB_DONE,
  failed: PrefetchBlobState.PREFETCH_BLOB_FAILED
}

export function parsePrefetchProgress (message: PrefetchProgress): ParsedPrefetchProgress {
  return {
    kind: 'prefetchProgress',
    job: parseJobId(message.job),
    blobs: message.blobs.map(blob => {
      const state = STATES[blob.state]
      if (state == null) throw new InvalidMessageError('prefetch progress without a state')
      const failure = failureOf(blob.failure)
      if ((state === 'failed') !== (failure != null)) throw new InvalidMessageError('prefetch progress names a failure exactly when the blob failed')
      const stripe = parseStripe(blob.stripe, blob.stripes)
      return { digest: wireDigest(blob.digest), state, bytes: size('bytes', blob.bytes), failure, ...(stripe == null ? {} : { stripe }) }
    })
  }
}

/** The wire form of a failure. */
export function prefetchFailure (failure: ParsedPrefetchFailure): PrefetchFailure {
  return { reason: PREFETCH_FAILURE_REASONS[failure.reason], message: failure.message.slice(0, MAX_TEXT_LENGTH) }
}

/** The wire form of a blob. */
export function prefetchBlob (blob: ParsedPrefetchBlob): PrefetchBlob {
  return { registry: blob.registry, repository: blob.repository, digest: blob.digest, size: BigInt(blob.size), mediaType: blob.mediaType ?? '', ...stripeFields(blob.stripe) }
}

function parsePrefetchBlob (blob: PrefetchBlob): ParsedPrefetchBlob {
  if (!REGISTRY.test(blob.registry) || blob.registry.length > 255) throw new InvalidMessageError(`"${blob.registry.slice(0, 70)}" is not a registry host[:port]`)
  if (blob.repository.length > 255 || !REPOSITORY.test(blob.repository)) throw new InvalidMessageError(`"${blob.repository.slice(0, 70)}" is not a repository name`)
  let digest: Digest
  try {
    digest = parseDigest(blob.digest)
  } catch (err) {
    throw new InvalidMessageError(`a prefetch blob's digest: ${(err as Error).message}`, { cause: err })
  }
  const parsed: ParsedPrefetchBlob = { registry: blob.registry, repository: blob.repository, digest, size: size('size', blob.size), mediaType: blob.mediaType === '' ? undefined : text('media type', blob.mediaType, 255) }
  const stripe = parseStripe(blob.stripe, blob.stripes)
  return stripe == null ? parsed : { ...parsed, stripe }
}

/** A stripe from its wire fields (both 0: none, the whole blob). */
function parseStripe (index: number, count: number): PieceStripe | undefined {
  if (count === 0 && index === 0) return undefined
  if (count < 1 || count > MAX_PIECE_COUNT || index >= count) {
    throw new InvalidMessageError(`stripe ${index} of ${count} is not a stripe of a blob's pieces (0 <= stripe < stripes <= ${MAX_PIECE_COUNT})`)
  }
  return { index, count }
}

/**
 * What a share of a blob in a prefetch job is known by: its digest, and its stripe when placed by
 * pieces (an agent may hold two stripes of one blob when a site's agent left and its stripe moved).
 */
export function prefetchShareKey (digest: string, stripe: PieceStripe | undefined): string {
  return stripe == null ? digest : `${digest}#${stripe.index}/${stripe.count}`
}

/** The wire fields of a stripe (none: both 0). */
export function stripeFields (stripe: PieceStripe | undefined): { stripe: number, stripes: number } {
  return { stripe: stripe?.index ?? 0, stripes: stripe?.count ?? 0 }
}

function failureOf (failure: PrefetchFailure | undefined): ParsedPrefetchFailure | undefined {
  if (failure == null) return undefined
  const reason = (Object.keys(PREFETCH_FAILURE_REASONS) as PrefetchFailureReason[]).find(r => PREFETCH_FAILURE_REASONS[r] === failure.reason)
  if (reason == null) throw new InvalidMessageError('a prefetch failure without a reason')
  return { reason, message: text('failure message', failure.message, MAX_TEXT_LENGTH) }
}

function text (what: string, value: string, max: number): string {
  if (value.length === 0 || value.length > max) throw new InvalidMessageError(`a ${what} of ${value.length} characters (1 to ${max})`)
  return value
}

function size (what: string, value: bigint): number {
  if (value > BigInt(MAX_BLOB_SIZE)) throw new InvalidMessageError(`${what} ${value} is larger than a blob may be`)
  return Number(value)
}
