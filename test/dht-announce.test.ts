import test from 'ava'
import type { ExecutionContext } from 'ava'
import { cidOfDigest, parseDigest } from '@shoal/proto'
import { createP2pNode, loadOrCreatePeerKey, loadSwarmKey } from '@shoal/p2p'
import type { P2pNode } from '@shoal/p2p'
import { waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { LOOPBACK, pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'
import { startTestScheduler } from './helpers/scheduler.ts'
import type { TestAgent } from './helpers/agent.ts'
import { tempDir } from './helpers/temp.ts'

/** The agent's origin reads, slow enough that its 6 MiB layer takes ~6 s. */
const ORIGIN_LIMIT = '1000000'

/** A plain DHT node of the swarm, dialled to `agent`, that only asks who provides what. */
async function dhtNode (t: ExecutionContext, cluster: Cluster, agent: TestAgent): Promise<P2pNode> {
  const node = await createP2pNode({
    privateKey: await loadOrCreatePeerKey(await tempDir(t, 'dht-node')),
    listen: [LOOPBACK],
    swarmKey: await loadSwarmKey(cluster.swarmKey),
    bootstrap: [agent.agent.p2pAddresses[0] ?? '']
  })
  t.teardown(async () => { await node.stop() })
  return node
}

async function providers (node: P2pNode, digest: string): Promise<string[]> {
  const found: string[] = []
  const lookup = node.contentRouting.findProviders(cidOfDigest(parseDigest(digest)), { signal: AbortSignal.timeout(3_000) })
  try {
    for await (const p of lookup) found.push(p.id.toString())
  } catch (err) {
    if ((err as Error).name !== 'AbortError' && (err as Error).name !== 'TimeoutError') throw err
  }
  return found
}

/** Starts `agent`'s pull of layer 0 and waits until it has read 2 MB of it from the origin (a third). */
async function halfway (cluster: Cluster, agent: TestAgent): Promise<{ body: Promise<Buffer>, done: () => boolean }> {
  let done = false
  const body = pullBlob(agent, cluster.digests[0] ?? '')
  body.then(() => { done = true }, () => { done = true })
  await waitFor('2 MB read from the origin', async () => ((await scrapeMetrics(agent.url)).value('shoal_agent_blob_received_bytes_total', { source: 'origin' }) ?? 0) >= 2_000_000)
  return { body, done: () => done }
}

test('an agent that the scheduler directs announces a blob in the DHT after it is whole, not at its first piece', async t => {
  const cluster = await setupCluster(t)
  const scheduler = await startTestScheduler(t, cluster.swarmKey)
  const agent = await startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--origin-limit', ORIGIN_LIMIT], announceQuietMs: 1_000 })
  await waitFor('the agent registered', () => agent.agent.schedulersConnected === 1)
  const node = await dhtNode(t, cluster, agent)
  const self = agent.agent.p2pAddresses[0]?.split('/p2p/')[1] ?? '-'

  const pull = await halfway(cluster, agent)
  t.false((await providers(node, cluster.digests[0] ?? '')).includes(self), 'not announced while the scheduler directs the download')
  t.false(pull.done(), 'still downloading when asked')
  t.is(sha256(await pull.body), sha256(cluster.layers[0] as Buffer))
  await waitFor('announced once whole', async () => (await providers(node, cluster.digests[0] ?? '')).includes(self))
})

test('an agent with no scheduler announces a blob at its first piece: other agents find it mid-download', async t => {
  const cluster = await setupCluster(t)
  const agent = await startPeer(t, cluster, { args: ['--origin-limit', ORIGIN_LIMIT] })
  const node = await dhtNode(t, cluster, agent)
  const self = agent.agent.p2pAddresses[0]?.split('/p2p/')[1] ?? '-'

  const pull = await halfway(cluster, agent)
  await waitFor('announced mid-download', async () => (await providers(node, cluster.digests[0] ?? '')).includes(self))
  t.false(pull.done(), 'still downloading when found')
  t.is(sha256(await pull.body), sha256(cluster.layers[0] as Buffer))
})

test('when its scheduler goes away, an agent announces at once the blobs it held back from the DHT', async t => {
  const cluster = await setupCluster(t)
  const scheduler = await startTestScheduler(t, cluster.swarmKey)
  const agent = await startPeer(t, cluster, { args: ['--scheduler', scheduler.addr], announceQuietMs: 600_000 })
  await waitFor('the agent registered', () => agent.agent.schedulersConnected === 1)
  const node = await dhtNode(t, cluster, agent)
  const self = agent.agent.p2pAddresses[0]?.split('/p2p/')[1] ?? '-'
  const digest = cluster.digests[1] ?? ''

  t.is(sha256(await pullBlob(agent, digest)), sha256(cluster.layers[1] as Buffer))
  t.false((await providers(node, digest)).includes(self), 'held back while the scheduler is there')
  await scheduler.stop()
  await waitFor('announced once the scheduler is gone', async () => (await providers(node, digest)).includes(self))
})
