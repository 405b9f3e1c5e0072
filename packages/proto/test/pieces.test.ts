import test from 'ava'
import { pieceSizeFor, pieceCountFor, pieceSpan, pieceAt, MIN_PIECE_SIZE, MAX_PIECE_SIZE, TARGET_PIECE_COUNT } from '../src/index.ts'

const MiB = 1024 * 1024

test('piece size follows the documented rule', t => {
  t.is(pieceSizeFor(0), MIN_PIECE_SIZE)
  t.is(pieceSizeFor(1), MIN_PIECE_SIZE)
  t.is(pieceSizeFor(200 * 1000 * 1000), MiB)
  t.is(pieceCountFor(200 * 1000 * 1000), 191)
  t.is(pieceSizeFor(1024 * MiB), 4 * MiB)
  t.is(pieceCountFor(1024 * MiB), 256)
  t.is(pieceSizeFor(1024 * MiB + 1), 8 * MiB)
  t.is(pieceSizeFor(100_000 * MiB), MAX_PIECE_SIZE)
})

test('pieces tile the blob exactly, at most TARGET_PIECE_COUNT below the maximum size', t => {
  for (const size of [1, MiB - 1, MiB, MiB + 1, 300 * MiB + 7, 2048 * MiB + 3]) {
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
    t.true(count <= TARGET_PIECE_COUNT)
  }
})

test('out-of-range pieces and sizes are errors', t => {
  t.throws(() => pieceSpan(MiB, 1), { name: 'InvalidPieceError' })
  t.throws(() => pieceSpan(MiB, -1), { name: 'InvalidPieceError' })
  t.throws(() => pieceSizeFor(-1), { name: 'InvalidPieceError' })
  t.throws(() => pieceAt(10, 10), { name: 'InvalidPieceError' })
})
