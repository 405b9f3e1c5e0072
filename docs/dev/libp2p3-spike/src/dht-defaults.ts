/* eslint-disable no-console -- a command-line check */
// Shows why the DHT needs explicit options on loopback/LAN: with kad-dht defaults
// (clientMode unset, removePrivateAddressesMapper) two nodes on 127.0.0.1 cannot
// provide/find. Run: node src/dht-defaults.ts
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper, removePrivateAddressesMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'

type Variant = { label: string, clientMode?: boolean, mapper: typeof passthroughMapper }
const variants: Variant[] = [
  { label: 'defaults (clientMode unset, removePrivateAddressesMapper)', mapper: removePrivateAddressesMapper },
  { label: 'clientMode:false, removePrivateAddressesMapper', clientMode: false, mapper: removePrivateAddressesMapper },
  { label: 'clientMode unset, passthroughMapper', mapper: passthroughMapper },
  { label: 'clientMode:false, passthroughMapper', clientMode: false, mapper: passthroughMapper }
]
const cid = CID.createV1(raw.code, await sha256.digest(new TextEncoder().encode('hello')))

for (const v of variants) {
  const make = () => createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: '/shoal/kad/1.0.0', peerInfoMapper: v.mapper, ...(v.clientMode != null ? { clientMode: v.clientMode } : {}) })
    }
  })
  const a = await make()
  const b = await make()
  try {
    await b.dial(a.getMultiaddrs())
    await new Promise(resolve => setTimeout(resolve, 500)) // let identify run
    let provided = 'ok'
    try {
      await a.contentRouting.provide(cid, { signal: AbortSignal.timeout(5000) })
    } catch (err) { provided = String(err) }
    let found = false
    try {
      for await (const p of b.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(5000) })) {
        if (p.id.equals(a.peerId)) { found = true; break }
      }
    } catch (err) { if (!found) provided += ` | find: ${String(err)}` }
    console.log(`${v.label}: modes A=${a.services.dht.getMode()} B=${b.services.dht.getMode()}, ` +
      `A routing table=${(a.services.dht as unknown as { routingTable?: { size: number } }).routingTable?.size}, provide=${provided}, B found A=${found}`)
  } finally {
    await a.stop(); await b.stop()
  }
}
