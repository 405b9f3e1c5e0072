import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import { kadDHT, removePublicAddressesMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import type { PrivateKey } from '@libp2p/interface'

export const KAD_PROTOCOL = '/shoal/kad/1.0.0'

export interface NodeOptions {
  privateKey?: PrivateKey
  /** swarm.key file contents; omit for an open (non-pnet) node */
  swarmKey?: Uint8Array
  /** TCP port on 127.0.0.1, 0 = ephemeral */
  port?: number
  /** include the DHT service (default true) */
  dht?: boolean
  /** inbound connections accepted per second per remote IP (libp2p default 5) */
  inboundConnectionThreshold?: number
}

export async function createNode (opts: NodeOptions = {}) {
  return createLibp2p({
    privateKey: opts.privateKey,
    addresses: { listen: [`/ip4/127.0.0.1/tcp/${opts.port ?? 0}`] },
    transports: [tcp()],
    connectionManager: { inboundConnectionThreshold: opts.inboundConnectionThreshold ?? 5 },
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    ...(opts.swarmKey != null ? { connectionProtector: preSharedKey({ psk: opts.swarmKey }) } : {}),
    services: {
      identify: identify(),
      ping: ping(),
      ...(opts.dht === false
        ? {}
        : {
            dht: kadDHT({
              protocol: KAD_PROTOCOL,
              // default is removePrivateAddressesMapper, which drops 127/8, 10/8,
              // 192.168/16 ... so peers on a LAN/loopback never enter the routing
              // table. Keep private addresses (passthroughMapper keeps everything).
              peerInfoMapper: removePublicAddressesMapper,
              // default is client mode until a *public* address is seen: force server
              clientMode: false
            })
          })
    }
  })
}
