import test from 'ava'
import type { Digest } from '@shoal/proto'
import { pushImage } from '../../../../test/fixtures/index.ts'
import { fetchLayers, resolveImages } from '../../src/prefetch/index.ts'
import type { LayerOutcome, PrefetchLayer } from '../../src/prefetch/index.ts'
import { layers, startCluster, startMirrorProxy } from './helpers.ts'
import type { PrefetchCluster } from './helpers.ts'

const AMD64 = { os: 'linux', architecture: 'amd64' }

async function resolved (cluster: PrefetchCluster, reference: string): Promise<PrefetchLayer[]> {
  const [image] = await resolveImages(cluster.mirror, [{ reference }], { platforms: [AMD64] })
  if (image?.error != null) throw new Error(image.error.message)
  return image?.layers ?? []
}

test('fetchLayers stores every blob in the agent; a second fetch is served from its store', async t => {
  const cluster = await startCluster(t)
  const { registry, origin, agent, mirror } = cluster
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: layers(1, [1_500_000, 200_000, 10]) })
  const wanted = await resolved(cluster, `${origin.host}/team/app:v1`)
  t.is(wanted.length, 4)

  const started: Digest[] = []
  const progress = new Map<Digest, number[]>()
  const done: LayerOutcome[] = []
  const outcomes = await fetchLayers(mirror, wanted, {
    concurrency: 2,
    onStart: digest => { started.push(digest) },
    onBytes: (digest, bytes) => { progress.set(digest, [...progress.get(digest) ?? [], bytes]) },
    onDone: outcome => { done.push(outcome) }
  })
  t.deepEqual(outcomes, wanted.map(layer => ({ digest: layer.digest, bytes: layer.size })))
  t.deepEqual([...started].sort(), wanted.map(l => l.digest).sort())
  t.deepEqual([...done].sort((a, b) => a.digest.localeCompare(b.digest)), [...outcomes].sort((a, b) => a.digest.localeCompare(b.digest)))
  for (const layer of wanted) {
    t.is(agent.agent.store.get(layer.digest)?.state, 'complete', `${layer.digest} is stored`)
    t.is(origin.blobGets(layer.digest), 1, `${layer.digest} came from the origin once`)
    const reports = progress.get(layer.digest) ?? []
    t.is(reports.at(-1), layer.size, 'the last report is the whole blob')
    t.true(reports.every((bytes, i) => i === 0 || bytes > (reports[i - 1] ?? 0)), 'a running total')
    // About one report per 64 KiB, however small the chunks.
    t.true(reports.length <= Math.ceil(layer.size / (64 * 1024)) + 1, `${reports.length} reports for ${layer.size} bytes`)
  }
  t.is(image.layers.length, 3)

  const again = await fetchLayers(mirror, wanted, { concurrency: 4 })
  t.deepEqual(again, outcomes)
  t.is(origin.blobGets(), wanted.length, 'the second fetch left the origin alone')
})

test('at most `concurrency` blob requests are under way at the mirror', async t => {
  const cluster = await startCluster(t)
  const { registry, origin, agent } = cluster
  await pushImage(registry, { name: 'team/many', tag: 'v1', format: 'docker', layers: layers(2, [300_000, 300_000, 300_000, 300_000, 300_000, 300_000]) })
  const wanted = await resolved(cluster, `${origin.host}/team/many:v1`)
  const counter = await startMirrorProxy(agent.url)
  t.teardown(counter.stop)
  // Slow enough that the blobs overlap when nothing holds them back.
  origin.bytesPerSecond = 4 * 1024 * 1024
  const outcomes = await fetchLayers({ url: counter.url }, wanted, { concurrency: 2 })
  t.true(outcomes.every(o => o.error == null), JSON.stringify(outcomes.filter(o => o.error != null)))
  t.is(counter.blobGets, wanted.length)
  t.is(counter.maxInFlight, 2)
})

