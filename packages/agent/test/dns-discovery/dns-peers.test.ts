import { Resolver } from 'node:dns/promises'
import type { ExecutionContext } from 'ava'
import test from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import { tcpAddressKey } from '@shoal/p2p'
import type { P2pNode } from '@shoal/p2p'
import { DnsPeers, resolveTarget } from '../../src/dns-discovery/index.ts'
import type { DnsPeer, DnsPeersComponents } from '../../src/dns-discovery/index.ts'
import { startDnsServer } from '../../../../test/fixtures/index.ts'
import type { DnsServer } from '../../../../test/fixtures/index.ts'
import { startTestNode } from '../helpers/p2p.ts'
import { waitUntil } from '../scheduler-client/fake-scheduler.ts'

async function dnsServer (t: ExecutionContext): Promise<DnsServer> {
  const server = await startDnsServer()
  t.teardown(server.stop)
  return server
}

function resolverOf (server: DnsServer): Resolver {
  const resolver = new Resolver({ timeout: 500, tries: 1 })
  resolver.setServers([server.address])
  return resolver
}

/** The port a node listens on for one family. */
function portOf (node: P2pNode, family: 'ip4' | 'ip6'): number {
  const addr = node.getMultiaddrs().find(a => a.toString().startsWith(`/${family}/`))
  if (addr == null) throw new Error(`no /${family} address`)
  return Number(tcpAddressKey(addr)?.split('/').at(-1))
}

/** The node as DnsPeers sees it, with every dial's target written down. */
function countingDials (node: P2pNode, dials: string[]): DnsPeersComponents['node'] {
  return {
    dial: async (...args: Parameters<P2pNode['dial']>) => { dials.push(String(args[0])); return await node.dial(...args) },
    getConnections: node.getConnections.bind(node),
    getMultiaddrs: node.getMultiaddrs.bind(node),
    peerId: node.peerId
  }
}

test('resolveTarget: every A and AAAA record at the port; NXDOMAIN and NODATA are no addresses; SERVFAIL is a DnsResolveError', async t => {
  const server = await dnsServer(t)
  const resolver = resolverOf(server)
  server.records.set('peers.shoal.test', ['127.0.0.1', '127.0.0.2', '::1'])
  server.records.set('v4only.shoal.test', ['127.0.0.3'])
  const addrs = await resolveTarget(resolver, { name: 'peers.shoal.test', port: 65002 })
  t.deepEqual(addrs.map(String).sort(), ['/ip4/127.0.0.1/tcp/65002', '/ip4/127.0.0.2/tcp/65002', '/ip6/::1/tcp/65002'])
  t.deepEqual((await resolveTarget(resolver, { name: 'v4only.shoal.test', port: 1 })).map(String), ['/ip4/127.0.0.3/tcp/1'])
  t.deepEqual(await resolveTarget(resolver, { name: 'nobody.shoal.test', port: 1 }), [])
  server.failing = true
  await t.throwsAsync(resolveTarget(resolver, { name: 'peers.shoal.test', port: 1 }), { name: 'DnsResolveError', message: /peers\.shoal\.test/ })
})

