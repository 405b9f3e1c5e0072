import { randomBytes } from 'node:crypto'
import { Resolver } from 'node:dns/promises'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { createP2pNode, loadSwarmKey } from '@shoal/p2p'
import { startDnsServer } from './fixtures/index.ts'
import type { DnsServer } from './fixtures/index.ts'
import { waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'
import type { Cluster, StartPeerOptions } from './helpers/p2p-cluster.ts'
import type { TestAgent } from './helpers/agent.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

/** Re-resolution in these tests: short, so a record set change shows within a second. */
const RESOLVE_INTERVAL_MS = 200
const SCHEDULER_NAME = 'shoal-scheduler.shoal.svc.cluster.local'
const AGENT_NAME = 'shoal-agent.shoal.svc.cluster.local'

const peerIdOf = (agent: TestAgent): string => /\/p2p\/(\w+)$/.exec(agent.agent.p2pAddresses[0] ?? '')?.[1] ?? ''
const portOf = (agent: TestAgent): number => Number(/\/tcp\/(\d+)\//.exec(agent.agent.p2pAddresses[0] ?? '')?.[1])

async function dnsServer (t: ExecutionContext): Promise<DnsServer> {
  const server = await startDnsServer()
  t.teardown(server.stop)
  return server
}

/** Each agent its own Resolver on the test's DNS server (stopping one cancels its queries only). */
function dnsOf (server: DnsServer): NonNullable<StartPeerOptions['dns']> {
  const resolver = new Resolver({ timeout: 1_000, tries: 2 })
  resolver.setServers([server.address])
  return { dnsResolver: resolver, dnsResolveIntervalMs: RESOLVE_INTERVAL_MS }
}

/** A scheduler process that admits agents by join token, and the token file they are given. */
async function schedulerWithTokens (t: ExecutionContext, cluster: Cluster, listen?: string): Promise<{ port: number, addr: string, tokenFile: string }> {
  const dataDir = await tempDir(t, 'scheduler')
  const token = randomBytes(24).toString('base64url')
  await writeFile(join(dataDir, 'join-tokens'), `${token} dns-test\n`)
  const tokenFile = join(await tempDir(t, 'join-token'), 'join-token')
  await writeFile(tokenFile, `${token}\n`)
  const scheduler = await spawnScheduler(t, { dataDir, swarmKey: cluster.swarmKey, listen })
  return { port: scheduler.port, addr: scheduler.addr, tokenFile }
}

test('agents find the scheduler and each other by dns: names alone (join tokens); a host added to the record set is dialled, a non-member behind the name is refused', async t => {
  t.timeout(120_000)
  const cluster = await setupCluster(t)
  const dns = await dnsServer(t)
  const scheduler = await schedulerWithTokens(t, cluster)
  dns.records.set(SCHEDULER_NAME, ['127.0.0.1'])
  // The agents of a headless Service: one port, one address each.
  const args = (listen: string, bootstrap = true): string[] => ['--p2p-listen', listen, '--scheduler', `dns:${SCHEDULER_NAME}:${scheduler.port}`,
    '--join-token', scheduler.tokenFile, ...(bootstrap ? ['--bootstrap', `dns:${AGENT_NAME}:${portFor()}`] : [])]
  let port = 0
  const portFor = (): number => port
  const a = await startPeer(t, cluster, { args: ['--p2p-listen', '/ip4/127.0.0.2/tcp/0', '--scheduler', `dns:${SCHEDULER_NAME}:${scheduler.port}`, '--join-token', scheduler.tokenFile], dns: dnsOf(dns) })
  port = portOf(a)
  dns.records.set(AGENT_NAME, ['127.0.0.2', '127.0.0.3'])
  const b = await startPeer(t, cluster, { args: args(`/ip4/127.0.0.3/tcp/${port}`), dns: dnsOf(dns) })
  await waitFor('both admitted by the scheduler found in DNS', () => a.agent.schedulersConnected === 1 && b.agent.schedulersConnected === 1)
  await waitFor('b dialled a, found in DNS, once a was a member', () => b.agent.connectedPeerIds.includes(peerIdOf(a)))

  // Peer to peer: b takes the blob a fetched.
  const [digest] = cluster.digests as [string]
  const [layer] = cluster.layers as [Buffer]
  t.is(sha256(await pullBlob(a, digest)), sha256(layer))
  t.is(sha256(await pullBlob(b, digest)), sha256(layer))
  t.true((await scrapeMetrics(b.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }) > 0, 'b took pieces from a')

  // A third agent with no --bootstrap: nobody knows it until its address joins the record set.
  const c = await startPeer(t, cluster, { args: args(`/ip4/127.0.0.4/tcp/${port}`, false), dns: dnsOf(dns) })
  await waitFor('c admitted', () => c.agent.schedulersConnected === 1)
  await new Promise(resolve => setTimeout(resolve, 4 * RESOLVE_INTERVAL_MS))
  for (const agent of [a, b]) t.false(agent.agent.connectedPeerIds.includes(peerIdOf(c)), 'not dialled before it is in DNS')
  dns.records.set(AGENT_NAME, ['127.0.0.2', '127.0.0.3', '127.0.0.4'])
  // b resolves the name (a, started first, has no --bootstrap): c's only other peer is the scheduler, which keeps no DHT records.
  await waitFor('c dialled by b after the next resolution', () => b.agent.connectedPeerIds.includes(peerIdOf(c)))

  // A host with the swarm key behind the name but no membership: dialled, refused by the gater.
  const intruder = await createP2pNode({ privateKey: await generateKeyPair('Ed25519'), listen: [`/ip4/127.0.0.5/tcp/${port}`], swarmKey: await loadSwarmKey(cluster.swarmKey), admission: { kind: 'any' } })
  t.teardown(async () => { await intruder.stop() })
  let dialled = 0
  intruder.addEventListener('connection:open', () => { dialled++ })
  dns.records.set(AGENT_NAME, ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5'])
  await waitFor('the intruder dialled by b, round after round', () => dialled >= 2)
  await new Promise(resolve => setTimeout(resolve, 4 * RESOLVE_INTERVAL_MS))
  for (const agent of [a, b, c]) t.false(agent.agent.connectedPeerIds.includes(intruder.peerId.toString()), 'not a member: no connection')
  t.true(intruder.getConnections().every(conn => conn.streams.length === 0), 'no stream on what the gater cut')

  // The scheduler's address leaves the record set: the agents drop it (its blobs go to the DHT); back, they register again.
  dns.records.set(SCHEDULER_NAME, [])
  await waitFor('the scheduler dropped', () => [a, b, c].every(agent => agent.agent.schedulersConnected === 0))
  dns.records.set(SCHEDULER_NAME, ['127.0.0.1'])
  await waitFor('the scheduler found again', () => [a, b, c].every(agent => agent.agent.schedulersConnected === 1))
})

test('IPv6: an agent pair and a scheduler process on ::1, mirror on [::1], bootstrap by /ip6 multiaddr and the scheduler by AAAA record; a blob goes peer to peer', async t => {
  t.timeout(120_000)
  const cluster = await setupCluster(t)
  const dns = await dnsServer(t)
  const dataDir = await tempDir(t, 'scheduler6')
  const scheduler = await spawnScheduler(t, { dataDir, swarmKey: cluster.swarmKey, listen: '/ip6/::1/tcp/0' })
  t.regex(scheduler.addr, /^\/ip6\/::1\/tcp\/\d+\/p2p\//)
  dns.records.set('scheduler6.shoal.test', ['::1'])
  const a = await startPeer(t, cluster, { args: ['--listen', '[::1]:0', '--p2p-listen', '/ip6/::1/tcp/0', '--scheduler', scheduler.addr] })
  t.regex(a.url, /^http:\/\/\[::1\]:\d+$/)
  t.regex(a.agent.p2pAddresses[0] ?? '', /^\/ip6\/::1\/tcp\/\d+\/p2p\//)
  const b = await startPeer(t, cluster, { args: ['--listen', '[::1]:0', '--p2p-listen', '/ip6/::1/tcp/0', '--bootstrap', a.agent.p2pAddresses[0] ?? '', '--scheduler', `dns:scheduler6.shoal.test:${scheduler.port}`], dns: dnsOf(dns) })
  await waitFor('both registered over ::1', () => a.agent.schedulersConnected === 1 && b.agent.schedulersConnected === 1)
  t.true(b.agent.connectedPeerIds.includes(peerIdOf(a)))
  t.true(dns.questions.includes('scheduler6.shoal.test AAAA'))

  const [digest] = cluster.digests as [string]
  const [layer] = cluster.layers as [Buffer]
  t.is(sha256(await pullBlob(a, digest)), sha256(layer))
  const egress = cluster.origin.egressBytes
  t.is(sha256(await pullBlob(b, digest)), sha256(layer))
  t.true(cluster.origin.egressBytes - egress < 0.2 * layer.byteLength, 'b took the blob from a over ::1')
  t.is((await scrapeMetrics(b.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), layer.byteLength)
})
