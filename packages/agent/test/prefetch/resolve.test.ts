import test from 'ava'
import type { ExecutionContext } from 'ava'
import { pushImage, pushIndex, sha256Digest, startRegistry } from '../../../../test/fixtures/index.ts'
import type { PushedImage } from '../../../../test/fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from '../../../../test/helpers/agent.ts'
import { resolveImages } from '../../src/prefetch/index.ts'
import type { ResolvedImage } from '../../src/prefetch/index.ts'
import { MirrorClient } from '../../src/prefetch/mirror-client.ts'
import { listTags } from '../../src/prefetch/tags.ts'
import { layers, startCluster, startMirrorProxy, startPagingProxy } from './helpers.ts'

const AMD64 = { os: 'linux', architecture: 'amd64' }
const ARM64 = { os: 'linux', architecture: 'arm64' }

/** The blobs of a pushed image as resolveImages should list them (layers, then the config, in any order). */
function blobsOf (image: PushedImage): Array<{ digest: string, size: number }> {
  return [...image.layers, { digest: image.configDigest, size: image.config.length }]
}

function assertImage (t: ExecutionContext, resolved: ResolvedImage | undefined, image: PushedImage, reference: string): void {
  t.is(resolved?.error, undefined, resolved?.error?.message)
  t.is(resolved?.reference, reference)
  t.is(resolved?.manifestDigest as string | undefined, image.manifestDigest)
  t.deepEqual(resolved?.layers.map(l => ({ digest: l.digest, size: l.size })).sort(byDigest), blobsOf(image).sort(byDigest))
}

function byDigest (a: { digest: string }, b: { digest: string }): number {
  return a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0
}

test('an image by tag and by digest, through the ?ns= registry and the default upstream; media types kept', async t => {
  const { registry, origin, mirror } = await startCluster(t)
  const docker = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: layers(1, [70_000, 3_000]) })
  const oci = await pushImage(registry, { name: 'team/oci', tag: 'v2', format: 'oci', layers: layers(2, [5_000]) })

  const [byTag, byDigest, viaDefault, ociImage] = await resolveImages(mirror, [
    { reference: `${origin.host}/team/app:v1` },
    { reference: `${origin.host}/team/app@${docker.manifestDigest}` },
    { reference: 'team/app:v1' },
    { reference: `${origin.host}/team/oci:v2` }
  ], { platforms: [AMD64] })
  assertImage(t, byTag, docker, `${origin.host}/team/app:v1`)
  assertImage(t, byDigest, docker, `${origin.host}/team/app@${docker.manifestDigest}`)
  assertImage(t, viaDefault, docker, 'team/app:v1')
  assertImage(t, ociImage, oci, `${origin.host}/team/oci:v2`)
  t.true(byTag?.layers.every(l => l.registry === origin.host && l.repository === 'team/app'))
  t.true(viaDefault?.layers.every(l => l.registry === '' && l.repository === 'team/app'))
  t.is(byTag?.layers.find(l => l.digest === docker.configDigest)?.mediaType, 'application/vnd.docker.container.image.v1+json')
  t.is(ociImage?.layers.find(l => l.digest === oci.layers[0]?.digest)?.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip')
  t.is(origin.blobGets(), 0, 'resolving reads manifests only')
})

test('no tag and no digest means latest', async t => {
  const { registry, origin, mirror } = await startCluster(t)
  const latest = await pushImage(registry, { name: 'app', tag: 'latest', format: 'oci', layers: layers(3, [1_000]) })
  const [resolved] = await resolveImages(mirror, [{ reference: `${origin.host}/app` }], { platforms: [AMD64] })
  assertImage(t, resolved, latest, `${origin.host}/app:latest`)
})

