import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { request } from 'undici'
import { layerFixture, pushImage, pushIndex, skopeoCopy, startCountingProxy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'

async function tempDir (t: { teardown: (fn: () => Promise<void>) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-pull-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

for (const format of ['docker', 'oci'] as const) {
  test(`cold then warm pull of a ${format} image through the agent: each blob leaves the origin once`, async t => {
    const registry = await startRegistry()
    t.teardown(registry.stop)
    const origin = await startCountingProxy(registry)
    t.teardown(origin.stop)
    const image = await pushImage(registry, {
      name: 'team/app',
      tag: 'v1',
      format,
      layers: [layerFixture({ size: 3 * 1024 * 1024 + 17, seed: 1 }), layerFixture({ size: 70_000, seed: 2 }), layerFixture({ size: 1, seed: 3 })]
    })
    const agent = await startTestAgent({ upstreams: [origin.url] })
    t.teardown(agent.stop)
    // The image's own registry host answers nothing, so skopeo cannot quietly fall back to it.
    const ref = `${await deadRegistryHost()}/team/app:v1`

    const cold = await tempDir(t)
    await skopeoCopy({ image: ref, mirror: agent.host, destDir: cold })
    await verifyDirImage(cold, image)
    for (const layer of image.layers) t.is(origin.blobGets(layer.digest), 1, `layer ${layer.digest} fetched once`)
    t.is(origin.blobGets(image.configDigest), 1)

    origin.reset()
    const warm = await tempDir(t)
    await skopeoCopy({ image: ref, mirror: agent.host, destDir: warm })
    await verifyDirImage(warm, image)
    t.is(origin.blobGets(), 0, 'a warm pull sends no blob request to the origin')
  })
}

test('an OCI index pulls the chosen platform through the agent', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const amd = await pushImage(registry, { name: 'multi', tag: 'amd64', format: 'oci', layers: [layerFixture({ size: 200_000, seed: 10 })], platform: { os: 'linux', architecture: 'amd64' } })
  const arm = await pushImage(registry, { name: 'multi', tag: 'arm64', format: 'oci', layers: [layerFixture({ size: 300_000, seed: 11 })], platform: { os: 'linux', architecture: 'arm64' } })
  await pushIndex(registry, { name: 'multi', tag: 'v1', manifests: [{ image: amd, platform: { os: 'linux', architecture: 'amd64' } }, { image: arm, platform: { os: 'linux', architecture: 'arm64' } }] })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const agent = await startTestAgent({ upstreams: [origin.url] })
  t.teardown(agent.stop)
  const dest = await tempDir(t)
  await skopeoCopy({ image: `${await deadRegistryHost()}/multi:v1`, mirror: agent.host, destDir: dest, platform: { os: 'linux', architecture: 'arm64' } })
  await verifyDirImage(dest, arm)
  t.is(origin.blobGets(arm.layers[0]?.digest), 1)
  t.is(origin.blobGets(amd.layers[0]?.digest), 0, 'the other platform\'s layer is not fetched')
})

test('HEAD of a tag answers what containerd needs; tags/list passes through with its query', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/tags', tag: 'v1', format: 'docker', layers: [layerFixture({ size: 1000, seed: 5 })] })
  await pushImage(registry, { name: 'team/tags', tag: 'v2', format: 'docker', layers: [layerFixture({ size: 1000, seed: 6 })] })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const agent = await startTestAgent({ upstreams: [origin.url] })
  t.teardown(agent.stop)
  const head = await request(`${agent.url}/v2/team/tags/manifests/v1?ns=${origin.host}`, { method: 'HEAD', headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json' } })
  t.is(head.statusCode, 200)
  t.is(head.headers['content-type'], image.mediaType)
  t.is(head.headers['docker-content-digest'], image.manifestDigest)
  t.is(head.headers['content-length'], String(image.manifest.byteLength))
  await head.body.dump()
  // The same answer as the registry's own, query included (Distribution 2.8 ignores n= for tags).
  const viaAgent = await request(`${agent.url}/v2/team/tags/tags/list?n=1&last=v1`)
  const direct = await request(`${registry.url}/v2/team/tags/tags/list?n=1&last=v1`)
  t.is(viaAgent.statusCode, 200)
  t.is(viaAgent.headers['content-type'], direct.headers['content-type'])
  t.is(await viaAgent.body.text(), await direct.body.text())
  t.true(origin.counts.requests.some(r => r.path === '/v2/team/tags/tags/list?n=1&last=v1'), 'the query reached the origin')
  const all = await request(`${agent.url}/v2/team/tags/tags/list`)
  t.deepEqual(await all.body.json(), { name: 'team/tags', tags: ['v1', 'v2'] })
})
