import { MAX_PREFETCH_REFERENCE_LENGTH, parseDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { parseRegistryHost } from '../config/values.ts'
import { parseName, parseRoute } from '../registry-mirror/routes.ts'
import { InvalidReferenceError } from './errors.ts'

/** A parsed image reference; `registry` is '' for the mirror's default upstream. */
export interface ImageReference {
  registry: string
  repository: string
  tag?: string
  digest?: Digest
}

/** The names of Docker Hub, whose single-component repositories live under `library/`. */
const DOCKER_HUB = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

/**
 * Parses `[registry/]repository[:tag][@digest]` by Docker's rules: the first path component is a
 * registry when it holds `.` or `:` or is `localhost`. Name, tag and digest are checked with the
 * mirror's own grammar, so a reference that parses here is one the mirror routes.
 */
export function parseImageReference (text: string): ImageReference {
  if (text.length === 0 || text.length > MAX_PREFETCH_REFERENCE_LENGTH) {
    throw new InvalidReferenceError(`an image reference of ${text.length} characters (1 to ${MAX_PREFETCH_REFERENCE_LENGTH})`)
  }
  let rest = text
  let digest: Digest | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    digest = checked(text, () => parseDigest(rest.slice(at + 1)))
    rest = rest.slice(0, at)
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
  }
  let registry = ''
  const slash = rest.indexOf('/')
  const first = slash >= 0 ? rest.slice(0, slash) : ''
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    registry = checked(text, () => parseRegistryHost('registry', first))
    rest = rest.slice(slash + 1)
  }
  if (DOCKER_HUB.has(registry) && !rest.includes('/')) rest = `library/${rest}`
  const repository = checked(text, () => parseName(rest))
  if (tag != null) {
    const route = checked(text, () => parseRoute(`/v2/${repository}/manifests/${tag}`))
    if (route.kind !== 'manifest') throw new InvalidReferenceError(`image reference "${text.slice(0, 100)}": tag "${tag.slice(0, 100)}" is invalid`)
  }
  const reference: ImageReference = { registry, repository }
  if (tag != null) reference.tag = tag
  if (digest != null) reference.digest = digest
  return reference
}

/** `registry/repository:tag`, `registry/repository@digest` (both when both), without the registry for the default upstream. */
export function formatImageReference (reference: ImageReference): string {
  let text = reference.registry === '' ? reference.repository : `${reference.registry}/${reference.repository}`
  if (reference.tag != null) text += `:${reference.tag}`
  if (reference.digest != null) text += `@${reference.digest}`
  return text
}

/** `registry/repository`, or the repository and "(the default upstream)". */
export function formatRepository (reference: { registry: string, repository: string }): string {
  return reference.registry === '' ? `${reference.repository} (the agent's default upstream)` : `${reference.registry}/${reference.repository}`
}

function checked<T> (text: string, parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new InvalidReferenceError(`image reference "${text.slice(0, 100)}" is invalid: ${(err as Error).message}`, { cause: err })
  }
}
