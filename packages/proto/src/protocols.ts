/**
 * libp2p protocol ids. Each is versioned on its own: a change to a protocol's wire format gets a
 * new id, so agents of two versions never misread each other.
 */

/**
 * The piece exchange between agents: piece tables, bitfields and pieces (src/proto/pieces.proto).
 * 2.0.0: blobs under 64 MiB are cut into smaller pieces (pieces.ts): a piece index of 1.0.0 named
 * other bytes, so agents of the two cuts do not trade pieces.
 */
export const PIECES_PROTOCOL = '/shoal/pieces/2.0.0'

/**
 * The Kad-DHT's full protocol id (`protocol` in @libp2p/kad-dht 16). Its own id keeps shoal's DHT
 * apart from the public IPFS DHT (`/ipfs/kad/1.0.0`).
 */
export const DHT_PROTOCOL = '/shoal/kad/1.0.0'

/** Agent to scheduler: the session of `scheduler.proto` (reports, parents, prefetch orders); 2.0.0 with the new cut of pieces. */
export const SCHEDULER_PROTOCOL = '/shoal/scheduler/2.0.0'
