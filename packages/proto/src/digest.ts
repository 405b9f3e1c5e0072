import { createHash } from 'node:crypto'
import { InvalidDigestError } from './errors.ts'

/** The hash algorithms the distribution spec registers, with their hex lengths. */
const ALGORITHMS = { sha256: 64, sha512: 128 } as const

export type DigestAlgorithm = keyof typeof ALGORITHMS

/** A content digest (`sha256:<hex>`) that has been parsed and validated. */
export type Digest = string & { readonly __brand: 'Digest' }

/**
 * Parses a digest as the distribution spec defines it. Only registered algorithms are accepted,
 * with lower-case hex of the right length, so a digest can be used in a file name safely.
 */
export function parseDigest (value: string): Digest {
  const colon = value.indexOf(':')
  const algorithm = value.slice(0, colon)
  const hex = value.slice(colon + 1)
  if (colon < 1 || !(algorithm in ALGORITHMS)) {
    throw new InvalidDigestError(`unsupported digest algorithm in "${truncate(value)}"`)
  }
  const length = ALGORITHMS[algorithm as DigestAlgorithm]
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) {
    throw new InvalidDigestError(`digest "${truncate(value)}" must be ${algorithm}: and ${length} lower-case hex characters`)
  }
  return value as Digest
}

export function isDigest (value: string): value is Digest {
  try {
    parseDigest(value)
    return true
  } catch {
    return false
  }
}

export function digestAlgorithm (digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm
}

export function digestHex (digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1)
}

/** Digest of bytes held in memory (manifests, pieces): one buffer, or chunks taken in order. */
export function digestOf (bytes: Uint8Array | readonly Uint8Array[], algorithm: DigestAlgorithm = 'sha256'): Digest {
  const hash = createHash(algorithm)
  if (bytes instanceof Uint8Array) hash.update(bytes)
  else for (const chunk of bytes) hash.update(chunk)
  return `${algorithm}:${hash.digest('hex')}` as Digest
}

function truncate (value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}...` : value
}