test('a signal stops everything: layers under way and not started end cancelled, or timeout for a deadline', async t => {
  const cluster = await startCluster(t)
  const { registry, origin, mirror } = cluster
  await pushImage(registry, { name: 'team/big', tag: 'v1', format: 'docker', layers: layers(3, [2_000_000, 2_000_000, 2_000_000]) })
  // Biggest first: the first layer is still under way when its first bytes are reported.
  const wanted = (await resolved(cluster, `${origin.host}/team/big:v1`)).sort((a, b) => b.size - a.size)
  origin.bytesPerSecond = 256 * 1024

  const controller = new AbortController()
  const started = performance.now()
  const outcomes = await fetchLayers(mirror, wanted, {
    concurrency: 1,
    onBytes: () => { controller.abort() },
    signal: controller.signal
  })
  t.true(performance.now() - started < 10_000, 'stopped long before the blobs could arrive')
  t.deepEqual(outcomes.map(o => o.error?.reason), wanted.map(() => 'cancelled'))
  t.true((outcomes[0]?.bytes ?? 0) > 0 && (outcomes[0]?.bytes ?? 0) < (wanted[0]?.size ?? 0), 'the first had started')

  const timedOut = await fetchLayers(mirror, wanted, { concurrency: 2, signal: AbortSignal.timeout(300) })
  t.deepEqual(timedOut.map(o => o.error?.reason), wanted.map(() => 'timeout'))

  const before = origin.blobGets()
  const aborted = new AbortController()
  aborted.abort()
  const calls: string[] = []
  const none = await fetchLayers(mirror, wanted, { concurrency: 2, signal: aborted.signal, onStart: () => { calls.push('start') }, onDone: () => { calls.push('done') } })
  t.deepEqual(none.map(o => o.error?.reason), wanted.map(() => 'cancelled'))
  t.deepEqual(calls, wanted.map(() => 'done'), 'done for each, started for none')
  t.is(origin.blobGets(), before)
})

test('one failure does not stop the others; a blob the origin corrupts never counts as done', async t => {
  const cluster = await startCluster(t)
  const { registry, origin, agent, mirror } = cluster
  await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: layers(4, [400_000]) })
  const good = await resolved(cluster, `${origin.host}/team/app:v1`)
  const missing: PrefetchLayer = { registry: origin.host, repository: 'team/app', digest: `sha256:${'1'.repeat(64)}` as Digest, size: 10 }
  const outcomes = await fetchLayers(mirror, [missing, ...good], { concurrency: 1 })
  t.is(outcomes[0]?.error?.reason, 'not-found', outcomes[0]?.error?.message)
  t.true(outcomes.slice(1).every(o => o.error == null))

  await pushImage(registry, { name: 'team/other', tag: 'v1', format: 'docker', layers: layers(5, [600_000]) })
  const other = await resolved(cluster, `${origin.host}/team/other:v1`)
  origin.mode = 'corrupt-blobs'
  const corrupt = await fetchLayers(mirror, other, { concurrency: 2 })
  for (const outcome of corrupt) {
    t.true(outcome.error?.reason === 'failed' || outcome.error?.reason === 'unavailable', `${outcome.digest}: ${JSON.stringify(outcome.error)}`)
    t.not(agent.agent.store.get(outcome.digest)?.state, 'complete')
  }
})

test('a size that is not the blob\'s is a failure; bad concurrency is refused', async t => {
  const cluster = await startCluster(t)
  const { registry, origin, mirror } = cluster
  await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: layers(6, [50_000]) })
  const [layer] = await resolved(cluster, `${origin.host}/team/app:v1`)
  if (layer == null) throw new Error('no layer')
  const [short] = await fetchLayers(mirror, [{ ...layer, size: layer.size + 1 }], { concurrency: 1 })
  t.is(short?.error?.reason, 'failed', short?.error?.message)
  await t.throwsAsync(fetchLayers(mirror, [layer], { concurrency: 0 }), { name: 'InvalidPrefetchOptionError' })
})
