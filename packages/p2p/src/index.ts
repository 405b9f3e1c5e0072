/**
 * @packageDocumentation
 *
 * The libp2p side that shoal's agents and schedulers share, so that both speak the same network
 * without importing each other: `createP2pNode` (TCP, Noise with native crypto, Yamux, identify,
 * ping, the Kad-DHT under `/shoal/kad/1.0.0`, the swarm-key protector), the persistent peer
 * identity in a data dir, the data dir's modes (0700 / 0600: it holds private layers and keys), and
 * swarm key files.
 */
export { createP2pNode } from './node.ts'
export type { P2pNode, P2pNodeInit, P2pServices } from './node.ts'
export { admissionGater, isLoopbackAddr, tcpAddressKey } from './gate.ts'
export type { Admission } from './gate.ts'
export { loadOrCreatePeerKey, PEER_KEY_FILE } from './identity.ts'
export { secureDataDir } from './data-dir.ts'
export type { SecureDataDirResult } from './data-dir.ts'
export { generateSwarmKey, loadSwarmKey, parseSwarmKey, swarmKeyBytes } from './swarm-key.ts'
export { pskProtector } from './psk-protector.ts'
export { ConfigError, AbortError, SwarmKeyError, PeerIdentityError, DataDirPermissionError } from './errors.ts'
export {
  P2P_INBOUND_CONNECTIONS_PER_IP_PER_S, P2P_PSK_HANDSHAKE_TIMEOUT_MS, P2P_BOOTSTRAP_DIAL_TIMEOUT_MS, P2P_STREAM_WINDOW_BYTES,
  DHT_PROVIDER_RECORD_VALIDITY_MS, DHT_PROVIDER_CLEANUP_INTERVAL_MS, DATA_DIR_DIR_MODE, DATA_DIR_FILE_MODE
} from './constants.ts'
