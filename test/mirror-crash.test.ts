import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { cidOfDigest, digestOf, parseDigest, pieceCountFor, pieceSizeFor, pieceSpan } from '@shoal/proto'
import { StoreLayout } from '../packages/agent/src/piece-store/layout.ts'
import { PieceStore } from '../packages/agent/src/piece-store/store.ts'
import { layerFixture, pushImage, skopeoCopy, startCountingProxy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import type { CountingProxy, PushedImage } from './fixtures/index.ts'
import { spawnAgentProcess } from './helpers/agent-process.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric, waitFor } from './helpers/http.ts'

const MiB = 1024 * 1024
/** 24 pieces of 1 MiB and a short last one. */
const BIG_LAYER_BYTES = 24 * MiB + 12_345
/** Slow enough that the agent is killed with most of the blob still to come. */
const ORIGIN_BYTES_PER_SECOND = 4 * MiB
/** Received bytes after which the agent is killed: several whole pieces. */
const KILL_AFTER_BYTES = 5 * MiB
/** Longer than the agent's piece commit interval (250 ms) plus an fdatasync. */
const COMMIT_GRACE_MS = 700

async function tempDir (t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `shoal-${prefix}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

interface Crashed {
  origin: CountingProxy
  image: PushedImage
  layer: Buffer
  digest: string
  dataDir: string
}

/**
 * An agent process downloading a big layer from a throttled origin is SIGKILLed once it has
 * received some pieces; returns its data dir as the crash left it.
 */
async function crashMidDownload (t: ExecutionContext, seed: number): Promise<Crashed> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry, { bytesPerSecond: ORIGIN_BYTES_PER_SECOND })
  t.teardown(origin.stop)
  const layer = layerFixture({ size: BIG_LAYER_BYTES, seed })
  const image = await pushImage(registry, { name: 'big/app', tag: 'v1', format: 'oci', layers: [layer, layerFixture({ size: 50_000, seed: seed + 1 })] })
  const digest = image.layers[0]?.digest ?? ''
  const dataDir = await tempDir(t, 'crash-data')

  const agent = await spawnAgentProcess(t, { dataDir, upstreams: [origin.url] })
  const reading = fetchBody(`${agent.url}/v2/big/app/blobs/${digest}`, { signal: AbortSignal.timeout(30_000) })
  await waitFor('the agent to receive several pieces', async () => await scrapeMetric(agent.url, 'shoal_agent_blob_received_bytes_total', { source: 'origin' }) >= KILL_AFTER_BYTES)
  await sleep(COMMIT_GRACE_MS)
  await agent.kill('SIGKILL')

  const cut = await reading
  t.is(cut.status, 200)
  t.truthy(cut.error, 'the body broke off when the agent died')
  t.true(cut.body.length < BIG_LAYER_BYTES, `the client got ${cut.body.length} of ${BIG_LAYER_BYTES} bytes`)
  t.true(origin.counts.requests.filter(r => r.path.endsWith(digest)).every(r => r.bytes < BIG_LAYER_BYTES), 'the origin had not sent the whole blob at the kill')
  return { origin, image, layer, digest, dataDir }
}

function rangeStart (range: string | undefined): number {
  const match = /^bytes=(\d+)-/.exec(range ?? '')
  return match?.[1] == null ? 0 : Number(match[1])
}

test('an agent killed with SIGKILL mid-download resumes the blob with a Range request after restart', async t => {
  const { origin, image, digest, dataDir } = await crashMidDownload(t, 101)
  origin.bytesPerSecond = undefined

  const agent = await spawnAgentProcess(t, { dataDir, upstreams: [origin.url] })
  const dest = await tempDir(t, 'crash-pull')
  await skopeoCopy({ image: `${await deadRegistryHost()}/big/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, image)

  const gets = origin.counts.requests.filter(r => r.method === 'GET' && r.path.endsWith(`/blobs/${digest}`))
  t.is(gets.length, 2, 'one request before the crash, one after')
  const [before, after] = gets
  t.is(before?.range, undefined)
  t.is(after?.status, 206, 'the restarted agent asked for a range')
  const resumedAt = rangeStart(after?.range)
  t.log(`resumed at byte ${resumedAt}; origin sent ${before?.bytes} bytes before the kill`)
  t.true(resumedAt > 0, `the range starts past 0 (${after?.range})`)
  t.is(resumedAt % pieceSizeFor(BIG_LAYER_BYTES), 0, 'it resumes at the first missing piece')
  t.is(after?.bytes, BIG_LAYER_BYTES - resumedAt, 'the second request sent only the rest of the blob')
  const total = gets.reduce((sum, r) => sum + r.bytes, 0)
  t.true(total < 2 * BIG_LAYER_BYTES, `the origin sent ${total} bytes of a ${BIG_LAYER_BYTES}-byte blob`)

  // And the blob is now complete: a second pull is served without the origin.
  origin.mode = 'down'
  // Counted from here: the pull's config blob, fetched ahead when skopeo read the manifest, was served from the store too.
  const localBefore = await scrapeMetric(agent.url, 'shoal_agent_served_bytes_total', { source: 'local' })
  const again = await fetchBody(`${agent.url}/v2/big/app/blobs/${digest}`)
  t.is(again.status, 200)
  t.is(again.error, undefined)
  t.is(digestOf(again.body) as string, digest)
  t.is(await scrapeMetric(agent.url, 'shoal_agent_served_bytes_total', { source: 'local' }) - localBefore, BIG_LAYER_BYTES)
})

