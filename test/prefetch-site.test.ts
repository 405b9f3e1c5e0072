import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, skopeoCopy, startCountingProxy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import type { CountingProxy, PushedImage } from './fixtures/index.ts'
import { fetchBody, waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { startPeer, writeSwarmKey } from './helpers/p2p-cluster.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'
import type { TestAgent } from './helpers/agent.ts'
import type { Digest } from '@shoal/proto'
import type { JobView } from '@shoal/scheduler'
import { getJob, originBlobBytes, runPrefetchCommand, siteHolds } from './helpers/prefetch-jobs.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

const MiB = 1024 * 1024
/** The piece size of blobs up to 16 MiB (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024

test('shoal prefetch of an image and of a tag filter to a site of 3 agents: every agent holds a stripe of every layer\'s pieces, the origin sends each piece about once, a later skopeo pull on any agent takes no blob from the origin', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const [a, b, c, d, e] = [1, 2, 3, 4, 5].map(seed => layerFixture({ size: 16 * PIECE + seed, seed: 40 + seed })) as [Buffer, Buffer, Buffer, Buffer, Buffer]
  const base = await pushImage(registry, { name: 'lib/base', tag: '1', format: 'oci', layers: [e] })
  const v10 = await pushImage(registry, { name: 'lib/app', tag: 'v1.0', format: 'oci', layers: [a, b] })
  const v11 = await pushImage(registry, { name: 'lib/app', tag: 'v1.1', format: 'docker', layers: [a, c] })
  const v20 = await pushImage(registry, { name: 'lib/app', tag: 'v2.0', format: 'oci', layers: [d] })
  origin.reset()

  const cluster: Cluster = { origin, image: v10, layers: [], digests: [], swarmKey: await writeSwarmKey(t) }
  const scheduler = await spawnScheduler(t, { dataDir: await tempDir(t, 'scheduler'), swarmKey: cluster.swarmKey })
  const site = await Promise.all([0, 1, 2].map(async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--site', 'edge'] })))
  const elsewhere = await startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--site', 'hq'] })
  await waitFor('agents registered', () => [...site, elsewhere].every(x => x.agent.schedulersConnected === 1))

  // The operator's command: one pinned image and a repository with a tag filter, to the site.
  const run = await runPrefetchCommand([`${origin.host}/lib/base:1`, `${origin.host}/lib/app`, '--tags', 'v1.*', '--scheduler', scheduler.admin, '--admin-token-file', scheduler.adminTokenFile, '--scope', 'site:edge', '--json'])
  t.is(run.code, 0, run.stderr)
  const summary = JSON.parse(run.stdout) as { ok: boolean, job: JobView }
  t.true(summary.ok)
  const job = summary.job
  t.is(job.scope, 'site:edge')
  t.is(job.state, 'done', JSON.stringify(job.error ?? job.layers.flatMap(l => l.targets.map(x => x.error)).filter(Boolean)))
  t.deepEqual((await getJob(scheduler, job.id)).state, 'done', 'the scheduler keeps the job')
  t.regex((await fetchBody(`${scheduler.admin}/metrics`)).body.toString(), /^shoal_scheduler_prefetch_jobs\{state="done"\} 1$/m)
  t.deepEqual(job.images.map(i => i.reference).sort(), [`${origin.host}/lib/app:v1.0`, `${origin.host}/lib/app:v1.1`, `${origin.host}/lib/base:1`])
  t.true(job.images.every(i => i.error == null))

  // Every blob of the three images (configs too), each once; v2.0 is not in the filter.
  const wanted = new Map<string, number>()
  for (const image of [base, v10, v11]) {
    wanted.set(image.configDigest, image.config.byteLength)
    for (const layer of image.layers) wanted.set(layer.digest, layer.size)
  }
  t.deepEqual(job.layers.map(l => l.digest).sort(), [...wanted.keys()].sort())
  t.is(job.spread, 'pieces', 'a site is shared out by pieces unless asked otherwise')
  const siteIds = new Set(site.map(x => x.agent.p2pAddresses[0]?.split('/p2p/')[1]))
  t.true(job.layers.every(l => l.targets.every(x => x.state === 'done' && siteIds.has(x.agent))), 'only agents of the site were given shares, all done')
  t.is(job.totals.layersDone, wanted.size)
  t.is(job.totals.bytes, job.totals.bytesDone)
  t.is(job.totals.bytes, [...wanted.values()].reduce((x, y) => x + y, 0), 'the shares add up to the blobs, once each')
  for (const layer of job.layers.filter(l => l.size > PIECE)) {
    // 16 pieces and a few bytes: 17 pieces in 9 runs of 2 (ORIGIN_MIN_RUNS; the last one piece), a stripe of 3 runs on each of the 3 agents; no agent holds the layer whole.
    t.deepEqual(layer.targets.map(x => x.stripe?.count), [3, 3, 3], layer.digest)
    t.is(new Set(layer.targets.map(x => x.agent)).size, 3)
    t.deepEqual(site.map(x => x.agent.store.get(layer.digest as Digest)?.pieces.filter(cid => cid != null).length).sort((x, y) => (x ?? 0) - (y ?? 0)), [5, 6, 6], 'three runs of pieces on each agent')
  }
  for (const layer of job.layers.filter(l => l.size <= PIECE)) t.deepEqual(layer.targets.map(x => x.stripe), [undefined], 'a config of one piece: whole, on one agent')
  for (const digest of wanted.keys()) t.true(siteHolds(site, digest), `the site holds every piece of ${digest}`)
  t.is(elsewhere.agent.store.list().length, 0, 'the agent of another site fetched nothing')
  t.is(origin.blobGets(v20.layers[0]?.digest), 0, 'a tag outside the filter is not fetched')
  const imageBytes = [...wanted.values()].reduce((x, y) => x + y, 0)
  const prefetched = originBlobBytes(origin)
  t.log(`origin sent ${prefetched} blob bytes for ${imageBytes} bytes of blobs (${(prefetched / imageBytes).toFixed(2)}x)`)
  t.true(prefetched <= 1.05 * imageBytes, `the origin sent ${(prefetched / imageBytes).toFixed(2)}x the blobs`)

  // The rollout: each site agent pulls an image with skopeo; no blob comes from the origin.
  const served = async (agent: TestAgent): Promise<Record<string, number>> => {
    const m = await scrapeMetrics(agent.url)
    return Object.fromEntries(['local', 'origin', 'peer'].map(source => [source, m.value('shoal_agent_served_bytes_total', { source })]))
  }
  const before = await Promise.all(site.map(served))
  const dest = await tempDir(t, 'rollout')
  await Promise.all(site.map(async (agent, i) => {
    const image = [v10, v11, base][i] ?? v10
    const dir = join(dest, String(i))
    await mkdir(dir)
    await skopeoCopy({ image: `${origin.host}/${image.name}:${image.tag}`, mirror: agent.host, destDir: dir })
    await verifyDirImage(dir, image)
  }))
  t.is(originBlobBytes(origin), prefetched, 'the rollout took no blob bytes from the origin')
  // Each agent served its client its own stripes from its store and the rest from its peers.
  for (const [i, agent] of site.entries()) {
    const now = await served(agent)
    const delta = (source: string): number => (now[source] ?? 0) - (before[i]?.[source] ?? 0)
    t.true(delta('local') > 0 && delta('peer') > 0, `agent ${i + 1}: from its store ${delta('local')} bytes, from peers ${delta('peer')}`)
    t.is(delta('origin'), 0, `agent ${i + 1} served nothing in the rollout as from the origin`)
  }
})

/** Images of lib/app (`tags` to its layers) in a registry behind a counting proxy, a scheduler, and `agents` agents of site edge. */
async function edgeSite (t: ExecutionContext, tags: Record<string, Buffer[]>, agents: number, args: string[] = []): Promise<{ origin: CountingProxy, images: Record<string, PushedImage>, site: TestAgent[], prefetch: (tag: string, more?: string[]) => Promise<JobView> }> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const images: Record<string, PushedImage> = {}
  for (const [tag, layers] of Object.entries(tags)) images[tag] = await pushImage(registry, { name: 'lib/app', tag, format: 'oci', layers })
  origin.reset()
  const cluster: Cluster = { origin, image: Object.values(images)[0] as PushedImage, layers: [], digests: [], swarmKey: await writeSwarmKey(t) }
  const scheduler = await spawnScheduler(t, { dataDir: await tempDir(t, 'scheduler'), swarmKey: cluster.swarmKey })
  const site = await Promise.all(Array.from({ length: agents }, async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--site', 'edge', ...args] })))
  await waitFor('agents registered', () => site.every(x => x.agent.schedulersConnected === 1))
  // The operator's command for lib/app:TAG to the site; it must succeed.
  const prefetch = async (tag: string, more: string[] = []): Promise<JobView> => {
    const run = await runPrefetchCommand([`${origin.host}/lib/app:${tag}`, '--scheduler', scheduler.admin, '--admin-token-file', scheduler.adminTokenFile, '--scope', 'site:edge', ...more, '--json'])
    if (run.code !== 0) throw new Error(`shoal prefetch lib/app:${tag} exited with ${run.code}: ${run.stderr}${run.stdout}`)
    return (JSON.parse(run.stdout) as { job: JobView }).job
  }
  return { origin, images, site, prefetch }
}

test('shoal prefetch --spread blobs to a site of 2 agents: one whole copy of each blob in the site, spread over its agents', async t => {
  const { origin, site, prefetch } = await edgeSite(t, { v1: [1, 2].map(seed => layerFixture({ size: 2 * MiB + seed, seed: 60 + seed })) }, 2)
  const job = await prefetch('v1', ['--spread', 'blobs'])
  t.is(job.state, 'done')
  t.is(job.spread, 'blobs')
  t.true(job.layers.every(l => l.targets.length === 1 && l.targets[0]?.state === 'done' && l.targets[0].stripe == null), 'one whole copy of each, done')
  t.true(job.agents.filter(x => x.layers > 0).length === 2, 'the copies are spread over the site')
  for (const layer of job.layers) t.is(site.filter(x => x.agent.store.isComplete(layer.digest as Digest)).length, 1, `${layer.digest} whole on one agent`)
  t.true(originBlobBytes(origin) <= 1.05 * job.totals.bytes)
})

test('placed by pieces with --share-private anonymous: the stripes of a blob the origin serves to anyone are shared, so a pull takes no blob from the origin', async t => {
  const { origin, images, site, prefetch } = await edgeSite(t, { v1: [layerFixture({ size: 3 * MiB + 1, seed: 71 })] }, 2, ['--share-private', 'anonymous'])
  const image = images.v1 as PushedImage
  const layer = (await prefetch('v1')).layers.find(l => l.digest === image.layers[0]?.digest)
  t.deepEqual(layer?.targets.map(x => x.stripe?.count), [2, 2], 'the layer in two stripes')
  const prefetched = originBlobBytes(origin)

  const dir = await tempDir(t, 'rollout')
  await skopeoCopy({ image: `${origin.host}/lib/app:v1`, mirror: site[0]!.host, destDir: dir })
  await verifyDirImage(dir, image)
  t.is(originBlobBytes(origin), prefetched, 'the other stripe came from the peer that holds it')
})

test('placed by pieces, a second job of an image that shares a base layer finds its stripes held: the origin sends only what is new', async t => {
  const base = layerFixture({ size: 3 * MiB + 3, seed: 81 })
  const { origin, images, prefetch } = await edgeSite(t, { v1: [base, layerFixture({ size: 2 * MiB + 1, seed: 82 })], v2: [base, layerFixture({ size: 2 * MiB + 2, seed: 83 })] }, 3)
  const [first, second] = [images.v1, images.v2] as [PushedImage, PushedImage]
  const one = await prefetch('v1')
  const afterFirst = originBlobBytes(origin)
  const two = await prefetch('v2')
  const baseDigest = first.layers[0]?.digest
  const stripesOf = (job: JobView): string[] => (job.layers.find(l => l.digest === baseDigest)?.targets ?? []).map(x => `${x.agent}:${x.stripe?.index ?? '-'}/${x.stripe?.count ?? '-'}`).sort()
  t.deepEqual(stripesOf(two), stripesOf(one), 'the base layer has the same stripes on the same agents in both jobs')
  const fresh = (second.layers[1]?.size ?? 0) + second.config.byteLength
  t.is(originBlobBytes(origin) - afterFirst, fresh, 'the second job read only its new layer and config from the origin')
})
