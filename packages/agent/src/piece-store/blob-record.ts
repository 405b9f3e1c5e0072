import { Bitfield, parseCid } from '@shoal/proto'
import type { Digest, PieceTable } from '@shoal/proto'

/** What the index knows of one blob. Piece CIDs are recorded only once the piece is durable. */
export interface BlobRecord {
  digest: Digest
  size: number
  pieceSize: number
  state: 'partial' | 'complete'
  /** CID (string form) of each piece's sha256, or null while the piece is missing. */
  pieces: Array<string | null>
  createdAt: number
  lastAccessAt: number
}

export function storedBytes (record: BlobRecord): number {
  if (record.state === 'complete') return record.size
  let bytes = 0
  for (let i = 0; i < record.pieces.length; i++) {
    if (record.pieces[i] != null) bytes += Math.min(record.pieceSize, record.size - i * record.pieceSize)
  }
  return bytes
}

/** The pieces the record holds, durable and verifiable (a piece without a recorded CID is not one). */
export function recordedBitfield (record: BlobRecord): Bitfield {
  const bitfield = new Bitfield(record.pieces.length)
  record.pieces.forEach((cid, index) => { if (cid != null) bitfield.set(index) })
  return bitfield
}

/** The record's piece table: the CIDs of the pieces it holds, holes where it holds none. */
export function recordedTable (record: BlobRecord): PieceTable {
  return { digest: record.digest, size: record.size, pieceSize: record.pieceSize, pieces: record.pieces.map(cid => cid == null ? undefined : parseCid(cid)) }
}