test('an index with two platforms: only the wanted one\'s blobs; both when both are wanted; none: not-found naming them', async t => {
  const { registry, origin, mirror } = await startCluster(t)
  const [base, amdOnly, armOnly1] = [...layers(4, [20_000, 1_000]), ...layers(5, [30_000])] as [Buffer, Buffer, Buffer]
  const amd = await pushImage(registry, { name: 'multi', tag: 'amd64', format: 'oci', layers: [base, amdOnly], platform: AMD64 })
  const arm = await pushImage(registry, { name: 'multi', tag: 'arm64', format: 'oci', layers: [base, armOnly1], platform: ARM64 })
  const index = await pushIndex(registry, { name: 'multi', tag: 'v1', manifests: [{ image: amd, platform: AMD64 }, { image: arm, platform: ARM64 }] })
  const ref = `${origin.host}/multi:v1`

  const [armOnly] = await resolveImages(mirror, [{ reference: ref }], { platforms: [{ ...ARM64, variant: 'v8' }] })
  t.is(armOnly?.error, undefined, armOnly?.error?.message)
  t.is(armOnly?.manifestDigest as string | undefined, index.digest, 'the digest the tag names: the index')
  t.deepEqual(armOnly?.layers.map(l => l.digest).sort(), blobsOf(arm).map(b => b.digest).sort())

  const [both] = await resolveImages(mirror, [{ reference: ref }], { platforms: [AMD64, ARM64] })
  t.deepEqual(both?.layers.map(l => l.digest).sort(), [...new Set([...blobsOf(amd), ...blobsOf(arm)].map(b => b.digest))].sort(), 'the shared base layer once')
  t.is(both?.layers.length, 5)

  const [none] = await resolveImages(mirror, [{ reference: ref }], { platforms: [{ os: 'linux', architecture: 's390x' }, { os: 'linux', architecture: 'arm', variant: 'v7' }] })
  t.is(none?.error?.reason, 'not-found')
  t.deepEqual(none?.layers, [])
  t.regex(none?.error?.message ?? '', /linux\/s390x, linux\/arm\/v7/)
  t.regex(none?.error?.message ?? '', /linux\/amd64, linux\/arm64/)
})

test('a tag filter resolves each matching tag as its own image, sorted; none matching is not-found naming the filter and the count', async t => {
  const { registry, origin, mirror } = await startCluster(t)
  const pushed = new Map<string, PushedImage>()
  for (const [i, tag] of ['v1.10', 'v1.2', 'v2.0', 'latest', 'v1.2-rc1'].entries()) {
    pushed.set(tag, await pushImage(registry, { name: 'team/svc', tag, format: 'docker', layers: layers(10 + i, [2_000 + i]) }))
  }
  const [v1a, v1b, ...rest] = await resolveImages(mirror, [{ reference: `${origin.host}/team/svc`, tags: 'v1.*' }], { platforms: [AMD64] })
  t.is(rest.length, 1)
  assertImage(t, v1a, pushed.get('v1.10') as PushedImage, `${origin.host}/team/svc:v1.10`)
  assertImage(t, v1b, pushed.get('v1.2') as PushedImage, `${origin.host}/team/svc:v1.2`)
  assertImage(t, rest[0], pushed.get('v1.2-rc1') as PushedImage, `${origin.host}/team/svc:v1.2-rc1`)

  const [q] = await resolveImages(mirror, [{ reference: 'team/svc', tags: 'v?.0' }], { platforms: [AMD64] })
  assertImage(t, q, pushed.get('v2.0') as PushedImage, 'team/svc:v2.0')

  const none = await resolveImages(mirror, [{ reference: `${origin.host}/team/svc`, tags: '*-latest' }], { platforms: [AMD64] })
  t.is(none.length, 1)
  t.is(none[0]?.error?.reason, 'not-found')
  t.regex(none[0]?.error?.message ?? '', /"\*-latest"/)
  t.regex(none[0]?.error?.message ?? '', /\b5 tags exist/)

  const both = await resolveImages(mirror, [{ reference: `${origin.host}/team/svc:v1.2`, tags: 'v1.*' }], { platforms: [AMD64] })
  t.is(both[0]?.error?.reason, 'invalid', 'a tag and a filter at once')
})

