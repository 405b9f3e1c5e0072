import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { cidOfDigest, digestOf, parseDigest, pieceSpan, Status } from '@shoal/proto'
import { createP2pNode, loadOrCreatePeerKey, loadSwarmKey } from '@shoal/p2p'
import type { P2pNode } from '@shoal/p2p'
import { PieceExchangeClient } from '../packages/agent/src/piece-exchange/index.ts'
import { waitFor } from './helpers/http.ts'
import { agentPeerId } from './helpers/identity.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { LOOPBACK, pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'
import { startTestScheduler } from './helpers/scheduler.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'
import { startTestAgent } from './helpers/agent.ts'
import type { TestAgent } from './helpers/agent.ts'
import { tempDir } from './helpers/temp.ts'

const ALICE = { username: 'alice', password: 'wonderland' }
const BASIC_ALICE = { authorization: `Basic ${Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64')}` }

interface Swarm {
  cluster: Cluster
  holder: TestAgent
  /** A member agent with the default policy, pulling after the holder. */
  other: TestAgent
  /** A plain libp2p node listed as a member: it asks the holder directly. */
  member: P2pNode
}

/** Three members (holder with `holderArgs`, another agent, a plain node) over the cluster's origin, with or without basic auth. */
async function swarm (t: ExecutionContext, opts: { auth: boolean, holderArgs: string[] }): Promise<Swarm> {
  const cluster = await setupCluster(t, opts.auth ? ALICE : undefined)
  const dirs = await Promise.all([0, 1, 2].map(async () => tempDir(t, 'share')))
  const ids = await Promise.all(dirs.map(agentPeerId))
  const members = join(await tempDir(t, 'share-members'), 'members')
  await writeFile(members, ids.join('\n') + '\n')
  const start = async (dataDir: string, args: string[]): Promise<TestAgent> => {
    const agent = await startTestAgent({ upstreams: [cluster.origin.url], dataDir, args: ['--p2p-listen', LOOPBACK, '--swarm-key', cluster.swarmKey, '--members', members, ...args] })
    t.teardown(agent.stop)
    return agent
  }
  const holder = await start(dirs[0] ?? '', opts.holderArgs)
  const other = await start(dirs[1] ?? '', ['--bootstrap', holder.agent.p2pAddresses[0] ?? ''])
  const member = await createP2pNode({ privateKey: await loadOrCreatePeerKey(dirs[2] ?? ''), listen: [LOOPBACK], swarmKey: await loadSwarmKey(cluster.swarmKey), admission: { kind: 'members', allows: () => true } })
  t.teardown(async () => { await member.stop() })
  await waitFor('the other agent joined the holder', () => holder.agent.connectedPeerIds.includes(ids[1] ?? ''))
  return { cluster, holder, other, member }
}

/** What the member node gets of the holder's copy of layer 0: the piece table, a piece, and a DHT provider record. */
async function ask (s: Swarm): Promise<{ table: string, piece: string, providers: string[] }> {
  const addr = multiaddr(s.holder.agent.p2pAddresses[0] ?? '')
  const digest = parseDigest(s.cluster.digests[0] ?? '')
  const layer = s.cluster.layers[0] ?? Buffer.alloc(0)
  const client = new PieceExchangeClient({ node: s.member }, { timeoutMs: 5_000 })
  const outcome = async (p: Promise<unknown>): Promise<string> => p.then(() => 'ok', (err: Error & { status?: Status }) => err.status === Status.NOT_FOUND ? 'not found' : `${err.name}: ${err.message}`)
  const table = await outcome(client.pieceTable(addr, digest))
  const span = pieceSpan(layer.byteLength, 0)
  const cid = cidOfDigest(digestOf(layer.subarray(span.offset, span.offset + span.length)))
  const piece = await outcome(client.piece(addr, { digest, size: layer.byteLength, index: 0, cid }))
  const providers: string[] = []
  const lookup = async (): Promise<void> => {
    for await (const p of s.member.contentRouting.findProviders(cidOfDigest(digest), { signal: AbortSignal.timeout(3_000) })) providers.push(p.id.toString())
  }
  await lookup().catch((err: Error) => { if (err.name !== 'AbortError' && err.name !== 'TimeoutError') throw err })
  return { table, piece, providers }
}

