import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { cidOfDigest, digestOf, parseDigest, pieceSpan } from '@shoal/proto'
import { createP2pNode, loadSwarmKey } from '@shoal/p2p'
import type { P2pNode } from '@shoal/p2p'
import { PieceExchangeClient } from '../packages/agent/src/piece-exchange/index.ts'
import { SchedulerSession } from '../packages/agent/src/scheduler-client/session.ts'
import { fetchBody, waitFor } from './helpers/http.ts'
import { LOOPBACK, pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'
import { startTestAgent } from './helpers/agent.ts'
import type { TestAgent } from './helpers/agent.ts'
import { agentPeerId } from './helpers/identity.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

/** A removed member must be cut off within this. */
const CUT_OFF_MS = 60_000

const peerIdOf = (agent: TestAgent): string => /\/p2p\/(\w+)$/.exec(agent.agent.p2pAddresses[0] ?? '')?.[1] ?? ''

/**
 * The intruder: a plain js-libp2p node on loopback that holds the swarm key and gates nobody, with a
 * DHT server of its own: everything a host that reaches the p2p port could try.
 */
async function startIntruder (t: ExecutionContext, cluster: Cluster): Promise<P2pNode> {
  const node = await createP2pNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: [LOOPBACK],
    swarmKey: await loadSwarmKey(cluster.swarmKey),
    admission: { kind: 'members', allows: () => true }
  })
  t.teardown(async () => { await node.stop() })
  return node
}

/** Everything the intruder tries against `agent` for the blob `digest`; each must fail. */
async function intrude (t: ExecutionContext, intruder: P2pNode, agent: TestAgent, cluster: Cluster, index: number): Promise<void> {
  const addr = multiaddr(agent.agent.p2pAddresses[0] ?? '')
  const digest = parseDigest(cluster.digests[index] ?? '')
  const layer = cluster.layers[index] ?? Buffer.alloc(0)
  const client = new PieceExchangeClient({ node: intruder }, { timeoutMs: 5_000 })
  await t.throwsAsync(client.pieceTable(addr, digest, { signal: AbortSignal.timeout(5_000) }), undefined, 'no piece table')
  await t.throwsAsync(client.bitfield(addr, digest, 7, { signal: AbortSignal.timeout(5_000) }), undefined, 'no bitfield')
  const span = pieceSpan(layer.byteLength, 0)
  const cid = cidOfDigest(digestOf(layer.subarray(span.offset, span.offset + span.length)))
  await t.throwsAsync(client.piece(addr, { digest, size: layer.byteLength, index: 0, cid }, { signal: AbortSignal.timeout(5_000) }), undefined, 'no piece')
  await t.throwsAsync(intruder.services.ping.ping(addr, { signal: AbortSignal.timeout(5_000) }), undefined, 'not even a ping')
  await waitFor('the intruder holds no connection to the agent', () => intruder.getConnections().every(c => c.remotePeer.toString() !== peerIdOf(agent)), { timeoutMs: 5_000 })
  // It learns no provider record either: no agent answers it, and a scheduler keeps none.
  const lookup = async (): Promise<string[]> => {
    const found: string[] = []
    for await (const provider of intruder.contentRouting.findProviders(cidOfDigest(digest), { signal: AbortSignal.timeout(5_000) })) found.push(provider.id.toString())
    return found
  }
  const providers = await lookup().catch((err: Error) => { t.log(`the intruder's provider lookup failed: ${err.name}`); return [] })
  t.deepEqual(providers, [], 'no DHT record')
}