test('DnsPeers dials every address of the name without a peer id, learns who answered, and follows the record set as it changes', async t => {
  const server = await dnsServer(t)
  const self = await startTestNode(t, { listen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'] })
  // One port for all: a headless Service's pods listen on the same port at different addresses.
  const first = await startTestNode(t, { listen: ['/ip4/127.0.0.2/tcp/0'] })
  const port = portOf(first, 'ip4')
  const second = await startTestNode(t, { listen: [`/ip6/::1/tcp/${port}`] }).catch(() => undefined)
  if (second == null) return t.fail(`port ${port} is taken on ::1; run again`)
  server.records.set('peers.shoal.test', ['127.0.0.2'])
  const dials: string[] = []
  const peers = new DnsPeers({ node: countingDials(self, dials), resolver: resolverOf(server) }, { targets: [{ name: 'peers.shoal.test', port }], role: 'bootstrap', resolveIntervalMs: 100 })
  const changes: DnsPeer[][] = []
  peers.on('change', found => changes.push(found))
  peers.start()
  t.teardown(async () => { await peers.stop() })
  const ids = (): string[] => peers.peers().map(p => p.id.toString()).sort()

  await waitUntil(() => ids().length === 1, 'the first host found')
  t.deepEqual(ids(), [first.peerId.toString()])
  t.is(self.getConnections(first.peerId).length > 0, true, 'dialled')
  t.true(peers.resolves(multiaddr(`/ip4/127.0.0.2/tcp/${port}/p2p/${first.peerId.toString()}`)))
  t.false(peers.resolves(multiaddr(`/ip6/::1/tcp/${port}`)))

  // A host added to the record set (over IPv6) is dialled at the next round.
  server.records.set('peers.shoal.test', ['127.0.0.2', '::1'])
  await waitUntil(() => ids().length === 2, 'the added host found')
  t.deepEqual(ids(), [first.peerId.toString(), second.peerId.toString()].sort())
  t.deepEqual(peers.peers().find(p => p.id.equals(second.peerId))?.addresses.map(String), [`/ip6/::1/tcp/${port}`])

  // A DNS failure keeps the last addresses.
  server.failing = true
  const asked = server.questions.length
  await waitUntil(() => server.questions.length > asked + 4, 'rounds while failing')
  t.is(ids().length, 2)
  server.failing = false

  // Removed from the record set: no longer a peer here, and no longer dialled once its connection ends.
  server.records.set('peers.shoal.test', ['::1'])
  await waitUntil(() => ids().length === 1, 'the removed host gone')
  t.deepEqual(ids(), [second.peerId.toString()])
  await self.hangUp(first.peerId)
  const dialsBefore = dials.length
  const before = server.questions.length
  await waitUntil(() => server.questions.length > before + 4, 'two more rounds')
  // (The DHT of either node may connect them again: only this module's dials count.)
  t.deepEqual(dials.slice(dialsBefore).filter(addr => addr.startsWith('/ip4/127.0.0.2/')), [], 'not dialled again')
  t.deepEqual(changes.map(found => found.length), [1, 2, 1])
})

test('DnsPeers skips this node\'s own address (a headless Service lists every pod, this one too)', async t => {
  const server = await dnsServer(t)
  const self = await startTestNode(t, { listen: ['/ip4/127.0.0.1/tcp/0'] })
  const other = await startTestNode(t, { listen: ['/ip4/127.0.0.1/tcp/0'] })
  server.records.set('peers.shoal.test', ['127.0.0.1'])
  // Two targets, one per port: the other node and this one.
  const dials: string[] = []
  const counted = new DnsPeers({ node: countingDials(self, dials), resolver: resolverOf(server) }, { targets: [{ name: 'peers.shoal.test', port: portOf(self, 'ip4') }, { name: 'peers.shoal.test', port: portOf(other, 'ip4') }], role: 'bootstrap', resolveIntervalMs: 100 })
  counted.start()
  t.teardown(async () => { await counted.stop() })
  await waitUntil(() => counted.peers().length === 1, 'the other node found')
  t.deepEqual(counted.peers().map(p => p.id.toString()), [other.peerId.toString()])
  t.deepEqual(dials, [`/ip4/127.0.0.1/tcp/${portOf(other, 'ip4')}`], 'its own address is never dialled')
})

test('with maxPeers, only that many found peers are kept connected; when one goes, another is dialled', async t => {
  const server = await dnsServer(t)
  const self = await startTestNode(t, { listen: ['/ip4/127.0.0.1/tcp/0'] })
  const others = await Promise.all([0, 1, 2].map(async () => startTestNode(t, { listen: ['/ip4/127.0.0.1/tcp/0'] })))
  server.records.set('peers.shoal.test', ['127.0.0.1'])
  const dials: string[] = []
  const peers = new DnsPeers({ node: countingDials(self, dials), resolver: resolverOf(server) }, {
    targets: others.map(node => ({ name: 'peers.shoal.test', port: portOf(node, 'ip4') })), role: 'bootstrap', resolveIntervalMs: 100, maxPeers: 2
  })
  peers.start()
  t.teardown(async () => { await peers.stop() })
  const connected = (): P2pNode[] => others.filter(node => self.getConnections(node.peerId).length > 0)
  await waitUntil(() => peers.peers().length === 2, 'two found')
  const asked = server.questions.length
  await waitUntil(() => server.questions.length > asked + 4, 'two more rounds')
  t.is(new Set(dials).size, 2, 'the third is not dialled while two are connected')
  t.is(connected().length, 2)
  const [gone] = connected() as [P2pNode]
  await gone.stop()
  await waitUntil(() => new Set(dials).size === 3, 'the third dialled once one went')
  await waitUntil(() => connected().length === 2, 'two connected again')
})
