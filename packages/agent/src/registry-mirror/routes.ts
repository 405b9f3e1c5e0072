import { parseDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { InvalidNameError } from '../errors.ts'

/** The distribution spec's repository name grammar: path components separated by `/`. */
const NAME = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/
const MAX_NAME_LENGTH = 255

export type Route =
  | { kind: 'base' }
  | { kind: 'manifest', name: string, reference: { tag: string } | { digest: Digest } }
  | { kind: 'blob', name: string, digest: Digest }
  | { kind: 'tags', name: string }
  | { kind: 'upload', name: string }
  | { kind: 'catalog' }
  | { kind: 'not-found' }

export function parseName (name: string): string {
  if (name.length > MAX_NAME_LENGTH || !NAME.test(name)) {
    throw new InvalidNameError(`repository name "${name.slice(0, 100)}" is invalid: lower-case components of [a-z0-9] joined by . _ __ - and /, at most ${MAX_NAME_LENGTH} characters`)
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
    if (!TAG.test(ref)) throw new InvalidNameError(`tag "${ref.slice(0, 100)}" is invalid`)
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
