import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { request } from 'undici'
import { layerFixture, pushImage, startRegistry } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'

const MB = 1_000_000

async function setup (t: { teardown: (fn: () => Promise<void>) => void }, sizes: number[], args: string[]) {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'gc/app', tag: 'v1', format: 'oci', layers: sizes.map((size, i) => layerFixture({ size, seed: i + 1 })) })
  const agent = await startTestAgent({ upstreams: [registry.url], args })
  t.teardown(agent.stop)
  const get = async (digest: string): Promise<void> => {
    const res = await request(`${agent.url}/v2/gc/app/blobs/${digest}`)
    if (res.statusCode !== 200) throw new Error(`GET ${digest}: ${res.statusCode}`)
    await res.body.arrayBuffer() // read to the end: the blob is complete once its last byte is out
    await sleep(5) // distinct access times
  }
  return { agent, digests: image.layers.map(l => l.digest), get }
}

test('above the high watermark GC evicts least recently used blobs down to the low watermark', async t => {
  const { agent, digests, get } = await setup(t, [3 * MB, 3 * MB, 3 * MB], ['--storage-quota', '10MB', '--gc-high-watermark', '0.85', '--gc-low-watermark', '0.6'])
  const [d0, d1, d2] = digests as [string, string, string]
  await get(d0)
  await get(d1)
  t.is(await agent.agent.collectGarbage(), 0, '6 MB of 10 MB is under the high watermark')
  await get(d0) // d1 is now the least recently used
  await get(d2) // 9 MB > 8.5 MB
  await agent.agent.collectGarbage()
  const store = agent.agent.store
  t.true(store.isComplete(d0 as never))
  t.false(store.isComplete(d1 as never), 'the least recently used blob went')
  t.true(store.isComplete(d2 as never))
  t.true(store.usedBytes() <= 6 * MB)
  const metrics = await (await request(`${agent.url}/metrics`)).body.text()
  t.regex(metrics, /shoal_agent_gc_evictions_total\{reason="lru"\} 1/)
  // An evicted blob is fetched again on demand.
  await get(d1)
  t.true(store.isComplete(d1 as never))
})

test('the age limit evicts unused blobs, but never one being served', async t => {
  // The age limit is long enough that the big blob cannot age out (by a pass its own completion
  // triggers, late on a loaded machine) before the second request pins it.
  const { agent, digests, get } = await setup(t, [1 * MB, 48 * MB], ['--gc-max-age', '1500ms'])
  const [small, big] = digests as [string, string]
  await get(small)
  await get(big)
  // A client that reads nothing keeps the big blob's response open (and the blob pinned).
  const reading = await request(`${agent.url}/v2/gc/app/blobs/${big}`, { highWaterMark: 1 })
  t.true(agent.agent.store.isComplete(big as never), 'the big blob was served from the store')
  await sleep(1600)
  await agent.agent.collectGarbage()
  t.false(agent.agent.store.isComplete(small as never), 'the unused blob aged out')
  t.true(agent.agent.store.isComplete(big as never), 'the blob being served stays')
  await reading.body.dump()
})
