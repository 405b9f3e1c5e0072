/**
 * @packageDocumentation
 *
 * Peers named by DNS (`--bootstrap dns:NAME[:PORT]`, `--scheduler dns:NAME[:PORT]`): hosts whose
 * peer ids nobody knows in advance, such as the pods behind a Kubernetes headless Service. Each
 * address is dialled without a peer id and the handshake tells who is there; the names are resolved
 * again every DNS_RESOLVE_INTERVAL_MS, so a host added to the record set joins and one removed is no
 * longer dialled. What a found peer may do is the connection gater's decision, as for any peer.
 */
export { DnsPeers } from './dns-peers.ts'
export type { DnsPeer, DnsPeersComponents, DnsPeersEvents, DnsPeersInit } from './dns-peers.ts'
export { resolveTarget, systemResolver } from './resolve.ts'
export type { DnsResolver } from './resolve.ts'
