/**
 * The libp2p node of agents and schedulers: TCP, Noise and Yamux, identify and ping, and a
 * Kad-DHT server under shoal's own protocol id; a private network when a swarm key is given
 * (psk-protector.ts). See
 * docs/dev/libp2p3.md for why each setting is what it is, and docs/dev/peer-link.md for the
 * throughput work (Noise's crypto, the protector).
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { identify } from '@libp2p/identify'
import type { Identify } from '@libp2p/identify'
import { KEEP_ALIVE } from '@libp2p/interface'
import type { Libp2p, PrivateKey } from '@libp2p/interface'
import { kadDHT, removePublicAddressesMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { DHT_PROTOCOL } from '@shoal/proto'
import {
  DHT_PROVIDER_CLEANUP_INTERVAL_MS, DHT_PROVIDER_RECORD_VALIDITY_MS, P2P_BOOTSTRAP_DIAL_TIMEOUT_MS,
  P2P_INBOUND_CONNECTIONS_PER_IP_PER_S, P2P_MAX_EARLY_STREAMS, P2P_PING_MIN_TIMEOUT_MS, P2P_PING_STREAMS, P2P_STREAM_WINDOW_BYTES
} from './constants.ts'
import { AbortError, ConfigError } from './errors.ts'
import { admissionGater } from './gate.ts'
import type { Admission } from './gate.ts'
import { noiseCrypto } from './noise-crypto.ts'
import { pskProtector } from './psk-protector.ts'
import { swarmKeyBytes } from './swarm-key.ts'
import { libp2pLogger } from './quiet-logger.ts'

// A type, not an interface: libp2p's ServiceMap needs the implicit index signature.
export type P2pServices = {
  identify: Identify
  ping: Ping
  dht: KadDHT
}

export type P2pNode = Libp2p<P2pServices>

export interface P2pNodeInit {
  /** The persistent identity (identity.ts). */
  privateKey: PrivateKey
  /** Multiaddrs to listen on (`/ip4/0.0.0.0/tcp/65002`). */
  listen: string[]
  /** Multiaddrs to tell peers instead of the listen addresses (a host behind address translation). */
  announce?: string[]
  /** Peers dialled at start (`/ip4/10.0.0.5/tcp/65002/p2p/12D3Koo…`); the DHT fills from them. */
  bootstrap?: string[]
  /** A swarm key file's bytes (swarm-key.ts): only hosts with the same key can connect. */
  swarmKey?: Uint8Array
  /**
   * Who may hold a connection (gate.ts): loopback only when absent. With `any` the node keeps no
   * DHT records for others (a DHT client): a node that lets anyone in must not hand out provider records.
   */
  admission?: Admission
  /** Inbound connections accepted per second from one IP. */
  inboundConnectionsPerIpPerS?: number
  /** How long provider records stored for other peers stay valid (and our own before kad-dht re-announces them). */
  providerRecordValidityMs?: number
  /** How often expired provider records are dropped. */
  providerCleanupIntervalMs?: number
  /** Aborts the start and the bootstrap dials; the node is stopped again. */
  signal?: AbortSignal
  /** Where warnings go (a bootstrap peer that cannot be reached); the caller's logger. */
  warn?: (message: string, fields: Record<string, unknown>) => void
}

/**
 * Creates and starts the node, then dials the bootstrap peers. A bootstrap peer that cannot be
 * reached is logged, not fatal: the agent still serves from its store and the origin, and the
 * peer is redialled when it connects to us or the DHT learns of it.
 */