test('tag lists are followed through Link pages, on the mirror', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const paging = await startPagingProxy(registry.url)
  t.teardown(paging.stop)
  const agent = await startTestAgent({ upstreams: [paging.url] })
  t.teardown(agent.stop)
  const tags = ['a1', 'a2', 'b1', 'b2', 'c1']
  for (const tag of tags) await pushImage(registry, { name: 'paged', tag, format: 'oci', layers: layers(20, [100]) })
  const client = new MirrorClient({ url: agent.url }, { connections: 1 })
  t.teardown(async () => { await client.close() })
  const listed = await listTags(client, { registry: new URL(paging.url).host, repository: 'paged', pageSize: 2, signal: AbortSignal.timeout(10_000) })
  t.deepEqual(listed, tags)
  t.deepEqual(paging.pages, ['?n=2', '?last=a2&n=2', '?last=b2&n=2'], 'three pages of two, each asked of the mirror')
})

test('a missing tag, repository or platform-less digest is not-found with the registry\'s message', async t => {
  const { registry, origin, mirror } = await startCluster(t)
  await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: layers(30, [1_000]) })
  const [tag, repo, digest] = await resolveImages(mirror, [
    { reference: `${origin.host}/team/app:nope` },
    { reference: `${origin.host}/team/none:v1` },
    { reference: `${origin.host}/team/app@sha256:${'0'.repeat(64)}` }
  ], { platforms: [AMD64] })
  for (const image of [tag, repo, digest]) {
    t.is(image?.error?.reason, 'not-found', image?.error?.message)
    t.deepEqual(image?.layers, [])
  }
  t.regex(tag?.error?.message ?? '', /MANIFEST_UNKNOWN/)
  t.regex(tag?.error?.message ?? '', /team\/app:nope/)
})

test('wrong agent credentials on an htpasswd origin: unauthorized, saying where to configure them, without the password', async t => {
  const alice = { username: 'alice', password: 'wonderland-7c1' }
  const wrong = { username: 'alice', password: 'not-it-93be' }
  const { registry, origin, mirror } = await startCluster(t, { auth: { kind: 'htpasswd', users: [alice] }, credentials: wrong })
  await pushImage(registry, { name: 'team/private', tag: 'v1', format: 'docker', layers: layers(40, [1_000]), auth: alice })

  const resolved = await resolveImages(mirror, [{ reference: `${origin.host}/team/private:v1` }, { reference: `${origin.host}/team/private`, tags: '*' }], { platforms: [AMD64] })
  for (const image of resolved) {
    t.is(image.error?.reason, 'unauthorized', image.error?.message)
    t.log(image.error?.message)
    t.true(image.error?.message.includes(`${origin.host}/team/private`), image.error?.message)
    t.regex(image.error?.message ?? '', /--docker-config|credentials/)
    t.false(JSON.stringify(image).includes(wrong.password))
    t.false(JSON.stringify(image).includes(Buffer.from(`${wrong.username}:${wrong.password}`).toString('base64')))
  }
})

test('a bad reference is invalid before any request; a bad tag filter too', async t => {
  const { origin, mirror } = await startCluster(t)
  const resolved = await resolveImages(mirror, [
    { reference: `${origin.host}/Team/App:v1` },
    { reference: `${origin.host}/team/app:bad/tag` },
    { reference: `${origin.host}/team/app`, tags: 'v1/[a-z]' }
  ], { platforms: [AMD64] })
  t.deepEqual(resolved.map(image => image.error?.reason), ['invalid', 'invalid', 'invalid'])
  t.is(resolved[0]?.reference, `${origin.host}/Team/App:v1`)
  t.is(origin.counts.requests.length, 0)
})

