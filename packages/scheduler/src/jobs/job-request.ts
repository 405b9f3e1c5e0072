import { isPlacementLabel, isPlatformText, isTagGlob, MAX_PREFETCH_IMAGES, MAX_PREFETCH_PLATFORMS, MAX_PREFETCH_REFERENCE_LENGTH, MAX_PREFETCH_TAG_FILTER_LENGTH, parseImageReference } from '@shoal/proto'
import { JobRequestError } from '../errors.ts'
import { parsePeerKey } from '../types.ts'
import type { JobRequest, JobScope, JobSpread } from './types.ts'

/** A JobRequest checked field by field, with defaults filled in. */
export interface ParsedJobRequest {
  images: Array<{ reference: string, tags?: string }>
  platforms: string[]
  scope: JobScope
  replicas: number
  /** How a site scope places blobs (stored jobs from before the option: whole blobs). */
  spread?: JobSpread
  concurrency: number
  timeoutMs: number
}

export const JOB_DEFAULTS = { replicas: 1, spread: 'pieces', concurrency: 4, timeoutMs: 60 * 60 * 1000 } as const
export const MAX_REPLICAS = 16
const MAX_CONCURRENCY = 64
export const MAX_TIMEOUT_MS = 7 * 24 * 60 * 60 * 1000

/** The body of POST /jobs; JobRequestError names the field that is wrong. */
export function parseJobRequest (body: unknown): ParsedJobRequest {
  if (typeof body !== 'object' || body == null || Array.isArray(body)) throw new JobRequestError('the body must be a JSON object (a JobRequest)')
  const request = body as Partial<Record<keyof JobRequest, unknown>>
  const images = request.images
  if (!Array.isArray(images) || images.length === 0) throw new JobRequestError('images: name at least one image')
  if (images.length > MAX_PREFETCH_IMAGES) throw new JobRequestError(`images: at most ${MAX_PREFETCH_IMAGES} in one job`)
  const platforms = request.platforms ?? []
  if (!Array.isArray(platforms) || platforms.length > MAX_PREFETCH_PLATFORMS) throw new JobRequestError(`platforms: a list of at most ${MAX_PREFETCH_PLATFORMS}`)
  const scope = parseScope(request.scope)
  const spread = parseSpread(request.spread)
  return {
    images: images.map((image: unknown, i) => {
      const { reference, tags } = (typeof image === 'object' && image != null ? image : {}) as { reference?: unknown, tags?: unknown }
      if (typeof reference !== 'string' || reference.length === 0 || reference.length > MAX_PREFETCH_REFERENCE_LENGTH) throw new JobRequestError(`images[${i}].reference: a reference of 1 to ${MAX_PREFETCH_REFERENCE_LENGTH} characters`)
      // The agents check the reference again; checking it here refuses a job that could only fail (or a
      // path such as ../../etc) before any agent is asked to resolve it.
      try {
        parseImageReference(reference)
      } catch (err) {
        throw new JobRequestError(`images[${i}].reference: ${(err as Error).message}`, { cause: err })
      }
      if (tags != null && (typeof tags !== 'string' || tags.length > MAX_PREFETCH_TAG_FILTER_LENGTH || !isTagGlob(tags))) {
        throw new JobRequestError(`images[${i}].tags: a glob of 1 to ${MAX_PREFETCH_TAG_FILTER_LENGTH} of a tag's characters (A-Z a-z 0-9 _ . -) and the wildcards * and ?`)
      }
      return { reference, tags: tags ?? undefined }
    }),
    platforms: platforms.map((platform: unknown, i) => {
      if (typeof platform !== 'string' || !isPlatformText(platform)) throw new JobRequestError(`platforms[${i}]: "${String(platform).slice(0, 40)}" is not os/arch[/variant]`)
      return platform
    }),
    scope,
    replicas: integer('replicas', request.replicas, JOB_DEFAULTS.replicas, MAX_REPLICAS),
    // Only a site is shared out; every agent of the other scopes holds whole blobs.
    spread: scope.kind === 'site' ? spread : 'blobs',
    concurrency: integer('concurrency', request.concurrency, JOB_DEFAULTS.concurrency, MAX_CONCURRENCY),
    timeoutMs: integer('timeoutMs', request.timeoutMs, JOB_DEFAULTS.timeoutMs, MAX_TIMEOUT_MS)
  }
}

/** `agent:<peer id>`, `site:<name>` or `all`. */
export function parseScope (value: unknown): JobScope {
  if (value === 'all') return { kind: 'all' }
  if (typeof value === 'string' && value.startsWith('site:') && isPlacementLabel(value.slice(5))) return { kind: 'site', site: value.slice(5) }
  if (typeof value === 'string' && value.startsWith('agent:')) {
    try {
      return { kind: 'agent', agent: parsePeerKey(value.slice(6)) }
    } catch (err) {
      throw new JobRequestError(`scope: "${value.slice(0, 80)}" does not name an agent's peer id`, { cause: err })
    }
  }
  throw new JobRequestError(`scope: "${String(value).slice(0, 80)}" is not agent:<peer id>, site:<name> or all`)
}

/** `pieces` (the default) or `blobs`. */
export function parseSpread (value: unknown): JobSpread {
  if (value == null) return JOB_DEFAULTS.spread
  if (value === 'pieces' || value === 'blobs') return value
  throw new JobRequestError(`spread: "${String(value).slice(0, 40)}" is not pieces or blobs`)
}

export function scopeText (scope: JobScope): string {
  return scope.kind === 'all' ? 'all' : scope.kind === 'site' ? `site:${scope.site}` : `agent:${scope.agent}`
}

function integer (field: string, value: unknown, fallback: number, max: number): number {
  if (value == null) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) throw new JobRequestError(`${field}: an integer from 1 to ${max}`)
  return value
}