export async function createP2pNode (init: P2pNodeInit): Promise<P2pNode> {
  const listen = parseAddrs(init.listen, 'listen')
  const announce = parseAddrs(init.announce ?? [], 'announce')
  const bootstrap = parseAddrs(init.bootstrap ?? [], 'bootstrap')
  init.signal?.throwIfAborted()

  const admission = init.admission ?? { kind: 'loopback' }
  const node = await createLibp2p<P2pServices>({
    start: false,
    logger: libp2pLogger(),
    connectionGater: admissionGater(admission),
    privateKey: init.privateKey,
    addresses: { listen: listen.map(String), announce: announce.map(String) },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto })],
    streamMuxers: [yamux({
      maxEarlyStreams: P2P_MAX_EARLY_STREAMS,
      streamOptions: { maxStreamWindowSize: P2P_STREAM_WINDOW_BYTES, maxReadBufferLength: P2P_STREAM_WINDOW_BYTES }
    })],
    ...(init.swarmKey != null ? { connectionProtector: pskProtector({ psk: swarmKeyBytes(init.swarmKey) }) } : {}),
    connectionManager: {
      inboundConnectionThreshold: init.inboundConnectionsPerIpPerS ?? P2P_INBOUND_CONNECTIONS_PER_IP_PER_S
    },
    connectionMonitor: { pingTimeout: { minTimeout: P2P_PING_MIN_TIMEOUT_MS } },
    services: {
      identify: identify(),
      // libp2p's connection monitor pings every connection on this protocol, and a ping it cannot
      // make or that fails aborts the connection: the echo may take as long as the monitor waits
      // (libp2p's handler gives up after 10 s and resets the stream), and several may be open.
      ping: ping({ timeout: P2P_PING_MIN_TIMEOUT_MS, maxOutboundStreams: P2P_PING_STREAMS, maxInboundStreams: P2P_PING_STREAMS }),
      dht: kadDHT({
        protocol: DHT_PROTOCOL,
        // Left unset, the DHT stays a client until identify reports a public address, which
        // never happens on a LAN: nobody would answer queries or keep provider records.
        // A node open to anyone (a scheduler admitting by join token) stays a client: it answers no
        // DHT query and keeps no provider record.
        clientMode: admission.kind === 'any',
        // The default mapper drops private addresses (10/8, 192.168/16, 127/8 ...), and with them
        // every peer of a cluster network. Keep those; drop public ones, which agents do not use.
        peerInfoMapper: removePublicAddressesMapper,
        // Provider records: discovery/ re-announces what the agent holds every few minutes, so
        // records kept for other peers expire after a few intervals instead of 48 h, and a host
        // that left or evicted a blob stops being found soon after. `interval` is how often
        // kad-dht drops expired records; `threshold: 0` leaves re-announcing our own records to
        // discovery/ (kad-dht still re-announces one of ours once it has expired, which only
        // happens when discovery/ is not running).
        reprovide: {
          validity: init.providerRecordValidityMs ?? DHT_PROVIDER_RECORD_VALIDITY_MS,
          interval: init.providerCleanupIntervalMs ?? DHT_PROVIDER_CLEANUP_INTERVAL_MS,
          threshold: 0
        }
      })
    }
  })

  try {
    await node.start()
    init.signal?.throwIfAborted()
    await dialBootstrap(node, bootstrap, init.signal, init.warn)
  } catch (err) {
    await node.stop()
    if (init.signal?.aborted === true) throw new AbortError('p2p node start aborted', { cause: err })
    throw err
  }
  return node
}

/**
 * Dials every bootstrap peer at once and tags those that answered keep-alive, so libp2p redials
 * them when the connection drops. Throws only when `signal` aborts.
 */
async function dialBootstrap (node: P2pNode, peers: Multiaddr[], signal: AbortSignal | undefined, warn: P2pNodeInit['warn']): Promise<void> {
  const results = await Promise.allSettled(peers.map(async addr => {
    const timeout = AbortSignal.timeout(P2P_BOOTSTRAP_DIAL_TIMEOUT_MS)
    const connection = await node.dial(addr, { signal: signal == null ? timeout : AbortSignal.any([signal, timeout]) })
    await node.peerStore.merge(connection.remotePeer, { tags: { [KEEP_ALIVE]: { value: 1 } } })
  }))
  signal?.throwIfAborted()
  results.forEach((result, i) => {
    if (result.status === 'rejected') {
      const err = result.reason as Error
      warn?.('bootstrap peer unreachable', { peer: peers[i]?.toString(), error: `${err.name}: ${err.message}` })
    }
  })
}

function parseAddrs (values: string[], field: string): Multiaddr[] {
  return values.map(value => {
    try {
      return multiaddr(value)
    } catch (err) {
      throw new ConfigError(`${field}: "${value}" is not a multiaddr (${(err as Error).message})`, { cause: err })
    }
  })
}
