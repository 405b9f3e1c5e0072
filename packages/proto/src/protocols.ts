/**
 * libp2p protocol ids. Each is versioned on its own: a change to a protocol's wire format gets a
 * new id, so agents of two versions never misread each other.
 */

/** The piece exchange between agents: piece tables, bitfields and pieces (src/proto/pieces.proto). */
export const PIECES_PROTOCOL = '/shoal/pieces/1.0.0'

/**
 * The Kad-DHT's full protocol id (`protocol` in @libp2p/kad-dht 16). Its own id keeps shoal's DHT
 * apart from the public IPFS DHT (`/ipfs/kad/1.0.0`).
 */
export const DHT_PROTOCOL = '/shoal/kad/1.0.0'

/** Agent to scheduler: the session of `scheduler.proto` (reports, parents, prefetch orders). */
export const SCHEDULER_PROTOCOL = '/shoal/scheduler/1.0.0'
