import { InvalidPieceError } from './errors.ts'

export const MIN_PIECE_SIZE = 256 * 1024
/** Pieces below this size are made only while a blob has at most SMALL_PIECE_COUNT of them. */
export const SMALL_PIECE_SIZE_LIMIT = 1024 * 1024
export const SMALL_PIECE_COUNT = 64
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
 * The rule: the smallest power of two from MIN_PIECE_SIZE (256 KiB) that cuts the blob into at most
 * SMALL_PIECE_COUNT (64) pieces while pieces are under 1 MiB, and into at most TARGET_PIECE_COUNT
 * (256) pieces from 1 MiB up, at most MAX_PIECE_SIZE (64 MiB). A 16 MiB layer has 64 pieces of 256 KiB,
 * a 64 MiB layer 64 of 1 MiB, a 200 MB layer 191 of 1 MiB, a 1 GiB layer 256 of 4 MiB, a 30 GiB blob
 * 480 of 64 MiB.
 *
 * Why small pieces for small blobs: a peer relays a piece only once it holds it whole and checked,
 * so every hop from agent to agent costs at least a piece's time on a link (0.34 s for 1 MiB at
 * 25 Mbit). With 1 MiB pieces a fresh 25 Mbit rollout of 16 MiB layers took 24.1 s (p50, two runs);
 * with 256 KiB pieces 21.3-21.5 s (docs/dev/relay-latency.md). Why not for big blobs: each piece
 * costs a hash, a request and an index entry, and at 100 Mbit with 64 MiB layers 256 KiB pieces made
 * the CPU-bound swarm slower (35.6-37.3 s against 27.0-28.3 s); a piece table (one CID each) and a
 * bitfield stay small.
 */
export function pieceSizeFor (blobSize: number): number {
  assertSize(blobSize)
  let size = MIN_PIECE_SIZE
  while (size < SMALL_PIECE_SIZE_LIMIT && size * SMALL_PIECE_COUNT < blobSize) {
    size *= 2
  }
  while (size < MAX_PIECE_SIZE && size * TARGET_PIECE_COUNT < blobSize) {
    size *= 2
  }
  return size
}

export function pieceCountFor (blobSize: number): number {
  return blobSize === 0 ? 0 : Math.ceil(blobSize / pieceSizeFor(blobSize))
}

/**
 * The bytes one origin read may cover: a run of consecutive pieces of a blob read in one HTTP Range
 * request. A scheduler deals a cold blob's origin pieces in runs of originRunFor(size) pieces, and
 * an agent asks for a run in one request. Why: every request waits the origin's answer, and a
 * 256 KiB piece takes less time to send than an origin 100 ms away takes to answer, so pieces read
 * one per request leave the origin's link idle between answers (docs/dev/origin-hop.md). 2 MiB: 8
 * pieces of 256 KiB, 2 of 1 MiB, and blobs of pieces of 2 MiB and more are read a piece at a time;
 * 1 MiB runs left 1 MiB pieces 250 ms away at 22.8 s against 20.1 s.
 */
export const ORIGIN_RUN_BYTES = 2 * 1024 * 1024
/**
 * A blob of at least this many pieces is dealt in at least this many runs (a scheduler's readers
 * per cold blob): runs are dealt whole, so a 4 MiB layer in 2 MiB runs had two origin readers, who
 * then held its only copies and had to upload it to every other host. At 2 Mbit with 3 x 4 MiB
 * layers two hosts of eight read the whole image from the origin, and 8 hosts pulled in 117-137 s;
 * with 8 runs every host read a share, 84-93 s (docs/dev/relay-latency.md).
 */
export const ORIGIN_MIN_RUNS = 8

/**
 * Consecutive pieces in one origin read of a blob of `blobSize` bytes: ORIGIN_RUN_BYTES of pieces,
 * fewer where that would cut the blob into fewer than ORIGIN_MIN_RUNS runs, at least 1.
 */
export function originRunFor (blobSize: number): number {
  const byBytes = originReadPiecesFor(blobSize)
  const byCount = Math.floor(pieceCountFor(blobSize) / ORIGIN_MIN_RUNS)
  return Math.max(1, Math.min(byBytes, byCount))
}

/**
 * The most consecutive pieces of a blob of `blobSize` bytes one origin read of an agent covers
 * (ORIGIN_RUN_BYTES of them, at least 1): an agent joins the pieces it was dealt that follow each
 * other into one request, whether they were dealt as one run or as several.
 */
export function originReadPiecesFor (blobSize: number): number {
  return Math.max(1, Math.floor(ORIGIN_RUN_BYTES / pieceSizeFor(blobSize)))
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
 * A share of a blob's pieces, for placement by pieces: runs of originRunFor(size) consecutive
 * pieces go to the stripes in turn (run r to stripe r % count; for pieces of 2 MiB and more, piece i
 * to stripe i % count). A stripe is read from the origin a run per request, and a client reading a
 * blob in order draws on a new holder every run.
 */
export interface PieceStripe {
  index: number
  count: number
}

/** The stripes a blob can be cut into: one per run of pieces (originRunFor). */
export function stripeCountFor (blobSize: number): number {
  return Math.ceil(pieceCountFor(blobSize) / originRunFor(blobSize))
}

/** The pieces of stripe `stripe` of a blob of `blobSize` bytes, in order. */
export function stripePieces (blobSize: number, stripe: PieceStripe): number[] {
  const pieces: number[] = []
  const count = pieceCountFor(blobSize)
  const run = originRunFor(blobSize)
  for (let first = stripe.index * run; first < count; first += stripe.count * run) {
    for (let i = first; i < Math.min(first + run, count); i++) pieces.push(i)
  }
  return pieces
}

/** The bytes of stripe `stripe` of a blob of `blobSize` bytes. */
export function stripeBytes (blobSize: number, stripe: PieceStripe): number {
  return stripePieces(blobSize, stripe).reduce((sum, index) => sum + pieceSpan(blobSize, index).length, 0)
}
