import { open } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { request } from 'undici'
import { pieceCountFor, pieceSizeFor } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { skopeoCopy, verifyDirImage } from './fixtures/index.ts'
import { deadRegistryHost } from './helpers/agent.ts'
import type { TestAgent } from './helpers/agent.ts'
import { startLyingPeer } from './helpers/lying-peer.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { tempDir } from './helpers/temp.ts'
import { pullBlob, setupCluster as setup, sha256, startPeer as startCluster } from './helpers/p2p-cluster.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'

const startPeer = async (t: ExecutionContext, cluster: Cluster, bootstrap?: TestAgent): Promise<TestAgent> => startCluster(t, cluster, { bootstrap })

test('agents 2-4 pull an image agent 1 pulled from peers: the origin sends each layer once', async t => {
  const cluster = await setup(t)
  const first = await startPeer(t, cluster)
  t.regex(first.agent.p2pAddresses[0] ?? '', /^\/ip4\/127\.0\.0\.1\/tcp\/\d+\/p2p\/12D3Koo/)
  for (const [i, digest] of cluster.digests.entries()) t.is(sha256(await pullBlob(first, digest)), sha256(cluster.layers[i] as Buffer))
  const others = await Promise.all([1, 2, 3].map(async () => startPeer(t, cluster, first)))
  await Promise.all(others.map(async agent => {
    for (const [i, digest] of cluster.digests.entries()) t.is(sha256(await pullBlob(agent, digest)), sha256(cluster.layers[i] as Buffer))
  }))
  for (const digest of cluster.digests) {
    t.is(cluster.origin.blobGets(digest), 1, `origin GETs of ${digest}`)
    for (const agent of [first, ...others]) t.true(agent.agent.store.isComplete(digest as never), `${agent.url} holds ${digest}`)
  }
  const total = cluster.layers.reduce((n, l) => n + l.byteLength, 0)
  const pieces = cluster.layers.reduce((n, l) => n + pieceCountFor(l.byteLength), 0)
  const firstMetrics = await scrapeMetrics(first.url)
  t.is(firstMetrics.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), total)
  t.is(firstMetrics.value('shoal_agent_served_bytes_total', { source: 'origin' }), total)
  t.true(firstMetrics.value('shoal_agent_peer_served_bytes_total') > 0, 'agent 1 served pieces to peers')
  t.true(firstMetrics.value('shoal_agent_peer_pieces_served_total') > 0)
  let servedToPeers = firstMetrics.value('shoal_agent_peer_served_bytes_total')
  for (const agent of others) {
    const m = await scrapeMetrics(agent.url)
    servedToPeers += m.value('shoal_agent_peer_served_bytes_total')
    t.is(m.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), 0, `${agent.url} took no blob bytes from the origin`)
    t.is(m.value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), total, `${agent.url} took every blob byte from peers`)
    t.is(m.value('shoal_agent_served_bytes_total', { source: 'peer' }), total, `${agent.url} served its client from peers`)
    t.is(m.value('shoal_agent_peer_pieces_fetched_total', { result: 'ok' }), pieces, 'one request per piece')
    t.is(m.value('shoal_agent_peer_bad_pieces_total'), 0)
    t.true(m.value('shoal_agent_peers_connected') >= 1, 'connected to at least agent 1')
    t.true(m.value('shoal_agent_dht_lookups_total', { result: 'found' }) >= 2, 'a DHT lookup found each layer\'s holders')
    t.true(m.value('shoal_agent_dht_lookup_seconds_count') >= 2)
  }
  t.is(servedToPeers, 3 * total, 'what agents 2-4 received, the agents served to each other')
})

test('skopeo through 4 agents: the first pulls the image, the other three pull it at once, and the origin sees no second blob GET', async t => {
  const cluster = await setup(t)
  const { image } = cluster
  const ref = `${await deadRegistryHost()}/lib/p2p:v1`
  const first = await startPeer(t, cluster)
  const dest = await tempDir(t, 'p2p-skopeo')
  await skopeoCopy({ image: ref, mirror: first.host, destDir: dest })
  await verifyDirImage(dest, image)
  const others = await Promise.all([1, 2, 3].map(async () => startPeer(t, cluster, first)))
  await Promise.all(others.map(async (agent, i) => {
    const dir = await tempDir(t, `p2p-skopeo-${i + 2}`)
    await skopeoCopy({ image: ref, mirror: agent.host, destDir: dir })
    await verifyDirImage(dir, image)
  }))
  for (const digest of [...image.layers.map(l => l.digest), image.configDigest]) t.is(cluster.origin.blobGets(digest), 1, `origin GETs of ${digest}`)
  for (const agent of others) {
    const m = await scrapeMetrics(agent.url)
    t.is(m.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), 0, `${agent.url} took no blob bytes from the origin`)
  }
})

