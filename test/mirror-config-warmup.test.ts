import test from 'ava'
import { request } from 'undici'
import type { Digest } from '@shoal/proto'
import { configOf } from '../packages/agent/src/registry-mirror/config-warmup.ts'
import { layerFixture } from './fixtures/index.ts'
import { waitFor } from './helpers/http.ts'
import { startMirroredOrigin } from './helpers/mirrored-origin.ts'

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json'
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json'
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json'

test('a GET of an image manifest fetches its config blob ahead, and none of its layers; a HEAD fetches nothing', async t => {
  const { origin, image, agent } = await startMirroredOrigin(t, { image: { name: 'lib/warm', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 2 * 1024 * 1024, seed: 7 })] } })
  const layer = image.layers[0]?.digest ?? ''
  const manifestUrl = `${agent.url}/v2/lib/warm/manifests/v1`
  const accept = { accept: `${OCI_MANIFEST}, ${DOCKER_MANIFEST}` }

  const head = await request(manifestUrl, { method: 'HEAD', headers: accept })
  t.is(head.statusCode, 200)
  await head.body.dump()
  // A HEAD sends no manifest body: nothing is fetched for it (a fetch here takes a few ms).
  await new Promise(resolve => setTimeout(resolve, 500))
  t.is(origin.blobGets(image.configDigest), 0)
  const get = await request(manifestUrl, { headers: accept })
  t.is(get.statusCode, 200)
  await get.body.dump()
  // Nobody asked for the config: the agent fetched it on its own, once, and holds it.
  await waitFor('the config blob held by the agent', () => agent.agent.store.get(image.configDigest as Digest)?.state === 'complete', { timeoutMs: 20_000 })
  t.is(origin.blobGets(image.configDigest), 1)
  t.is(origin.blobGets(layer), 0)

  const config = await request(`${agent.url}/v2/lib/warm/blobs/${image.configDigest}`)
  t.is(config.statusCode, 200)
  t.true(Buffer.from(await config.body.arrayBuffer()).equals(image.config))
  t.is(origin.blobGets(image.configDigest), 1)
  // The manifest again (a cached answer): the config is held, nothing more is fetched.
  await (await request(manifestUrl, { headers: accept })).body.dump()
  t.is(origin.blobGets(image.configDigest), 1)
  t.is(origin.blobGets(layer), 0)
})

test('only an image manifest that parses and names a config by digest and size has a config to fetch ahead', t => {
  const digest = `sha256:${'ab'.repeat(32)}`
  // An image manifest around `config` (schemaVersion 2, no layers), or `value` as it is.
  const body = (value: unknown): Uint8Array => Buffer.from(JSON.stringify(value))
  const image = (config: unknown): Uint8Array => body({ schemaVersion: 2, config, layers: [] })
  t.deepEqual(configOf({ mediaType: OCI_MANIFEST, body: image({ digest, size: 12 }) }), { digest, size: 12 })
  t.deepEqual(configOf({ mediaType: DOCKER_MANIFEST, body: image({ digest, size: 0 }) }), { digest, size: 0 })
  t.is(configOf({ mediaType: OCI_INDEX, body: image({ digest, size: 12 }) }), undefined)
  t.is(configOf({ mediaType: OCI_MANIFEST, body: Buffer.from('{not json') }), undefined)
  t.is(configOf({ mediaType: OCI_MANIFEST, body: body(null) }), undefined)
  t.is(configOf({ mediaType: OCI_MANIFEST, body: image({ digest: '../../etc/passwd', size: 12 }) }), undefined)
  t.is(configOf({ mediaType: OCI_MANIFEST, body: image({ digest, size: -1 }) }), undefined)
  t.is(configOf({ mediaType: OCI_MANIFEST, body: image({ digest, size: '12' }) }), undefined)
})
