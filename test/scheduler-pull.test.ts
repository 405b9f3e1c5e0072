import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { Bitfield, pieceCountFor } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import type { PeerKey } from '@shoal/scheduler'
import { SchedulerSession } from '../packages/agent/src/scheduler-client/session.ts'
import { embeddedScheduler } from '../packages/cli/src/embedded-scheduler.ts'
import { rendezvousOrder } from '../packages/agent/src/rendezvous.ts'
import { waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'
import { startTestScheduler } from './helpers/scheduler.ts'
import { tempDir } from './helpers/temp.ts'
import { skopeoCopy, verifyDirImage } from './fixtures/index.ts'
import { deadRegistryHost } from './helpers/agent.ts'
import { startLyingPeer } from './helpers/lying-peer.ts'

const AGENTS = 6

test(`${AGENTS} agents and a scheduler pull one cold image with skopeo at the same moment: right digests everywhere, the origin sends the image about once`, async t => {
  const cluster = await setupCluster(t)
  const scheduler = await startTestScheduler(t, cluster.swarmKey)
  const agents = await Promise.all(Array.from({ length: AGENTS }, async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr] })))
  await waitFor('every agent registered', () => agents.every(a => a.agent.schedulersConnected === 1))
  const { image } = cluster
  const imageBytes = image.config.byteLength + image.layers.reduce((n, l) => n + l.size, 0)
  const ref = `${await deadRegistryHost()}/lib/p2p:v1`

  const egressBefore = cluster.origin.egressBytes
  await Promise.all(agents.map(async (agent, i) => {
    const dest = await tempDir(t, `scheduler-pull-${i}`)
    await skopeoCopy({ image: ref, mirror: agent.host, destDir: dest })
    await verifyDirImage(dest, image)
  }))
  // Manifest bodies go through the proxy too (a few KiB against megabytes of layers).
  const originBytes = cluster.origin.egressBytes - egressBefore
  const fromPeers = (await Promise.all(agents.map(async a => (await scrapeMetrics(a.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' })))).reduce((a, b) => a + b, 0)
  t.log(`origin sent ${originBytes} bytes for a ${imageBytes}-byte image (${(originBytes / imageBytes).toFixed(2)}x); peers moved ${fromPeers}`)
  t.true(originBytes < 1.2 * imageBytes, `origin sent ${(originBytes / imageBytes).toFixed(2)}x the image`)
})

test('the scheduler goes away mid-pull: every pull still completes with the right bytes', async t => {
  const cluster = await setupCluster(t)
  const scheduler = await startTestScheduler(t, cluster.swarmKey)
  const agents = await Promise.all(Array.from({ length: 3 }, async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--origin-limit', '4000000'] })))
  await waitFor('every agent registered', () => agents.every(a => a.agent.schedulersConnected === 1))
  const digest = cluster.digests[0] as string
  const pulls = agents.map(async agent => pullBlob(agent, digest))
  for (const pull of pulls) pull.catch(() => {})
  await waitFor('a piece reported', async () => (await Promise.all(agents.map(async a => (await scrapeMetrics(a.url)).value('shoal_agent_blob_received_bytes_total', { source: 'origin' })))).some(n => n > 0))
  await scheduler.stop()
  const bodies = await Promise.all(pulls)
  for (const body of bodies) t.is(sha256(body), sha256(cluster.layers[0] as Buffer))
})

test('two schedulers: each blob goes to its rendezvous scheduler; when that one is gone, the other directs the blob', async t => {
  const cluster = await setupCluster(t)
  const schedulers = [await startTestScheduler(t, cluster.swarmKey), await startTestScheduler(t, cluster.swarmKey)]
  const args = schedulers.flatMap(s => ['--scheduler', s.addr])
  const agents = await Promise.all([0, 1, 2].map(async () => startPeer(t, cluster, { args })))
  await waitFor('both schedulers connected', () => agents.every(a => a.agent.schedulersConnected === 2))
  const digest = cluster.digests[1] as string
  const layer = cluster.layers[1] as Buffer
  const owner = rendezvousOrder(schedulers.map(s => ({ key: s.node.peerId.toString(), s })), digest as Digest)[0]!.s
  const other = schedulers.find(s => s !== owner)!
  await owner.stop()
  await waitFor('agents saw it go', () => agents.every(a => a.agent.schedulersConnected === 1))

  const egress = cluster.origin.egressBytes
  for (const body of await Promise.all(agents.map(async a => pullBlob(a, digest)))) t.is(sha256(body), sha256(layer))
  t.true(cluster.origin.egressBytes - egress < 1.2 * layer.byteLength, 'the remaining scheduler split the blob')
  t.true([...other.service.tasks()].some(task => task.digest === digest), 'the blob is the other scheduler\'s now')
})

test('a parent that sends bad pieces is reported and ejected by the scheduler; the pull is right', async t => {
  const cluster = await setupCluster(t)
  const scheduler = await startTestScheduler(t, cluster.swarmKey)
  const digest = cluster.digests[0] as Digest
  const layer = cluster.layers[0] as Buffer
  // An honest seed pulls the blob first: the scheduler learns its pieces and its true table.
  const seed = await startPeer(t, cluster, { args: ['--scheduler', scheduler.addr] })
  await waitFor('seed registered', () => seed.agent.schedulersConnected === 1)
  t.is(sha256(await pullBlob(seed, digest)), sha256(layer))
  await waitFor('the table published', () => [...scheduler.service.tasks()].some(task => task.digest === digest && task.tableKnown === pieceCountFor(layer.byteLength)))
  // A liar claims the whole blob to the scheduler and serves other bytes.
  const liar = await startLyingPeer(t, cluster, { blobs: [{ digest, size: layer.byteLength }] })
  const session = await SchedulerSession.open(liar.node, multiaddr(scheduler.addr), { addresses: liar.node.getMultiaddrs(), hostName: 'liar', uploadSlots: 32 })
  t.teardown(() => { session.close() })
  const all = new Bitfield(pieceCountFor(layer.byteLength))
  for (let i = 0; i < all.pieceCount; i++) all.set(i)
  session.announce({ digest, size: layer.byteLength, bitfield: all, wantsPieces: false })
  const liarKey = liar.node.peerId.toString() as PeerKey
  await waitFor('the liar is a holder', () => scheduler.service.registry.task(digest)?.has(liarKey) === true)

  const children = await Promise.all([0, 1].map(async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr] })))
  await waitFor('children registered', () => children.every(c => c.agent.schedulersConnected === 1))
  for (const body of await Promise.all(children.map(async c => pullBlob(c, digest)))) t.is(sha256(body), sha256(layer))
  const bad = (await Promise.all(children.map(async c => (await scrapeMetrics(c.url)).value('shoal_agent_peer_bad_pieces_total')))).reduce((a, b) => a + b, 0)
  t.true(bad > 0, 'the children asked the liar and caught its pieces')
  await waitFor('the liar ejected', () => scheduler.service.health.isEjected(liarKey, Date.now()))
})

test('--embedded-scheduler: one agent runs the scheduler for a small site; it and three others pull a cold blob at once, the origin sends it about once', async t => {
  const cluster = await setupCluster(t)
  const hub = await startPeer(t, cluster, { args: ['--embedded-scheduler'], embeddedScheduler })
  const others = await Promise.all([0, 1, 2].map(async () => startPeer(t, cluster, { args: ['--scheduler', hub.agent.p2pAddresses[0] ?? ''] })))
  const agents = [hub, ...others]
  await waitFor('every agent on the scheduler, the hub in-process', () => agents.every(a => a.agent.schedulersConnected === 1))
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  const egress = cluster.origin.egressBytes
  for (const body of await Promise.all(agents.map(async a => pullBlob(a, digest)))) t.is(sha256(body), sha256(layer))
  const originBytes = cluster.origin.egressBytes - egress
  t.log(`origin sent ${(originBytes / layer.byteLength).toFixed(2)}x the blob`)
  t.true(originBytes < 1.2 * layer.byteLength)
})
