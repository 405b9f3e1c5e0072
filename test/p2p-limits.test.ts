import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { TestAgent } from './helpers/agent.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'

/** The limit in these tests, in bytes per second; the flags take the same number. */
const RATE = 4_000_000
/** A limiter lets one burst through at once: 40 ms at the rate, at least 64 KiB. */
const BURST = Math.max(64 * 1024, RATE * 0.04)

/**
 * Pulls the cluster's first layer (6 MiB) and checks the bytes. A limit is a floor on the time,
 * whatever the machine: (size - one burst) / rate. Lower bounds only; how fast an unlimited
 * pull is belongs to bench/.
 */
async function timedPull (t: ExecutionContext, cluster: Cluster, agent: TestAgent): Promise<number> {
  const started = performance.now()
  const body = await pullBlob(agent, cluster.digests[0] as string)
  const seconds = (performance.now() - started) / 1000
  t.is(sha256(body), sha256(cluster.layers[0] as Buffer))
  const floor = (body.byteLength - BURST) / RATE
  t.log(`${body.byteLength} bytes in ${seconds.toFixed(2)} s (${(body.byteLength / seconds / 1e6).toFixed(1)} MB/s; the limit allows no less than ${floor.toFixed(2)} s)`)
  t.true(seconds >= 0.95 * floor, `${seconds.toFixed(2)} s is faster than the limit allows`)
  return seconds
}

test('--origin-limit paces blob bytes from the origin', async t => {
  const cluster = await setupCluster(t)
  const agent = await startPeer(t, cluster, { args: ['--origin-limit', String(RATE)] })
  await timedPull(t, cluster, agent)
  t.is((await scrapeMetrics(agent.url)).value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), (cluster.layers[0] as Buffer).byteLength)
})

test('--upload-limit paces the pieces an agent sends to peers', async t => {
  const cluster = await setupCluster(t)
  const holder = await startPeer(t, cluster, { args: ['--upload-limit', String(RATE)] })
  await pullBlob(holder, cluster.digests[0] as string)
  const puller = await startPeer(t, cluster, { bootstrap: holder })
  await timedPull(t, cluster, puller)
  t.is((await scrapeMetrics(puller.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), (cluster.layers[0] as Buffer).byteLength)
})

test('--download-limit paces the pieces an agent takes from peers', async t => {
  const cluster = await setupCluster(t)
  const holder = await startPeer(t, cluster)
  await pullBlob(holder, cluster.digests[0] as string)
  const puller = await startPeer(t, cluster, { bootstrap: holder, args: ['--download-limit', String(RATE)] })
  await timedPull(t, cluster, puller)
  t.is((await scrapeMetrics(puller.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), (cluster.layers[0] as Buffer).byteLength)
})
