import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { request } from 'undici'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'

const BOT = { username: 'mirror-bot', password: 'b0t-s3cret' }

test('with its own Basic credentials the agent serves anonymous clients, and sends them at once after the first challenge', async t => {
  const registry = await startRegistry({ auth: { kind: 'htpasswd', users: [BOT] } })
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 70_000, seed: 3 }), layerFixture({ size: 5_000, seed: 4 })], auth: BOT })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const dir = await mkdtemp(join(tmpdir(), 'shoal-basic-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const config = join(dir, 'agent.yaml')
  await writeFile(config, `credentials:\n  "${origin.host}": { username: ${BOT.username}, password: ${BOT.password} }\n`)
  const withCreds = await startTestAgent({ upstreams: [origin.url], args: ['--config', config] })
  t.teardown(withCreds.stop)

  const manifest = await request(`${withCreds.url}/v2/team/app/manifests/v1`, { headers: { accept: image.mediaType } })
  t.is(manifest.statusCode, 200)
  t.is(await manifest.body.text(), image.manifest.toString())
  for (const layer of image.layers) {
    const blob = await request(`${withCreds.url}/v2/team/app/blobs/${layer.digest}`)
    t.is(blob.statusCode, 200)
    t.is((await blob.body.arrayBuffer()).byteLength, layer.size)
  }
  const unauthorized = origin.counts.requests.filter(r => r.status === 401)
  t.is(unauthorized.length, 1, 'one challenge, then the credentials go with every request')
})