test('an unreachable mirror is unavailable; an aborted signal is cancelled, a timed-out one timeout', async t => {
  const dead = { url: `http://${await deadRegistryHost()}` }
  const [unreachable] = await resolveImages(dead, [{ reference: 'team/app:v1' }], { platforms: [AMD64] })
  t.is(unreachable?.error?.reason, 'unavailable', unreachable?.error?.message)

  const { registry, origin, mirror } = await startCluster(t)
  await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: layers(50, [1_000]) })
  const controller = new AbortController()
  controller.abort()
  const [cancelled] = await resolveImages(mirror, [{ reference: `${origin.host}/team/app:v1` }], { platforms: [AMD64], signal: controller.signal })
  t.is(cancelled?.error?.reason, 'cancelled')
  // The origin cannot be reached: the agent retries with backoff for longer than the deadline.
  origin.mode = 'down'
  const [late] = await resolveImages(mirror, [{ reference: `${origin.host}/team/app:v1` }], { platforms: [AMD64], signal: AbortSignal.timeout(300) })
  t.is(late?.error?.reason, 'timeout', late?.error?.message)
})

test('each digest once; foreign layers skipped; a manifest that is not the digest asked for, or too large, is invalid', async t => {
  const { registry, origin, agent } = await startCluster(t)
  const [shared, other] = layers(60, [4_000, 5_000])
  if (shared == null || other == null) throw new Error('no layers')
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: [shared, other, shared] })
  t.is(image.layers.length, 3)
  const foreign = { mediaType: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip', digest: `sha256:${'f'.repeat(64)}`, size: 1234, urls: ['https://example.com/layer'] }
  let mode: 'pass' | 'foreign' | 'flip' | 'huge' = 'pass'
  const proxy = await startMirrorProxy(agent.url, {
    rewrite: (path, answer) => {
      if (!path.includes('/manifests/') || answer.status !== 200 || mode === 'pass') return undefined
      if (mode === 'huge') return { headers: answer.headers, body: Buffer.concat([answer.body, Buffer.alloc(4 * 1024 * 1024, ' ')]) }
      if (mode === 'flip') return { headers: answer.headers, body: Buffer.from(answer.body.toString('utf8').replace('"schemaVersion":2', '"schemaVersion": 2')) }
      // A manifest with a foreign layer, under a digest header that matches it.
      const manifest = JSON.parse(answer.body.toString('utf8')) as { layers: unknown[] }
      manifest.layers.push(foreign)
      const body = Buffer.from(JSON.stringify(manifest))
      return { headers: { ...answer.headers, 'docker-content-digest': sha256Digest(body) }, body }
    }
  })
  t.teardown(proxy.stop)
  const mirror = { url: proxy.url }
  const byTag = { reference: `${origin.host}/team/app:v1` }
  const byDigest = { reference: `${origin.host}/team/app@${image.manifestDigest}` }

  const [plain] = await resolveImages(mirror, [byTag], { platforms: [AMD64] })
  t.deepEqual(plain?.layers.map(l => l.digest).sort(), [image.configDigest, sha256Digest(shared), sha256Digest(other)].sort(), 'the repeated layer once')

  mode = 'foreign'
  const [withForeign] = await resolveImages(mirror, [byTag], { platforms: [AMD64] })
  t.is(withForeign?.error, undefined, withForeign?.error?.message)
  t.is(withForeign?.layers.length, 3)
  t.false(withForeign?.layers.some(l => l.digest === foreign.digest))

  mode = 'flip'
  const flipped = await resolveImages(mirror, [byTag, byDigest], { platforms: [AMD64] })
  for (const resolved of flipped) {
    t.is(resolved.error?.reason, 'invalid', resolved.error?.message)
    t.regex(resolved.error?.message ?? '', /hash to sha256:[0-9a-f]{64}, not sha256:/)
    t.deepEqual(resolved.layers, [])
  }

  mode = 'huge'
  const [huge] = await resolveImages(mirror, [byDigest], { platforms: [AMD64] })
  t.is(huge?.error?.reason, 'invalid', huge?.error?.message)
  t.regex(huge?.error?.message ?? '', /more than the 4194304 bytes/)
})