test('scheduler membership: join-token holders pull from each other; a key-holding intruder gets nothing; a removed member is cut off within a minute while the others keep pulling', async t => {
  t.timeout(180_000)
  const cluster = await setupCluster(t)
  const dataDir = await tempDir(t, 'scheduler')
  const token = randomBytes(24).toString('base64url')
  await writeFile(join(dataDir, 'join-tokens'), `# fleet tokens\n${token} fleet-a\n`)
  const tokenDir = await tempDir(t, 'join-token')
  const tokenFile = join(tokenDir, 'join-token')
  await writeFile(tokenFile, `${token}\n`)
  const scheduler = await spawnScheduler(t, { dataDir, swarmKey: cluster.swarmKey })
  const auth = { authorization: `Bearer ${scheduler.adminToken}` }
  const [a, b, c] = await Promise.all([0, 1, 2].map(async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--join-token', tokenFile] }))) as [TestAgent, TestAgent, TestAgent]
  await waitFor('agents registered', () => [a, b, c].every(x => x.agent.schedulersConnected === 1))
  const listed = JSON.parse((await fetchBody(`${scheduler.admin}/members`, { headers: auth })).body.toString()) as { members: Array<{ peer: string, token: string }> }
  t.deepEqual(listed.members.map(m => m.peer).sort(), [a, b, c].map(peerIdOf).sort())
  t.true(listed.members.every(m => m.token === 'fleet-a'))
  t.is((await fetchBody(`${scheduler.admin}/members`)).status, 401, 'the member list needs the admin token')

  // Members pull from each other: the first blob leaves the origin about once.
  const [first, second] = cluster.digests as [string, string]
  const [firstLayer, secondLayer] = cluster.layers as [Buffer, Buffer]
  let egress = cluster.origin.egressBytes
  t.is(sha256(await pullBlob(a, first)), sha256(firstLayer))
  for (const body of await Promise.all([b, c].map(async x => pullBlob(x, first)))) t.is(sha256(body), sha256(firstLayer))
  t.true(cluster.origin.egressBytes - egress < 1.2 * firstLayer.byteLength, 'the others took it from peers')

  // A host with the swarm key but no membership: no registration, no connection, no stream.
  const intruder = await startIntruder(t, cluster)
  await t.throwsAsync(SchedulerSession.open(intruder, multiaddr(scheduler.addr), { addresses: intruder.getMultiaddrs(), hostName: 'intruder', uploadSlots: 4 }), { name: 'SchedulerUnavailableError' })
  await t.throwsAsync(SchedulerSession.open(intruder, multiaddr(scheduler.addr), { addresses: intruder.getMultiaddrs(), hostName: 'intruder', uploadSlots: 4, joinToken: randomBytes(24).toString('base64url') }), { name: 'SchedulerUnavailableError' })
  await intrude(t, intruder, a, cluster, 0)
  t.false(a.agent.connectedPeerIds.includes(intruder.peerId.toString()))

  // The operator removes b: every agent closes its connections at once; it cannot register again.
  const removed = await fetchBody(`${scheduler.admin}/members/${peerIdOf(b)}`, { method: 'DELETE', headers: auth })
  t.is(removed.status, 200)
  const started = Date.now()
  await waitFor('b cut off', () => !a.agent.connectedPeerIds.includes(peerIdOf(b)) && !c.agent.connectedPeerIds.includes(peerIdOf(b)) && b.agent.schedulersConnected === 0, { timeoutMs: CUT_OFF_MS })
  t.true(Date.now() - started < CUT_OFF_MS)
  t.is((await fetchBody(`${scheduler.admin}/members/${peerIdOf(b)}`, { method: 'DELETE', headers: auth })).status, 404, 'no longer a member')

  // a and c keep pulling from each other; b gets the blob only from the origin (its right, checked there).
  egress = cluster.origin.egressBytes
  t.is(sha256(await pullBlob(a, second)), sha256(secondLayer))
  t.is(sha256(await pullBlob(c, second)), sha256(secondLayer))
  t.true(cluster.origin.egressBytes - egress < 1.2 * secondLayer.byteLength, 'c took the second blob from a')
  egress = cluster.origin.egressBytes
  t.is(sha256(await pullBlob(b, second)), sha256(secondLayer))
  t.true(cluster.origin.egressBytes - egress >= secondLayer.byteLength, 'b got no piece from a peer')
  t.false(a.agent.connectedPeerIds.includes(peerIdOf(b)))
  t.false(c.agent.connectedPeerIds.includes(peerIdOf(b)))
  await new Promise(resolve => setTimeout(resolve, 2_000))
  t.is(b.agent.schedulersConnected, 0, 'b cannot register again with its still-valid token')
})

test('a static member file (DHT only): listed agents pull from each other; an unlisted intruder gets nothing; a peer taken off the list is cut off within a minute', async t => {
  t.timeout(180_000)
  const cluster = await setupCluster(t)
  const dirs = await Promise.all([0, 1, 2].map(async () => tempDir(t, 'agent')))
  const ids = await Promise.all(dirs.map(agentPeerId))
  const listDir = await tempDir(t, 'members')
  const membersFile = join(listDir, 'members')
  await writeFile(membersFile, `# the swarm\n${ids.join('\n')}\n`)
  const start = async (dataDir: string, bootstrap?: TestAgent): Promise<TestAgent> => {
    const args = ['--p2p-listen', LOOPBACK, '--swarm-key', cluster.swarmKey, '--members', membersFile, ...(bootstrap == null ? [] : ['--bootstrap', bootstrap.agent.p2pAddresses[0] ?? ''])]
    const agent = await startTestAgent({ upstreams: [cluster.origin.url], dataDir, args })
    t.teardown(agent.stop)
    return agent
  }
  const a = await start(dirs[0] ?? '')
  const [b, c] = await Promise.all([start(dirs[1] ?? '', a), start(dirs[2] ?? '', a)])
  await waitFor('b and c joined a', () => [ids[1], ids[2]].every(id => a.agent.connectedPeerIds.includes(id ?? '')))

  const [first, second] = cluster.digests as [string, string]
  const [firstLayer, secondLayer] = cluster.layers as [Buffer, Buffer]
  let egress = cluster.origin.egressBytes
  t.is(sha256(await pullBlob(a, first)), sha256(firstLayer))
  t.is(sha256(await pullBlob(b, first)), sha256(firstLayer))
  t.true(cluster.origin.egressBytes - egress < 1.2 * firstLayer.byteLength, 'b took it from a')

  const intruder = await startIntruder(t, cluster)
  await intrude(t, intruder, a, cluster, 0)

  // c is taken off the list: a and b hang up on it, and refuse it from then on.
  await writeFile(membersFile, `${ids[0]}\n${ids[1]}\n`)
  await waitFor('c cut off', () => !a.agent.connectedPeerIds.includes(ids[2] ?? '') && !b.agent.connectedPeerIds.includes(ids[2] ?? ''), { timeoutMs: CUT_OFF_MS })
  egress = cluster.origin.egressBytes
  t.is(sha256(await pullBlob(a, second)), sha256(secondLayer))
  t.is(sha256(await pullBlob(b, second)), sha256(secondLayer))
  t.true(cluster.origin.egressBytes - egress < 1.2 * secondLayer.byteLength, 'b took the second blob from a')
  egress = cluster.origin.egressBytes
  t.is(sha256(await pullBlob(c, first)), sha256(firstLayer))
  t.true(cluster.origin.egressBytes - egress >= firstLayer.byteLength, 'c got no piece from a peer')
  t.false(a.agent.connectedPeerIds.includes(ids[2] ?? ''))
})