test('after SIGKILL the store holds the blob as partial, every indexed piece intact, and never serves it as complete', async t => {
  const { origin, layer, digest: digestString, dataDir } = await crashMidDownload(t, 202)
  const digest = parseDigest(digestString)

  const store = new PieceStore({ dataDir })
  await store.start()
  const record = store.get(digest)
  const layout = new StoreLayout(dataDir)
  try {
    t.is(record?.state, 'partial')
    t.is(record?.size, BIG_LAYER_BYTES)
    t.false(store.isComplete(digest))
    const pieces = record?.pieces ?? []
    t.is(pieces.length, pieceCountFor(BIG_LAYER_BYTES))
    const present = pieces.flatMap((cid, index) => cid == null ? [] : [{ cid, index }])
    t.log(`${present.length} of ${pieces.length} pieces indexed at the kill`)
    t.true(present.length > 0, 'some pieces were committed before the kill')
    t.true(present.length < pieces.length, 'not every piece was committed')
    const file = await readFile(layout.partialFile(digest))
    for (const { cid, index } of present) {
      const span = pieceSpan(BIG_LAYER_BYTES, index)
      const bytes = file.subarray(span.offset, span.offset + span.length)
      t.is(cidOfDigest(digestOf(bytes)).toString(), cid, `piece ${index} hashes to its recorded CID`)
      t.true(bytes.equals(layer.subarray(span.offset, span.offset + span.length)), `piece ${index} holds the blob's bytes`)
    }
    t.false(existsSync(layout.blobFile(digest)), 'no complete blob file')
  } finally {
    await store.stop()
  }

  // With the origin gone, the restarted agent has no way to finish the blob: it must say so,
  // not send the partial file as if it were the blob.
  origin.mode = 'down'
  const agent = await startTestAgent({ upstreams: [origin.url], dataDir })
  t.teardown(agent.stop)
  for (const method of ['GET', 'HEAD'] as const) {
    const res = await fetchBody(`${agent.url}/v2/big/app/blobs/${digest}`, { method })
    t.true(res.status >= 500 && res.status < 600, `${method} of a partial blob with the origin down answers ${res.status}`)
    if (method === 'GET') t.regex(res.body.toString('utf8'), /"code":"UNAVAILABLE"/)
  }
  t.is(agent.agent.store.get(digest)?.state, 'partial', 'the partial blob is kept for a later resume')
  t.false(existsSync(layout.blobFile(digest)))
})
