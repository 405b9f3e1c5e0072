import test from 'ava'
import { pieceSizeFor, pieceCountFor, pieceSpan, pieceAt, stripeBytes, stripeCountFor, stripePieces, originRunFor, ORIGIN_RUN_BYTES, MIN_PIECE_SIZE, MAX_PIECE_SIZE, SMALL_PIECE_COUNT, TARGET_PIECE_COUNT } from '../src/index.ts'

const MiB = 1024 * 1024

test('piece size follows the documented rule', t => {
  t.is(pieceSizeFor(0), MIN_PIECE_SIZE)
  t.is(pieceSizeFor(1), MIN_PIECE_SIZE)
  t.is(MIN_PIECE_SIZE, MiB / 4)
  // Up to 64 pieces while they are under 1 MiB.
  t.is(pieceSizeFor(16 * MiB), MiB / 4)
  t.is(pieceCountFor(16 * MiB), 64)
  t.is(pieceSizeFor(16 * MiB + 1), MiB / 2)
  t.is(pieceSizeFor(32 * MiB + 1), MiB)
  t.is(pieceCountFor(64 * MiB), 64)
  // From 1 MiB up, up to 256.
  t.is(pieceSizeFor(256 * MiB), MiB)
  t.is(pieceSizeFor(256 * MiB + 1), 2 * MiB)
  t.is(pieceSizeFor(200 * 1000 * 1000), MiB)
  t.is(pieceCountFor(200 * 1000 * 1000), 191)
  t.is(pieceSizeFor(1024 * MiB), 4 * MiB)
  t.is(pieceCountFor(1024 * MiB), 256)
  t.is(pieceSizeFor(1024 * MiB + 1), 8 * MiB)
  t.is(pieceSizeFor(100_000 * MiB), MAX_PIECE_SIZE)
})

test('pieces tile the blob exactly, at most SMALL_PIECE_COUNT of pieces under 1 MiB and TARGET_PIECE_COUNT below the maximum size', t => {
  for (const size of [1, MiB - 1, MiB, MiB + 1, 16 * MiB + 1, 40 * MiB, 300 * MiB + 7, 2048 * MiB + 3]) {
    const count = pieceCountFor(size)
    let next = 0
    for (let i = 0; i < count; i++) {
      const span = pieceSpan(size, i)
      t.is(span.offset, next)
      t.true(span.length > 0)
      t.is(pieceAt(size, span.offset), i)
      next += span.length
    }
    t.is(next, size)
    t.true(count <= (pieceSizeFor(size) < MiB ? SMALL_PIECE_COUNT : TARGET_PIECE_COUNT))
  }
})

test('out-of-range pieces and sizes are errors', t => {
  t.throws(() => pieceSpan(MiB, 4), { name: 'InvalidPieceError' })
  t.throws(() => pieceSpan(MiB, -1), { name: 'InvalidPieceError' })
  t.throws(() => pieceSizeFor(-1), { name: 'InvalidPieceError' })
  t.throws(() => pieceAt(10, 10), { name: 'InvalidPieceError' })
})

test('the stripes of a blob partition its pieces, and their bytes add up to the blob', t => {
  const PIECE = MIN_PIECE_SIZE
  const size = 44 * PIECE + 5 // 45 pieces of 256 KiB, the last of 5 bytes: 6 runs of up to 8
  t.is(stripeCountFor(size), 6)
  const stripes = [0, 1, 2, 3].map(index => stripePieces(size, { index, count: 4 }))
  t.deepEqual(stripes[1], [8, 9, 10, 11, 12, 13, 14, 15, 40, 41, 42, 43, 44], 'runs 1 and 5; the last run is short')
  t.deepEqual(stripes.flat().sort((a, b) => a - b), Array.from({ length: pieceCountFor(size) }, (_, i) => i))
  t.is([0, 1, 2, 3].reduce((sum, index) => sum + stripeBytes(size, { index, count: 4 }), 0), size)
  t.is(stripeBytes(size, { index: 2, count: 4 }), 8 * PIECE)
  t.deepEqual(stripePieces(size, { index: 6, count: 7 }), [], 'more stripes than runs: some are empty')
  // Pieces of 2 MiB: one per run, piece i in stripe i % count.
  const big = 512 * MiB
  t.deepEqual(stripePieces(big, { index: 1, count: 120 }), [1, 121, 241])
  t.is(stripeCountFor(big), 256)
})

test('an origin read covers a run of pieces up to ORIGIN_RUN_BYTES, and at least one piece', t => {
  t.is(originRunFor(16 * MiB), 8, '256 KiB pieces')
  t.is(originRunFor(16 * MiB + 1), 4, '512 KiB pieces')
  t.is(originRunFor(64 * MiB), 2, '1 MiB pieces')
  t.is(originRunFor(512 * MiB), 1, '2 MiB pieces')
  t.is(originRunFor(1024 * MiB), 1, '4 MiB pieces')
  t.is(ORIGIN_RUN_BYTES, 2 * MiB)
})
