import test from 'ava'
import { digestOf, parseDigest, pieceSizeFor } from '@shoal/proto'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric, waitFor } from './helpers/http.ts'

const MiB = 1024 * 1024
/** 12 pieces of 1 MiB and a short last one. */
const LAYER_BYTES = 12 * MiB + 4_321
/** Slow enough that the origin drops with most of the blob still to come. */
const ORIGIN_BYTES_PER_SECOND = 4 * MiB
/** Received bytes after which the origin drops: several whole pieces. */
const DROP_AFTER_BYTES = 3 * MiB
/** Longer than the agent's piece commit interval (250 ms) plus an fdatasync. */
const COMMIT_GRACE_MS = 700
/** The origin's circuit cool-down in this test (the default, 30 s, would outlast it). */
const COOLDOWN_MS = 200

function rangeStart (range: string | undefined): number {
  const match = /^bytes=(\d+)-/.exec(range ?? '')
  return match?.[1] == null ? 0 : Number(match[1])
}

test('after the origin drops mid-blob and comes back, the blob resumes from its recorded pieces and every GET gets the right bytes', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry, { bytesPerSecond: ORIGIN_BYTES_PER_SECOND })
  t.teardown(origin.stop)
  const layer = layerFixture({ size: LAYER_BYTES, seed: 61 })
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layer] })
  const digest = parseDigest(image.layers[0]?.digest ?? '')
  // A short cool-down: the failed download opens the origin's circuit, and the test then waits it out.
  const agent = await startTestAgent({ upstreams: [origin.url], args: ['--upstream-cooldown', `${COOLDOWN_MS}ms`] })
  t.teardown(agent.stop)
  const blobUrl = `${agent.url}/v2/team/app/blobs/${digest}`

  const reading = fetchBody(blobUrl, { signal: AbortSignal.timeout(30_000) })
  await waitFor('the agent to receive several pieces', async () => await scrapeMetric(agent.url, 'shoal_agent_blob_received_bytes_total', { source: 'origin' }) >= DROP_AFTER_BYTES)
  await new Promise(resolve => setTimeout(resolve, COMMIT_GRACE_MS))
  origin.mode = 'down'
  const cut = await reading
  t.is(cut.status, 200)
  t.truthy(cut.error, 'the body broke off with the origin')
  await waitFor('the download to fail', async () => await scrapeMetric(agent.url, 'shoal_agent_blob_downloads_total', { result: 'failed' }) >= 1, { timeoutMs: 20_000 })
  const record = agent.agent.store.get(digest)
  t.is(record?.state, 'partial')
  const recorded = record?.pieces.filter(cid => cid != null).length ?? 0
  t.true(recorded >= 2, `${recorded} pieces recorded before the drop`)
  t.false(agent.agent.store.isPinned(digest), 'nobody uses the failed partial: it can be evicted')

  origin.mode = 'pass'
  origin.bytesPerSecond = undefined
  origin.reset()
  // The failures opened the origin's circuit: past its cool-down, the next request is its probe.
  await new Promise(resolve => setTimeout(resolve, 2 * COOLDOWN_MS))
  // containerd's resume: a Range from the middle, under ?ns=.
  const from = 5 * MiB + 7
  const resumed = await fetchBody(`${blobUrl}?ns=${origin.host}`, { headers: { range: `bytes=${from}-` } })
  t.is(resumed.error, undefined)
  t.is(resumed.status, 206)
  t.is(resumed.headers['content-range'], `bytes ${from}-${LAYER_BYTES - 1}/${LAYER_BYTES}`)
  t.true(resumed.body.equals(layer.subarray(from)), 'the ranged body is the blob from the asked byte')
  const gets = origin.counts.requests.filter(r => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`))
  t.is(gets.length, 1, 'one request to the origin after it came back')
  t.is(rangeStart(gets[0]?.range), recorded * pieceSizeFor(LAYER_BYTES), 'it resumed at the first piece not recorded')

  const whole = await fetchBody(blobUrl)
  t.is(whole.error, undefined)
  t.is(whole.status, 200)
  t.is(digestOf(whole.body) as string, digest)
  const ranged = await fetchBody(blobUrl, { headers: { range: 'bytes=100-199' } })
  t.is(ranged.status, 206)
  t.true(ranged.body.equals(layer.subarray(100, 200)))
  t.is(agent.agent.store.get(digest)?.state, 'complete')
})
