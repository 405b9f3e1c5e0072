import { isRepositoryName, isTag, MAX_REPOSITORY_NAME_LENGTH, parseDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { InvalidNameError } from '../errors.ts'


export type Route =
  | { kind: 'base' }
  | { kind: 'manifest', name: string, reference: { tag: string } | { digest: Digest } }
  | { kind: 'blob', name: string, digest: Digest }
  | { kind: 'tags', name: string }
  | { kind: 'upload', name: string }
  | { kind: 'catalog' }
  | { kind: 'not-found' }

export function parseName (name: string): string {
  if (!isRepositoryName(name)) {
    throw new InvalidNameError(`repository name "${name.slice(0, 100)}" is invalid: lower-case components of [a-z0-9] joined by . _ __ - and /, at most ${MAX_REPOSITORY_NAME_LENGTH} characters`)
  }
  return name
}

/** Parses a /v2/ path; names, tags and digests are validated before anything touches disk or network. */
export function parseRoute (pathname: string): Route {
  if (pathname === '/v2/' || pathname === '/v2') return { kind: 'base' }
  if (pathname === '/v2/_catalog') return { kind: 'catalog' }
  let m = /^\/v2\/(.+)\/manifests\/([^/]+)$/.exec(pathname)
  if (m != null) {
    const name = parseName(m[1] ?? '')
    const ref = m[2] ?? ''
    if (ref.includes(':')) return { kind: 'manifest', name, reference: { digest: parseDigest(ref) } }
    if (!isTag(ref)) throw new InvalidNameError(`tag "${ref.slice(0, 100)}" is invalid`)
    return { kind: 'manifest', name, reference: { tag: ref } }
  }
  m = /^\/v2\/(.+)\/blobs\/uploads(?:\/.*)?$/.exec(pathname)
  if (m != null) return { kind: 'upload', name: parseName(m[1] ?? '') }
  m = /^\/v2\/(.+)\/blobs\/([^/]+)$/.exec(pathname)
  if (m != null) return { kind: 'blob', name: parseName(m[1] ?? ''), digest: parseDigest(m[2] ?? '') }
  m = /^\/v2\/(.+)\/tags\/list$/.exec(pathname)
  if (m != null) return { kind: 'tags', name: parseName(m[1] ?? '') }
  return { kind: 'not-found' }
}
