import test from 'ava'
import { startTestAgent } from './helpers/agent.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { LOOPBACK, pullBlob, setupCluster, sha256, startPeer, writeSwarmKey } from './helpers/p2p-cluster.ts'
import { tempDir } from './helpers/temp.ts'

const peerIdOf = (addr: string): string => addr.slice(addr.lastIndexOf('/p2p/') + '/p2p/'.length)

test('hosts without the swarm key, or with another one, cannot connect: they pull from the origin and the swarm never lists them', async t => {
  const cluster = await setupCluster(t)
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  const first = await startPeer(t, cluster)
  t.is(sha256(await pullBlob(first, digest)), sha256(layer))
  const second = await startPeer(t, cluster, { bootstrap: first })
  // Both dial agent 1 during start(): when it returns, the attempt is over (a failed bootstrap dial is logged, not fatal).
  const keyless = await startPeer(t, cluster, { bootstrap: first, swarmKey: null })
  const otherKey = await startPeer(t, cluster, { bootstrap: first, swarmKey: await writeSwarmKey(t) })

  for (const host of [keyless, otherKey]) {
    const before = cluster.origin.blobGets(digest)
    t.is(sha256(await pullBlob(host, digest)), sha256(layer), `${host.url} pulls from the origin`)
    t.is(cluster.origin.blobGets(digest), before + 1)
    const m = await scrapeMetrics(host.url)
    t.is(m.value('shoal_agent_peers_connected'), 0, `${host.url} has no peer`)
    t.is(m.value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), 0)
    t.is(m.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), layer.byteLength)
  }
  const outsiders = new Set([keyless, otherKey].map(h => peerIdOf(h.agent.p2pAddresses[0] ?? '')))
  for (const keyed of [first, second]) {
    const m = await scrapeMetrics(keyed.url)
    t.is(m.value('shoal_agent_peers_connected'), 1, `${keyed.url} is connected to the other keyed agent only`)
    t.is(m.value('shoal_agent_peer_pieces_served_total'), 0, 'nothing served to a host without the key')
  }
  const firstPeers = await first.agent.knownPeers()
  t.deepEqual(firstPeers.filter(p => outsiders.has(p)), [], 'no outsider in agent 1\'s peer store')
  t.true(firstPeers.includes(peerIdOf(second.agent.p2pAddresses[0] ?? '')))
})

test('4 agents pull the same cold blob at the same moment: every one gets the right bytes, and the origin sends it fewer than 2 times', async t => {
  const cluster = await setupCluster(t)
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  const first = await startPeer(t, cluster)
  const others = await Promise.all([1, 2, 3].map(async () => startPeer(t, cluster, { bootstrap: first })))
  const agents = [first, ...others]
  const egressBefore = cluster.origin.egressBytes
  const bodies = await Promise.all(agents.map(async agent => pullBlob(agent, digest)))
  for (const [i, body] of bodies.entries()) t.is(sha256(body), sha256(layer), `agent ${i + 1}`)
  for (const agent of agents) t.true(agent.agent.store.isComplete(digest as never))
  // Only this blob's bodies go through the proxy here (HEADs have none).
  const originBytes = cluster.origin.egressBytes - egressBefore
  const received = await Promise.all(agents.map(async a => (await scrapeMetrics(a.url)).value('shoal_agent_blob_received_bytes_total', { source: 'origin' })))
  t.is(received.reduce((a, b) => a + b, 0), originBytes, 'the agents\' origin bytes add up to what the origin sent')
  t.log(`origin sent ${originBytes} bytes for a ${layer.byteLength}-byte blob (${(originBytes / layer.byteLength).toFixed(2)}x); per agent ${received.join(', ')}`)
  // They miss the DHT, or find only each other's claims: the claimers split the blob's pieces between them.
  t.true(originBytes < 2 * layer.byteLength, `origin sent ${originBytes} bytes`)
})

test('an agent restarted on its data dir announces the blobs it holds again: a new peer pulls from it, not from the origin', async t => {
  const cluster = await setupCluster(t)
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  const dataDir = await tempDir(t, 'p2p-restart')
  const args = ['--p2p-listen', LOOPBACK, '--swarm-key', cluster.swarmKey]
  const before = await startTestAgent({ upstreams: [cluster.origin.url], dataDir, args })
  t.is(sha256(await pullBlob(before, digest)), sha256(layer))
  await before.stop()

  const after = await startTestAgent({ upstreams: [cluster.origin.url], dataDir, args })
  t.teardown(after.stop)
  const newcomer = await startPeer(t, cluster, { bootstrap: after })
  t.is(sha256(await pullBlob(newcomer, digest)), sha256(layer))
  t.is(cluster.origin.blobGets(digest), 1, 'the newcomer took the blob from the restarted agent')
  t.is((await scrapeMetrics(newcomer.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), layer.byteLength)
})
