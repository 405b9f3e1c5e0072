import { digestAlgorithm, digestOf, isDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { MAX_MANIFEST_BYTES } from '../constants.ts'
import { DigestMismatchError } from '../errors.ts'
import { MirrorAnswerError } from './errors.ts'
import { MANIFEST_ACCEPT, parseManifest } from './manifest.ts'
import type { ParsedManifest } from './manifest.ts'
import type { MirrorClient } from './mirror-client.ts'
import { readCapped } from './read-body.ts'
import { formatImageReference } from './reference.ts'

export interface ManifestFetch {
  registry: string
  repository: string
  reference: { tag: string } | { digest: Digest }
  signal: AbortSignal
}

export interface FetchedManifest {
  digest: Digest
  manifest: ParsedManifest
}

/**
 * One manifest or index through the mirror, at most MAX_MANIFEST_BYTES, its bytes checked against
 * the digest asked for (or, by tag, the Docker-Content-Digest the mirror sends) before it is parsed.
 */
export async function fetchManifest (client: MirrorClient, req: ManifestFetch): Promise<FetchedManifest> {
  const name = 'digest' in req.reference ? req.reference.digest : req.reference.tag
  const what = `manifest ${formatImageReference({ registry: req.registry, repository: req.repository, ...req.reference })}`
  const res = await client.get({ path: `/v2/${req.repository}/manifests/${name}`, registry: req.registry, repository: req.repository, accept: MANIFEST_ACCEPT, what, signal: req.signal })
  const body = await readCapped(res.body, { maxBytes: MAX_MANIFEST_BYTES, contentLength: res.headers['content-length'], what })
  let expected: Digest | undefined
  if ('digest' in req.reference) {
    expected = req.reference.digest
  } else {
    const header = res.headers['docker-content-digest']
    if (header != null && !isDigest(header)) throw new MirrorAnswerError('invalid', `${what}: the mirror sent Docker-Content-Digest "${header.slice(0, 100)}", not a digest`)
    expected = header as Digest | undefined
  }
  const digest = digestOf(body, expected != null ? digestAlgorithm(expected) : 'sha256')
  if (expected != null && digest !== expected) {
    throw new DigestMismatchError(`${what}: the mirror's bytes hash to ${digest}, not ${expected}`)
  }
  return { digest, manifest: parseManifest(body, res.headers['content-type']) }
}
