/**
 * A plain libp2p node that pings one address and says how it went, as one JSON line:
 * `node netns-dial.ts DATA_DIR MULTIADDR` -> {"ok":true} or {"ok":false,"error":"..."}. Run inside a
 * network namespace (`ip netns exec`) by the membership tests, as a host of another address.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { createP2pNode, loadOrCreatePeerKey } from '@shoal/p2p'

const [dataDir = '', addr = ''] = process.argv.slice(2)
const node = await createP2pNode({ privateKey: await loadOrCreatePeerKey(dataDir), listen: ['/ip4/0.0.0.0/tcp/0'], admission: { kind: 'members', allows: () => true } })
try {
  await node.services.ping.ping(multiaddr(addr), { signal: AbortSignal.timeout(5_000) })
  process.stdout.write(JSON.stringify({ ok: true }) + '\n')
} catch (err) {
  process.stdout.write(JSON.stringify({ ok: false, error: `${(err as Error).name}: ${(err as Error).message}` }) + '\n')
} finally {
  await node.stop()
}
