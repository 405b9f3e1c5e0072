import test from 'ava'
import type { MultiaddrConnection } from '@libp2p/interface'
import { multiaddr } from '@multiformats/multiaddr'
import { admissionGater, isLoopbackAddr, tcpAddressKey } from '../src/index.ts'
import { startTestNode } from './helpers.ts'

/** What the gater reads of a raw connection: its remote address. */
const conn = (addr: string): MultiaddrConnection => ({ remoteAddr: multiaddr(addr) }) as unknown as MultiaddrConnection

test('loopback addresses are told from the others', t => {
  for (const a of ['/ip4/127.0.0.1/tcp/1', '/ip4/127.8.9.1/tcp/1', '/ip6/::1/tcp/1', '/dns4/localhost/tcp/1']) t.true(isLoopbackAddr(multiaddr(a)), a)
  for (const a of ['/ip4/10.0.0.5/tcp/65002', '/ip4/0.0.0.0/tcp/1', '/ip4/192.168.1.2/tcp/1', '/ip6/fe80::1/tcp/1', '/ip6/2001:db8::1/tcp/1', '/dns4/example.org/tcp/1', '/ip4/128.0.0.1/tcp/1']) {
    t.false(isLoopbackAddr(multiaddr(a)), a)
  }
})

test('with no membership (loopback), a connection from or a dial to a non-loopback address is refused before any handshake', async t => {
  const gater = admissionGater({ kind: 'loopback' })
  const peer = (await startTestNode(t)).peerId
  t.true(await gater.denyInboundConnection?.(conn('/ip4/10.0.0.5/tcp/40000')))
  t.true(await gater.denyInboundConnection?.(conn('/ip6/2001:db8::7/tcp/40000')))
  t.true(await gater.denyDialMultiaddr?.(multiaddr('/ip4/10.0.0.5/tcp/65002')))
  t.true(await gater.denyOutboundConnection?.(peer, conn('/ip4/10.0.0.5/tcp/65002')))
  t.false(await gater.denyInboundConnection?.(conn('/ip4/127.0.0.1/tcp/40000')))
  t.false(await gater.denyInboundConnection?.(conn('/ip6/::1/tcp/40000')))
  t.false(await gater.denyDialMultiaddr?.(multiaddr('/ip4/127.0.0.1/tcp/65002')))
})

test('with members, a peer is judged by its authenticated id, whatever its address', async t => {
  const member = (await startTestNode(t)).peerId
  const stranger = (await startTestNode(t)).peerId
  const gater = admissionGater({ kind: 'members', allows: p => p.equals(member) })
  t.falsy(gater.denyInboundConnection, 'addresses do not matter')
  t.false(await gater.denyInboundEncryptedConnection?.(member, conn('/ip4/10.0.0.5/tcp/1')))
  t.true(await gater.denyInboundEncryptedConnection?.(stranger, conn('/ip4/127.0.0.1/tcp/1')))
  t.true(await gater.denyOutboundEncryptedConnection?.(stranger, conn('/ip4/127.0.0.1/tcp/1')))
  t.true(await gater.denyDialPeer?.(stranger))
  t.false(await gater.denyDialPeer?.(member))
})

test('a node with members: a member connects and pings; a non-member holding the swarm key is cut off after the handshake, and is not dialled', async t => {
  const members = new Set<string>()
  const gated = await startTestNode(t, { admission: { kind: 'members', allows: p => members.has(p.toString()) } })
  const member = await startTestNode(t)
  const stranger = await startTestNode(t)
  members.add(member.peerId.toString())
  const addr = gated.getMultiaddrs()[0]
  if (addr == null) throw new Error('no address')
  await member.dial(addr, { signal: AbortSignal.timeout(10_000) })
  t.true(await gated.services.ping.ping(member.peerId, { signal: AbortSignal.timeout(10_000) }) >= 0)
  // The dialler's side of the upgrade may finish before the gated side refuses it: the connection
  // it gets is closed at once, and no stream ever opens on it.
  await stranger.dial(addr, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined)
  await t.throwsAsync(stranger.services.ping.ping(gated.peerId, { signal: AbortSignal.timeout(5_000) }))
  const deadline = Date.now() + 5_000
  while (stranger.getConnections(gated.peerId).length > 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  t.is(stranger.getConnections(gated.peerId).length, 0)
  t.is(gated.getConnections(stranger.peerId).length, 0)
  const err = await t.throwsAsync(gated.dial(stranger.getMultiaddrs()[0] ?? addr, { signal: AbortSignal.timeout(5_000) }))
  t.truthy(err)
  t.is(gated.getConnections(stranger.peerId).length, 0)
})

test('tcpAddressKey: IP and port, whatever the /p2p/ part', t => {
  t.is(tcpAddressKey(multiaddr('/ip4/10.0.0.5/tcp/65003/p2p/12D3KooWEBAyrjmBMVB4jK8gufgbqknrYcCSoqkovSdBz1QZVcSW')), '/ip4/10.0.0.5/tcp/65003')
  t.is(tcpAddressKey(multiaddr('/ip6/0:0:0:0:0:0:0:1/tcp/7')), tcpAddressKey(multiaddr('/ip6/::1/tcp/7')))
  t.is(tcpAddressKey(multiaddr('/dns4/example.org/tcp/1')), undefined)
})

test('with members and trusted addresses, only an outbound connection to a trusted address passes for a non-member', async t => {
  const stranger = (await startTestNode(t)).peerId
  const gater = admissionGater({ kind: 'members', allows: () => false, trustsAddress: a => tcpAddressKey(a) === '/ip4/127.0.0.1/tcp/4000' })
  t.false(await gater.denyOutboundEncryptedConnection?.(stranger, conn('/ip4/127.0.0.1/tcp/4000')))
  t.false(await gater.denyOutboundUpgradedConnection?.(stranger, conn('/ip4/127.0.0.1/tcp/4000')))
  t.true(await gater.denyOutboundEncryptedConnection?.(stranger, conn('/ip4/127.0.0.1/tcp/4001')))
  t.true(await gater.denyInboundEncryptedConnection?.(stranger, conn('/ip4/127.0.0.1/tcp/4000')), 'never inbound')
  t.true(await gater.denyDialPeer?.(stranger), 'a dial by peer id still needs a member')
})

test('a node with members dials a non-member at a trusted address (learning its id) and no other', async t => {
  const trusted = new Set<string>()
  const gated = await startTestNode(t, { admission: { kind: 'members', allows: () => false, trustsAddress: a => trusted.has(tcpAddressKey(a) ?? '') } })
  const scheduler = await startTestNode(t, { listen: ['/ip6/::1/tcp/0'], admission: { kind: 'any' } })
  const bare = multiaddr(tcpAddressKey(scheduler.getMultiaddrs()[0] ?? multiaddr('/ip4/0.0.0.0/tcp/1')) ?? '')
  await t.throwsAsync(async () => {
    await gated.dial(bare, { signal: AbortSignal.timeout(5_000) })
    await gated.services.ping.ping(scheduler.peerId, { signal: AbortSignal.timeout(5_000) })
  })
  trusted.add(bare.toString())
  const connection = await gated.dial(bare, { signal: AbortSignal.timeout(5_000) })
  t.true(connection.remotePeer.equals(scheduler.peerId))
  t.true(await gated.services.ping.ping(bare, { signal: AbortSignal.timeout(5_000) }) >= 0)
})
