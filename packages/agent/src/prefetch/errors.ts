/**
 * Named errors of prefetch. Callers match on `err.name`; resolveImages and fetchLayers turn them
 * into a PrefetchFailure (a reason and a message) at their edge and never throw them per image.
 */
import { namedError } from '@shoal/proto'
import type { PrefetchFailureReason } from './types.ts'

/** An image reference that is not `[registry/]repository[:tag|@digest]` in the distribution grammar (proto's parser throws it). */
export { InvalidReferenceError } from '@shoal/proto'
/** A platform that is not `os/architecture[/variant]`. */
export class InvalidPlatformError extends namedError('InvalidPlatformError') {}
/** A tag filter with characters other than a tag's and `*` `?`. */
export class InvalidTagFilterError extends namedError('InvalidTagFilterError') {}
/** A manifest, index or tag list that does not parse as the spec says. */
export class InvalidManifestError extends namedError('InvalidManifestError') {}
/** The mirror URL given to resolveImages or fetchLayers is not an http(s) URL. */
export class InvalidMirrorError extends namedError('InvalidMirrorError') {}
/** An option of resolveImages or fetchLayers is out of range. */
export class InvalidPrefetchOptionError extends namedError('InvalidPrefetchOptionError') {}

/** The mirror answered, but not with what was asked for; `reason` says what the operator should look at. */
export class MirrorAnswerError extends namedError('MirrorAnswerError') {
  readonly reason: PrefetchFailureReason
  /** The HTTP status, when the mirror answered one. */
  readonly status: number | undefined

  constructor (reason: PrefetchFailureReason, message: string, options?: ErrorOptions & { status?: number }) {
    super(message, options)
    this.reason = reason
    this.status = options?.status
  }
}
