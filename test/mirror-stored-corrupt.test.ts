import { open } from 'node:fs/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { digestHex, digestOf, parseDigest } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from './fixtures/index.ts'
import type { CountingProxy } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'
import type { TestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric, waitFor } from './helpers/http.ts'

const BLOB_BYTES = 3 * 1024 * 1024 + 17
/** Where the 4 flipped bytes start: in the middle of the blob. */
const FLIP_AT = 1_500_000

async function tempDir (t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `shoal-${prefix}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Flips 4 bytes of a file in place, as a bad disk or a stray write would. */
async function flip4 (path: string, at: number): Promise<void> {
  const file = await open(path, 'r+')
  try {
    const bytes = Buffer.alloc(4)
    await file.read(bytes, 0, 4, at)
    for (let i = 0; i < 4; i++) bytes[i] = (bytes[i] ?? 0) ^ 0xff
    await file.write(bytes, 0, 4, at)
  } finally {
    await file.close()
  }
}

interface Setup {
  origin: CountingProxy
  layer: Buffer
  digest: Digest
  dataDir: string
}

async function setup (t: ExecutionContext, seed: number): Promise<Setup> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const layer = layerFixture({ size: BLOB_BYTES, seed })
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layer] })
  return { origin, layer, digest: parseDigest(image.layers[0]?.digest ?? ''), dataDir: await tempDir(t, 'stored-corrupt') }
}

async function startAgent (t: ExecutionContext, s: Setup): Promise<TestAgent> {
  const agent = await startTestAgent({ upstreams: [s.origin.url], dataDir: s.dataDir })
  t.teardown(agent.stop)
  return agent
}

/** Pulls the blob once so the store holds it complete. */
async function fill (t: ExecutionContext, agent: TestAgent, s: Setup): Promise<void> {
  const first = await fetchBody(`${agent.url}/v2/team/app/blobs/${s.digest}`)
  t.is(first.error, undefined)
  t.true(first.body.equals(s.layer))
  t.is(agent.agent.store.get(s.digest)?.state, 'complete')
}

const blobFile = (s: Setup): string => join(s.dataDir, 'blobs', 'sha256', digestHex(s.digest))
const storedMismatches = async (agent: TestAgent): Promise<number> => scrapeMetric(agent.url, 'shoal_agent_digest_mismatches_total', { kind: 'stored' })

/** A whole-blob GET of the corrupt file breaks off short; the blob is dropped; the next GET is right, from the origin. */
async function assertCaughtAndRefetched (t: ExecutionContext, agent: TestAgent, s: Setup): Promise<void> {
  const url = `${agent.url}/v2/team/app/blobs/${s.digest}`
  const bad = await fetchBody(url)
  t.is(bad.status, 200)
  t.truthy(bad.error, 'the body breaks off instead of ending')
  t.true(bad.body.length < BLOB_BYTES, `the client got ${bad.body.length} of ${BLOB_BYTES} bytes`)
  t.is(await storedMismatches(agent), 1)
  t.is(agent.agent.store.get(s.digest), undefined, 'the corrupt blob was dropped')

  const good = await fetchBody(url)
  t.is(good.error, undefined)
  t.is(good.status, 200)
  t.is(digestOf(good.body), s.digest)
  t.is(s.origin.blobGets(s.digest), 1, 'fetched again from the origin')
  t.is(agent.agent.store.get(s.digest)?.state, 'complete')
  const again = await fetchBody(url)
  t.is(digestOf(again.body), s.digest, 'and served from the store after that')
  t.is(s.origin.blobGets(s.digest), 1)
  t.is(await storedMismatches(agent), 1)
}

test('a complete blob corrupted on disk is never sent whole, is dropped, and the next GET gets the right bytes from the origin', async t => {
  const s = await setup(t, 71)
  const agent = await startAgent(t, s)
  await fill(t, agent, s)
  await flip4(blobFile(s), FLIP_AT)
  s.origin.reset()
  await assertCaughtAndRefetched(t, agent, s)
})

/** The blob pulled by an agent that is then stopped, 4 bytes flipped on disk, and a new agent on the same data dir. */
async function flippedWhileStopped (t: ExecutionContext, s: Setup): Promise<TestAgent> {
  const before = await startTestAgent({ upstreams: [s.origin.url], dataDir: s.dataDir })
  await fill(t, before, s)
  await before.stop()
  await flip4(blobFile(s), FLIP_AT)
  return startAgent(t, s)
}

test('a blob corrupted on disk while the agent was stopped is caught on the first GET after the restart', async t => {
  const s = await setup(t, 72)
  const agent = await flippedWhileStopped(t, s)
  t.is(agent.agent.store.get(s.digest)?.state, 'complete', 'the restarted store still lists it: nothing has read it yet')
  s.origin.reset()
  await assertCaughtAndRefetched(t, agent, s)
})

test('a Range request of a corrupted blob is answered with the right bytes: the blob is verified first, dropped and fetched again', async t => {
  const s = await setup(t, 73)
  const agent = await flippedWhileStopped(t, s)
  s.origin.reset()
  const url = `${agent.url}/v2/team/app/blobs/${s.digest}`
  // containerd's resume after a broken body, from before the flipped bytes.
  const from = FLIP_AT - 1000
  const resumed = await fetchBody(url, { headers: { range: `bytes=${from}-` } })
  t.is(resumed.error, undefined)
  t.is(resumed.status, 206)
  t.is(resumed.headers['content-range'], `bytes ${from}-${BLOB_BYTES - 1}/${BLOB_BYTES}`)
  t.true(resumed.body.equals(s.layer.subarray(from)), 'the range holds the origin\'s bytes, not the flipped ones')
  t.is(await storedMismatches(agent), 1)
  t.is(s.origin.blobGets(s.digest), 1)

  // The same with the agent running: the flip changes the file, so its earlier verification no longer counts.
  await flip4(blobFile(s), FLIP_AT)
  const part = await fetchBody(url, { headers: { range: `bytes=${FLIP_AT}-${FLIP_AT + 99}` } })
  t.is(part.status, 206)
  t.true(part.body.equals(s.layer.subarray(FLIP_AT, FLIP_AT + 100)))
  t.is(await storedMismatches(agent), 2)
  // The proxy records a request when its response has ended; the client got its range before that.
  await waitFor('the refetch recorded by the origin', () => s.origin.blobGets(s.digest) >= 2, { timeoutMs: 10_000 })
  t.is(s.origin.blobGets(s.digest), 2)

  // A range of an intact blob verified once costs no origin request.
  const tail = await fetchBody(url, { headers: { range: 'bytes=-10' } })
  t.true(tail.body.equals(s.layer.subarray(BLOB_BYTES - 10)))
  t.is(s.origin.blobGets(s.digest), 2)
})
