import { parseDigest } from './digest.ts'
import type { Digest } from './digest.ts'
import { InvalidReferenceError } from './errors.ts'
import { MAX_PREFETCH_REFERENCE_LENGTH } from './prefetch-messages.ts'

/**
 * The distribution spec's grammar for what names an image, in one place for the agent's routes,
 * its prefetch resolver, the CLI and the scheduler's jobs API. Pure: no I/O.
 */

/** Path components of [a-z0-9] joined by `.`, `_`, `__` or runs of `-`, separated by `/`. */
const REPOSITORY_NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/
export const MAX_REPOSITORY_NAME_LENGTH = 255
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
/** A host name or a bracketed IPv6 address, with an optional port; lower case. */
const REGISTRY_HOST = /^(?:[a-z0-9-]+(?:\.[a-z0-9-]+)*|\[[0-9a-f:]+\])(?::\d{1,5})?$/
/** A tag's characters plus the glob's `*` and `?`. */
const TAG_GLOB = /^[A-Za-z0-9_.*?-]{1,128}$/

export function isRepositoryName (name: string): boolean {
  return name.length <= MAX_REPOSITORY_NAME_LENGTH && REPOSITORY_NAME.test(name)
}

export function isTag (tag: string): boolean {
  return TAG.test(tag)
}

/** `name`, `name:port` or `[v6]:port`, already lower case. */
export function isRegistryHost (host: string): boolean {
  return REGISTRY_HOST.test(host)
}

/** A glob over tags: a tag's characters and the wildcards `*` and `?` (`v1.*`, `*-latest`), at most 128. */
export function isTagGlob (glob: string): boolean {
  return TAG_GLOB.test(glob)
}

/** The predicate of a glob that isTagGlob accepted: `*` is any run of characters, `?` exactly one. */
export function tagGlobMatcher (glob: string): (tag: string) => boolean {
  const source = glob.replace(/\*+/g, '*').split('').map(c => c === '*' ? '.*' : c === '?' ? '.' : c === '.' ? '\\.' : c).join('')
  const pattern = new RegExp(`^${source}$`)
  return tag => pattern.test(tag)
}

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
 * registry when it holds `.` or `:` or is `localhost`. InvalidReferenceError says which part is wrong.
 */
export function parseImageReference (text: string): ImageReference {
  if (text.length === 0 || text.length > MAX_PREFETCH_REFERENCE_LENGTH) {
    throw new InvalidReferenceError(`an image reference of ${text.length} characters (1 to ${MAX_PREFETCH_REFERENCE_LENGTH})`)
  }
  const invalid = (why: string, cause?: unknown): InvalidReferenceError => new InvalidReferenceError(`image reference "${text.slice(0, 100)}" is invalid: ${why}`, { cause })
  let rest = text
  let digest: Digest | undefined
  const at = rest.indexOf('@')
  if (at >= 0) {
    try {
      digest = parseDigest(rest.slice(at + 1))
    } catch (err) {
      throw invalid((err as Error).message, err)
    }
    rest = rest.slice(0, at)
  }
  let tag: string | undefined
  const colon = rest.lastIndexOf(':')
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!isTag(tag)) throw invalid(`tag "${tag.slice(0, 100)}" is not 1 to 128 of [A-Za-z0-9_.-], starting with neither . nor -`)
  }
  let registry = ''
  const slash = rest.indexOf('/')
  const first = slash >= 0 ? rest.slice(0, slash) : ''
  if (first.includes('.') || first.includes(':') || first === 'localhost') {
    registry = first.toLowerCase()
    if (!isRegistryHost(registry)) throw invalid(`"${first.slice(0, 100)}" is not a registry host (name or name:port)`)
    rest = rest.slice(slash + 1)
  }
  if (DOCKER_HUB.has(registry) && !rest.includes('/')) rest = `library/${rest}`
  if (!isRepositoryName(rest)) {
    throw invalid(`repository name "${rest.slice(0, 100)}": lower-case components of [a-z0-9] joined by . _ __ - and /, at most ${MAX_REPOSITORY_NAME_LENGTH} characters`)
  }
  const reference: ImageReference = { registry, repository: rest }
  if (tag != null) reference.tag = tag
  if (digest != null) reference.digest = digest
  return reference
}
