import { InvalidPieceError } from './errors.ts'

export const MIN_PIECE_SIZE = 1024 * 1024
export const MAX_PIECE_SIZE = 64 * 1024 * 1024
export const TARGET_PIECE_COUNT = 256
/**
 * The most pieces a blob may have, and so the largest blob shoal moves: 65,536 pieces of
 * MAX_PIECE_SIZE, 4 TiB. It bounds what a peer may send: a piece table of at most ~2.4 MB and a
 * bitfield of at most 8 KiB.
 */
export const MAX_PIECE_COUNT = 65_536
export const MAX_BLOB_SIZE = MAX_PIECE_COUNT * MAX_PIECE_SIZE

/**
 * The piece size of a blob is a pure function of its size, so every agent cuts a blob into the
 * same pieces without being told, and a piece id (blob digest + index) means the same bytes
 * everywhere.
 *
 * The rule: the smallest power of two that cuts the blob into at most TARGET_PIECE_COUNT pieces,
 * clamped to [1 MiB, 64 MiB]. Pieces small enough to spread one blob over many peers and to resume
 * at a fine grain; few enough that a piece table (one CID each) and a bitfield stay small and the
 * per-piece cost (a hash, a request, an index write) stays amortised. A 200 MB layer has 1 MiB
 * pieces (191 of them), a 1 GiB layer 4 MiB pieces (256), a 30 GiB blob 64 MiB pieces (480).
 */
export function pieceSizeFor (blobSize: number): number {
  assertSize(blobSize)
  let size = MIN_PIECE_SIZE
  while (size < MAX_PIECE_SIZE && size * TARGET_PIECE_COUNT < blobSize) {
    size *= 2
  }
  return size
}

export function pieceCountFor (blobSize: number): number {
  return blobSize === 0 ? 0 : Math.ceil(blobSize / pieceSizeFor(blobSize))
}

export interface PieceSpan {
  index: number
  offset: number
  length: number
}

/** Offset and length of piece `index` of a blob of `blobSize` bytes. */
export function pieceSpan (blobSize: number, index: number): PieceSpan {
  const count = pieceCountFor(blobSize)
  if (!Number.isInteger(index) || index < 0 || index >= count) {
    throw new InvalidPieceError(`piece ${index} is outside a blob of ${count} pieces`)
  }
  const size = pieceSizeFor(blobSize)
  const offset = index * size
  return { index, offset, length: Math.min(size, blobSize - offset) }
}

/** The piece that holds byte `offset`. */
export function pieceAt (blobSize: number, offset: number): number {
  if (offset < 0 || offset >= blobSize) {
    throw new InvalidPieceError(`offset ${offset} is outside a blob of ${blobSize} bytes`)
  }
  return Math.floor(offset / pieceSizeFor(blobSize))
}

function assertSize (blobSize: number): void {
  if (!Number.isSafeInteger(blobSize) || blobSize < 0) {
    throw new InvalidPieceError(`blob size ${blobSize} is not a non-negative integer`)
  }
}

/**
 * A share of a blob's pieces, for placement by pieces: piece `i` belongs to stripe `i % count`.
 * Consecutive pieces go to different stripes, so a client reading a blob in order draws on every
 * holder at once.
 */
export interface PieceStripe {
  index: number
  count: number
}

/** The pieces of stripe `stripe` of a blob of `blobSize` bytes, in order. */
export function stripePieces (blobSize: number, stripe: PieceStripe): number[] {
  const pieces: number[] = []
  const count = pieceCountFor(blobSize)
  for (let i = stripe.index; i < count; i += stripe.count) pieces.push(i)
  return pieces
}

/** The bytes of stripe `stripe` of a blob of `blobSize` bytes. */
export function stripeBytes (blobSize: number, stripe: PieceStripe): number {
  return stripePieces(blobSize, stripe).reduce((sum, index) => sum + pieceSpan(blobSize, index).length, 0)
}
