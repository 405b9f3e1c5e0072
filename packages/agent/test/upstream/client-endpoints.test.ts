import test from 'ava'
import { layerFixture, pushImage, startRegistry } from '../../../../test/fixtures/index.ts'
import { parseUpstream } from '../../src/config/index.ts'
import { UpstreamClient } from '../../src/upstream/client.ts'

test('a body the agent stops reading (dumped, or left after the bytes it wanted) is no failure of the endpoint', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 1024 * 1024, seed: 7 })] })
  const host = new URL(registry.url).host
  const client = new UpstreamClient({ credentials: new Map(), certsDir: '/nonexistent', breaker: { failureThreshold: 2, cooldownMs: 60_000 } })
  t.teardown(async () => { await client.stop() })
  const upstream = parseUpstream('upstreams[0]', registry.url, [host])
  const path = `/v2/team/app/blobs/${image.layers[0]?.digest}`
  for (let i = 0; i < 3; i++) {
    const dumped = await client.send({ registry: upstream, method: 'GET', path })
    t.is(dumped.status, 200)
    await dumped.body.dump()
    const partly = await client.send({ registry: upstream, method: 'GET', path })
    for await (const chunk of partly.body) if ((chunk as Buffer).length > 0) break
  }
  await new Promise(resolve => setTimeout(resolve, 50))
  t.is(client.breaker.describe(upstream.baseUrl.origin).failures, 0, 'no failure counted')
})