test('a piece corrupted on the only peer\'s disk comes from the origin, and the blob is still right', async t => {
  const cluster = await setup(t)
  const first = await startPeer(t, cluster)
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  t.is(sha256(await pullBlob(first, digest)), sha256(layer))
  // Flip bytes 2 MiB into the complete blob on agent 1 (piece 8 of its 256 KiB pieces).
  const file = await open(join(first.dataDir, 'blobs', 'sha256', digest.slice('sha256:'.length)), 'r+')
  await file.write(Buffer.from('corrupt!'), 0, 8, 2 * 1024 * 1024 + 100)
  await file.close()
  const egressBefore = cluster.origin.egressBytes
  const second = await startPeer(t, cluster, first)
  t.is(sha256(await pullBlob(second, digest)), sha256(layer))
  t.true(second.agent.store.isComplete(digest as never))
  const fromOrigin = cluster.origin.egressBytes - egressBefore
  t.true(fromOrigin >= pieceSizeFor(layer.byteLength), 'the corrupt piece came from the origin')
  t.true(cluster.origin.counts.requests.some(r => r.method === 'GET' && r.range != null), 'a Range GET for the missing piece')
  const metrics = await scrapeMetrics(second.url)
  // The peer checks the piece on its disk and refuses it: a refusal, not a bad piece from the wire.
  // (Pieces waiting for the peer's send slots when it dropped the blob are refused as NOT_FOUND too.)
  t.true(metrics.value('shoal_agent_peer_pieces_fetched_total', { result: 'refused' }) >= 1, 'the corrupt piece is refused')
  // Which failure drops the peer for this blob comes down to timing (its answer for the rotten piece,
  // or a bitfield refresh that finds the blob gone, which counts no reason); what must not happen is
  // the peer being held a liar (a bad piece).
  t.is(metrics.value('shoal_agent_peers_dropped_total', { reason: 'bad' }), 0)
  t.is(metrics.value('shoal_agent_peer_bad_pieces_total'), 0)
  t.is(metrics.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), fromOrigin)
  // The peer drops the whole blob when it finds the rot: pieces it had not read by then are refused
  // and come from the origin too (all of them when piece 2 is read first). Each piece comes once.
  const fromPeer = metrics.value('shoal_agent_blob_received_bytes_total', { source: 'peer' })
  t.log(`origin ${fromOrigin} bytes, peer ${fromPeer}; pieces refused ${metrics.value('shoal_agent_peer_pieces_fetched_total', { result: 'refused' })}, peer dropped ${metrics.value('shoal_agent_peers_dropped_total', { reason: 'refused' })}`)
  t.is(fromOrigin + fromPeer, layer.byteLength, 'every piece came once, from the peer or the origin')
})

test('a client the origin refuses gets its 401 from an agent whose peers hold the blob; an authorized one gets the peers\' bytes', async t => {
  const alice = { username: 'alice', password: 'wonderland' }
  const basic = { authorization: `Basic ${Buffer.from(`${alice.username}:${alice.password}`).toString('base64')}` }
  const cluster = await setup(t, alice)
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  const first = await startPeer(t, cluster)
  t.is(sha256(await pullBlob(first, digest, basic)), sha256(layer))
  const second = await startPeer(t, cluster, first)
  const refused = await request(`${second.url}/v2/lib/p2p/blobs/${digest}`)
  const body = Buffer.from(await refused.body.arrayBuffer())
  t.is(refused.statusCode, 401)
  t.truthy(refused.headers['www-authenticate'], 'the origin\'s challenge comes back')
  t.false(body.includes(layer.subarray(0, 64)), 'no blob bytes in the refusal')
  t.is(sha256(await pullBlob(second, digest, basic)), sha256(layer))
  t.is(cluster.origin.blobGets(digest), 1, 'the authorized pull came from the peer')
})

test('a peer whose piece table lies: the whole-blob digest catches it, nothing wrong is kept, the blob is fetched again from the origin, and the peer is banned for other blobs too', async t => {
  const cluster = await setup(t)
  const digest = cluster.digests[0] as Digest
  const layer = cluster.layers[0] as Buffer
  const agent = await startPeer(t, cluster)
  const liar = await startLyingPeer(t, cluster, { bootstrap: agent.agent.p2pAddresses, blobs: cluster.digests.map((d, i) => ({ digest: d as Digest, size: (cluster.layers[i] as Buffer).byteLength })) })
  for (const { digest: d } of liar.blobs) await liar.discovery.provide(d, { signal: AbortSignal.timeout(20_000) })
  const first = await request(`${agent.url}/v2/lib/p2p/blobs/${digest}`)
  t.is(first.statusCode, 200)
  const body = await first.body.arrayBuffer().then(b => Buffer.from(b), () => undefined)
  t.true(body == null || body.byteLength < layer.byteLength, 'the forged blob never reaches the client whole')
  // The refetch from the origin runs on its own; the next pull gets the right bytes.
  let pulled: Buffer | undefined
  for (let attempt = 0; attempt < 50 && pulled == null; attempt++) {
    pulled = await pullBlob(agent, digest).catch(async () => { await new Promise(resolve => setTimeout(resolve, 200)); return undefined })
  }
  t.is(sha256(pulled ?? Buffer.alloc(0)), sha256(layer))
  t.true(agent.agent.store.isComplete(digest))
  t.is(cluster.origin.blobGets(digest), 1, 'one origin GET: the refetch; the peers\' bytes were discarded')
  t.is((await scrapeMetrics(agent.url)).value('shoal_agent_peer_bans_total', { reason: 'bad-table' }), 1)

  // The liar offers the other layer too; banned, it is not asked: the first answer is whole and right.
  const other = cluster.digests[1] as Digest
  t.is(sha256(await pullBlob(agent, other)), sha256(cluster.layers[1] as Buffer))
  t.is(cluster.origin.blobGets(other), 1)
  t.is((await scrapeMetrics(agent.url)).value('shoal_agent_peer_pieces_fetched_total', { result: 'ok' }), pieceCountFor(layer.byteLength), 'pieces came from the liar for the first layer only')
})
