import test from 'ava'
import { pieceSizeFor, pieceCountFor, pieceSpan, pieceAt, stripeBytes, stripeCountFor, stripePieces, originReadPiecesFor, originRunFor, ORIGIN_RUN_BYTES, ORIGIN_MIN_RUNS, MIN_PIECE_SIZE, MAX_PIECE_SIZE, SMALL_PIECE_COUNT, TARGET_PIECE_COUNT } from '../src/index.ts'

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
  const size = 43 * PIECE + 5 // 44 pieces of 256 KiB, the last of 5 bytes: 9 runs of up to 5 (ORIGIN_MIN_RUNS)
  t.is(stripeCountFor(size), 9)
  const stripes = [0, 1, 2, 3].map(index => stripePieces(size, { index, count: 4 }))
  t.deepEqual(stripes[0], [0, 1, 2, 3, 4, 20, 21, 22, 23, 24, 40, 41, 42, 43], 'runs 0, 4 and 8; the last run is short')
  t.deepEqual(stripes.flat().sort((a, b) => a - b), Array.from({ length: pieceCountFor(size) }, (_, i) => i))
  t.is([0, 1, 2, 3].reduce((sum, index) => sum + stripeBytes(size, { index, count: 4 }), 0), size)
  t.is(stripeBytes(size, { index: 2, count: 4 }), 10 * PIECE)
  t.deepEqual(stripePieces(size, { index: 9, count: 10 }), [], 'more stripes than runs: some are empty')
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

test('one origin read of an agent joins ORIGIN_RUN_BYTES of consecutive pieces, however they were dealt', t => {
  t.is(originReadPiecesFor(3 * MiB), 8, '256 KiB pieces, dealt in runs of 1')
  t.is(originReadPiecesFor(4 * MiB), 8, '256 KiB pieces, dealt in runs of 2')
  t.is(originReadPiecesFor(64 * MiB), 2, '1 MiB pieces')
  t.is(originReadPiecesFor(512 * MiB), 1, '2 MiB pieces')
  t.is(originReadPiecesFor(1024 * MiB), 1, '4 MiB pieces: still one')
  for (const size of [1, MiB, 3 * MiB + 5, 16 * MiB, 64 * MiB]) t.true(originRunFor(size) <= originReadPiecesFor(size), `${size} bytes`)
})

test('a small blob is dealt in at least ORIGIN_MIN_RUNS runs, so that as many agents read it from the origin', t => {
  t.is(ORIGIN_MIN_RUNS, 8)
  t.is(originRunFor(4 * MiB), 2, '16 pieces of 256 KiB: 8 runs of 2, not 2 runs of 8')
  t.is(originRunFor(8 * MiB), 4, '32 pieces: 8 runs of 4')
  t.is(originRunFor(2 * MiB), 1, '8 pieces: one each')
  t.is(originRunFor(MiB), 1, 'fewer pieces than runs: still one piece a read')
  t.is(originRunFor(1), 1)
  for (const size of [3 * MiB + 5, 4 * MiB, 12 * MiB, 16 * MiB, 40 * MiB, 64 * MiB]) {
    const runs = Math.ceil(pieceCountFor(size) / originRunFor(size))
    t.true(runs >= ORIGIN_MIN_RUNS, `${size} bytes: ${runs} runs`)
  }
})
