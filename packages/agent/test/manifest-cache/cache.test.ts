import { createHash } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { Digest } from '@shoal/proto'
import { ManifestCache, admits, type CachedManifest } from '../../src/manifest-cache/index.ts'

const SCHEMA2 = 'application/vnd.docker.distribution.manifest.v2+json'
const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws'
const OCI = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const CONTAINERD_ACCEPT = `${SCHEMA2}, application/vnd.docker.distribution.manifest.list.v2+json, ${OCI}, ${OCI_INDEX}, */*`
const SKOPEO_ACCEPT = `${OCI}, ${OCI_INDEX}, ${SCHEMA2}, application/vnd.docker.distribution.manifest.list.v2+json, ${SCHEMA1}, application/vnd.docker.distribution.manifest.v1+json, application/json`
const REF = { registry: '127.0.0.1:5000', name: 'team/app', tag: 'v1' }

function manifest (mediaType: string, text: string): CachedManifest {
  const body = Buffer.from(text)
  return { digest: `sha256:${createHash('sha256').update(body).digest('hex')}` as Digest, mediaType, body }
}

async function openCache (t: ExecutionContext, clock: { now: number }): Promise<ManifestCache> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-manifest-cache-'))
  const cache = new ManifestCache({ path: dir, tagTtlMs: 1000, now: () => clock.now })
  await cache.start()
  t.teardown(async () => {
    await cache.stop()
    await rm(dir, { recursive: true, force: true })
  })
  return cache
}

test('admits: exact types, type/*, */*, q=0, and an absent Accept', t => {
  t.is(admits(CONTAINERD_ACCEPT, SCHEMA2), 2)
  t.is(admits(CONTAINERD_ACCEPT, SCHEMA1), 0)
  t.is(admits(SKOPEO_ACCEPT, SCHEMA2), 2)
  t.is(admits(SCHEMA1, SCHEMA2), undefined)
  t.is(admits('application/*', SCHEMA2), 1)
  t.is(admits(`${SCHEMA2};q=0, */*`, SCHEMA2), undefined)
  t.is(admits(`${SCHEMA2}; q=0.5`, SCHEMA2), 2)
  t.is(admits(undefined, SCHEMA2), 0)
  t.is(admits('', SCHEMA2), 0)
  t.is(admits('garbage', SCHEMA2), 0)
})

test('a fresh answer is reused only for the same Accept; a stale one for any Accept that admits its type', async t => {
  const clock = { now: 0 }
  const cache = await openCache(t, clock)
  const schema2 = manifest(SCHEMA2, '{"schemaVersion":2}')
  await cache.put(schema2, { ...REF, accept: CONTAINERD_ACCEPT })
  t.is((await cache.getTag(REF, CONTAINERD_ACCEPT))?.fresh, true)
  t.is(await cache.getTag(REF, SKOPEO_ACCEPT), undefined)
  t.deepEqual(await cache.getStale(REF, SKOPEO_ACCEPT), { kind: 'manifest', manifest: schema2 })
  t.deepEqual(await cache.getStale(REF, undefined), { kind: 'manifest', manifest: schema2 })
  t.deepEqual(await cache.getStale(REF, SCHEMA1), { kind: 'not-acceptable', mediaTypes: [SCHEMA2] })
  t.is(await cache.getStale({ ...REF, tag: 'v10' }, SKOPEO_ACCEPT), undefined)
  t.is(await cache.getStale({ ...REF, name: 'team/other' }, SKOPEO_ACCEPT), undefined)
})

test('several cached types: one the Accept names beats a wildcard match; among equals the latest wins', async t => {
  const clock = { now: 0 }
  const cache = await openCache(t, clock)
  const schema2 = manifest(SCHEMA2, '{"schemaVersion":2}')
  const schema1 = manifest(SCHEMA1, '{"schemaVersion":1}')
  const oci = manifest(OCI, '{"schemaVersion":2,"oci":true}')
  await cache.put(schema2, { ...REF, accept: CONTAINERD_ACCEPT })
  clock.now = 10
  await cache.put(schema1, { ...REF, accept: SCHEMA1 })
  // containerd's */* admits schema1, but it names schema2: schema2, though older.
  t.deepEqual(await cache.getStale(REF, CONTAINERD_ACCEPT), { kind: 'manifest', manifest: schema2 })
  t.deepEqual(await cache.getStale(REF, SCHEMA1), { kind: 'manifest', manifest: schema1 })
  clock.now = 20
  await cache.put(oci, { ...REF, accept: OCI })
  // skopeo names all three: the latest.
  t.deepEqual(await cache.getStale(REF, SKOPEO_ACCEPT), { kind: 'manifest', manifest: oci })
  t.deepEqual(await cache.getStale(REF, OCI_INDEX), { kind: 'not-acceptable', mediaTypes: [SCHEMA2, SCHEMA1, OCI].sort() })
})
