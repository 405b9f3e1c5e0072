import { randomBytes } from 'node:crypto'
import test from 'ava'
import { KEEP_ALIVE } from '@libp2p/interface'
import type { PeerId } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { cidOfDigest, digestOf } from '@shoal/proto'
import type { P2pNode } from '../src/index.ts'
import { startTestNode, testSwarmKey } from './helpers.ts'

const OP_TIMEOUT_MS = 20_000
/** A peer with the wrong key sometimes fails at once, sometimes only when the dial gives up. */
const INTRUDER_DIAL_TIMEOUT_MS = 5_000



function address (node: P2pNode): string {
  const addr = node.getMultiaddrs()[0]
  if (addr == null) throw new Error('node listens nowhere')
  return addr.toString()
}

/** Every peer that completed a connection to `node`, from now on. */
function connectedPeers (node: P2pNode): PeerId[] {
  const peers: PeerId[] = []
  node.addEventListener('connection:open', evt => { peers.push(evt.detail.remotePeer) })
  return peers
}

test('two nodes with the same swarm key connect and ping', async t => {
  const key = testSwarmKey()
  const a = await startTestNode(t, { swarmKey: key })
  const b = await startTestNode(t, { swarmKey: key, bootstrap: [address(a)] })
  t.is(b.getConnections(a.peerId).length, 1)
  t.true((await b.peerStore.get(a.peerId)).tags.has(KEEP_ALIVE))
  const rtt = await b.services.ping.ping(a.peerId, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })
  t.true(rtt >= 0)
  t.true(a.getConnections(b.peerId).length >= 1)
})

test('a node without the swarm key, or with another one, cannot connect and is not learnt', async t => {
  const key = testSwarmKey()
  const a = await startTestNode(t, { swarmKey: key })
  const b = await startTestNode(t, { swarmKey: key, bootstrap: [address(a)] })
  const seenByA = connectedPeers(a)
  const seenByB = connectedPeers(b)
  const open = await startTestNode(t)
  const otherKey = await startTestNode(t, { swarmKey: testSwarmKey() })

  await Promise.all([open, otherKey].flatMap(intruder => [a, b].map(async target => {
    const started = Date.now()
    await t.throwsAsync(intruder.dial(target.getMultiaddrs(), { signal: AbortSignal.timeout(INTRUDER_DIAL_TIMEOUT_MS) }))
    t.true(Date.now() - started < INTRUDER_DIAL_TIMEOUT_MS + 2_000)
  })))
  // The intruders are also refused when a keyed node dials them (by address only: a dial by
  // `/p2p/<id>` would itself put the id in the dialler's peer store).
  await Promise.all([open, otherKey].map(async intruder => {
    const bare = multiaddr(address(intruder).replace(/\/p2p\/.*$/, ''))
    await t.throwsAsync(a.services.ping.ping(bare, { signal: AbortSignal.timeout(INTRUDER_DIAL_TIMEOUT_MS) }))
  }))

  for (const keyed of [a, b]) {
    for (const intruder of [open, otherKey]) {
      t.false(await keyed.peerStore.has(intruder.peerId))
      t.is(keyed.getConnections(intruder.peerId).length, 0)
    }
  }
  // Only each other: the keyed pair may open a second connection (the DHT, a redial) meanwhile.
  t.true([...seenByA, ...seenByB].every(peer => peer.equals(a.peerId) || peer.equals(b.peerId)))
  // The keyed pair still works.
  t.true(await b.services.ping.ping(a.peerId, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) }) >= 0)
})

test('a CID provided by one node is found by a node bootstrapped to it', async t => {
  const key = testSwarmKey()
  const a = await startTestNode(t, { swarmKey: key })
  const b = await startTestNode(t, { swarmKey: key, bootstrap: [address(a)] })
  t.true(a.getProtocols().includes('/shoal/kad/1.0.0'))
  t.is(a.services.dht.getMode(), 'server')
  const cid = cidOfDigest(digestOf(randomBytes(1024)))

  await a.contentRouting.provide(cid, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })
  let found: { id: PeerId, multiaddrs: string[] } | undefined
  for await (const provider of b.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })) {
    if (provider.id.equals(a.peerId)) {
      found = { id: provider.id, multiaddrs: provider.multiaddrs.map(String) }
      break
    }
  }
  t.truthy(found, 'B found A as a provider')
  t.true(found?.multiaddrs.some(addr => addr.startsWith('/ip4/127.0.0.1/tcp/')), `loopback address kept: ${found?.multiaddrs.join(', ')}`)
})
