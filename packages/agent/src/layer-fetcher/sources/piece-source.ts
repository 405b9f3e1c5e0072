import type { Digest } from '@shoal/proto'

/**
 * A piece's bytes, the digest they were checked against (never trust a source's word for it: it
 * checks), and where they came from. The bytes are the chunks they arrived in, in order: joining a
 * peer's piece into one buffer was a copy of every byte received (6% of a receiving agent's busy
 * time in `bench peer-link --profile`), and the file, the hash and the clients take chunks as well.
 */
export interface Piece {
  chunks: readonly Uint8Array[]
  digest: Digest
  from: 'origin' | 'peer'
}

/**
 * Where one blob's pieces can come from: a peer (sources/peer.ts) or the origin by HTTP Range
 * (sources/origin-range.ts). `fetch` resolves to the piece, checked against the blob's piece
 * table, or to undefined when the source gave an answer rather than the piece (a peer's NOT_FOUND
 * or BUSY, a failure the source has reported and booked, an origin read no longer wanted): the
 * caller then asks elsewhere. It throws only for what ends the download (a table the origin
 * contradicts, no origin fallback) or when the signal aborts.
 */
export interface PieceSource {
  /** `origin`, or the peer's id. */
  readonly name: string
  fetch: (index: number, options: { signal: AbortSignal }) => Promise<Piece | undefined>
}