test('--share-private anonymous: a blob the origin serves only with credentials is refused to members (NOT_FOUND, no DHT record); they fetch it from the origin', async t => {
  const s = await swarm(t, { auth: true, holderArgs: ['--share-private', 'anonymous'] })
  const [digest, layer] = [s.cluster.digests[0] ?? '', s.cluster.layers[0] as Buffer]
  t.is(sha256(await pullBlob(s.holder, digest, BASIC_ALICE)), sha256(layer))
  await new Promise(resolve => setTimeout(resolve, 500)) // the origin's answer to the anonymous HEAD is in
  const got = await ask(s)
  t.deepEqual(got, { table: 'not found', piece: 'not found', providers: [] })
  t.is(sha256(await pullBlob(s.other, digest, BASIC_ALICE)), sha256(layer))
  const metrics = await scrapeMetrics(s.other.url)
  t.is(metrics.value('shoal_agent_blob_received_bytes_total', { source: 'peer' }) ?? 0, 0, 'no piece from the holder')
  t.is((await pullBlob(s.other, digest, {}).catch((err: Error) => err.message)).toString().includes('401'), true, 'HTTP clients are still checked against the origin')
})

test('--share-private members (the default): the same private blob goes to members', async t => {
  const s = await swarm(t, { auth: true, holderArgs: [] })
  const [digest, layer] = [s.cluster.digests[0] ?? '', s.cluster.layers[0] as Buffer]
  t.is(sha256(await pullBlob(s.holder, digest, BASIC_ALICE)), sha256(layer))
  const got = await ask(s)
  t.is(got.table, 'ok')
  t.is(got.piece, 'ok')
  t.true(got.providers.includes(s.holder.agent.p2pAddresses[0]?.split('/p2p/')[1] ?? '-'), 'the holder is found in the DHT')
  t.is(sha256(await pullBlob(s.other, digest, BASIC_ALICE)), sha256(layer))
  t.is((await scrapeMetrics(s.other.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), layer.byteLength)
})

test('--share-private anonymous: a blob the origin serves to anyone is still shared', async t => {
  const s = await swarm(t, { auth: false, holderArgs: ['--share-private', 'anonymous'] })
  const [digest, layer] = [s.cluster.digests[0] ?? '', s.cluster.layers[0] as Buffer]
  t.is(sha256(await pullBlob(s.holder, digest)), sha256(layer))
  await waitFor('the holder knows the blob is served to anyone', async () => (await ask(s)).table === 'ok', { timeoutMs: 10_000, intervalMs: 250 })
  t.is(sha256(await pullBlob(s.other, digest)), sha256(layer))
  t.is((await scrapeMetrics(s.other.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), layer.byteLength)
})

test('--share-private none: not even a blob the origin serves to anyone goes to members', async t => {
  const s = await swarm(t, { auth: false, holderArgs: ['--share-private', 'none'] })
  const [digest, layer] = [s.cluster.digests[0] ?? '', s.cluster.layers[0] as Buffer]
  t.is(sha256(await pullBlob(s.holder, digest)), sha256(layer))
  await new Promise(resolve => setTimeout(resolve, 500))
  t.deepEqual(await ask(s), { table: 'not found', piece: 'not found', providers: [] })
  t.is(sha256(await pullBlob(s.other, digest)), sha256(layer))
  t.is((await scrapeMetrics(s.other.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }) ?? 0, 0, 'no piece from the holder')
})

test('--share-private anonymous with a scheduler: a private blob is never announced to it, so no agent is sent to the holder to be refused', async t => {
  const cluster = await setupCluster(t, ALICE)
  const scheduler = await startTestScheduler(t, cluster.swarmKey)
  const holder = await startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--share-private', 'anonymous'] })
  const other = await startPeer(t, cluster, { bootstrap: holder, args: ['--scheduler', scheduler.addr] })
  const otherId = other.agent.p2pAddresses[0]?.split('/p2p/')[1] ?? '-'
  await waitFor('both registered, and connected', () => holder.agent.schedulersConnected === 1 && other.agent.schedulersConnected === 1 && holder.agent.connectedPeerIds.includes(otherId))
  const [digest, layer] = [cluster.digests[0] ?? '', cluster.layers[0] as Buffer]
  t.is(sha256(await pullBlob(holder, digest, BASIC_ALICE)), sha256(layer))
  t.is(scheduler.service.registry.task(parseDigest(digest)), undefined, 'the scheduler never heard of the private blob')
  t.is((await scrapeMetrics(holder.url)).value('shoal_agent_blob_plans_total', { plan: 'origin', why: 'kept-private' }), 1)
  t.is(sha256(await pullBlob(other, digest, BASIC_ALICE)), sha256(layer))
  const metrics = await scrapeMetrics(other.url)
  t.is(metrics.value('shoal_agent_peer_pieces_fetched_total', { result: 'refused' }) ?? 0, 0, 'no piece asked of the holder')
  t.is(metrics.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), layer.byteLength)
})
