/**
 * @packageDocumentation
 *
 * The peer protocol (/shoal/pieces/2.0.0, packages/proto/src/proto/pieces.proto), both sides:
 * PieceExchangeServer answers peers from the local PieceStore, PieceExchangeClient asks peers and
 * verifies everything they send. Neither knows about schedulers, the DHT or the blob path: the
 * layer fetcher composes them.
 */
export { PieceExchangeServer } from './server.ts'
export type { PieceExchangeServerComponents, PieceExchangeServerInit, PieceServedEvent } from './server.ts'
export { PieceExchangeClient } from './client.ts'
export type { PeerAddress, PieceExchangeClientComponents, PieceExchangeClientInit, PieceRef, PieceTableOptions } from './client.ts'
