import test from 'ava'
import { ORIGIN_RUN_BYTES, originRunFor, pieceCountFor, pieceSizeFor } from '@shoal/proto'
import { SCHEDULER_ORIGIN_KEEP_PIECES } from '../src/constants.ts'
import { assignOrigin, rebalance } from '../src/index.ts'
import { originKeepFor } from '../src/origin-round.ts'
import { peerKey } from './helpers.ts'

const MIB = 1024 * 1024

test('a reader keeps about a run of bytes when its reads are dealt again: two pieces and the rest of a 2 MiB run, or 2 MiB of single pieces', t => {
  for (const size of [16 * MIB, 64 * MIB, 3 * MIB + 11, 4 * MIB, 6 * MIB + 5]) {
    const run = originRunFor(size)
    const keep = originKeepFor(size, run)
    t.true(keep >= SCHEDULER_ORIGIN_KEEP_PIECES, `${size}: keeps ${keep}`)
    // What it keeps, the rest of the last kept piece's run included, is about ORIGIN_RUN_BYTES.
    const kept = Math.min(pieceCountFor(size), Math.ceil(keep / run) * run)
    t.true(kept * pieceSizeFor(size) >= Math.min(size, ORIGIN_RUN_BYTES), `${size}: ${kept} pieces kept`)
    t.true(kept * pieceSizeFor(size) <= ORIGIN_RUN_BYTES + run * pieceSizeFor(size), `${size}: ${kept} pieces kept`)
  }
  t.is(originKeepFor(16 * MIB, originRunFor(16 * MIB)), SCHEDULER_ORIGIN_KEEP_PIECES, 'runs of 2 MiB: as before')
})

test('a 3 MiB blob dealt to one agent in runs of one piece: newcomers take only what is past its first 2 MiB', t => {
  const size = 3 * MIB + 11
  const [first, b, c] = [peerKey(1), peerKey(2), peerKey(3)]
  const alone = assignOrigin({ pieceCount: pieceCountFor(size), assignees: [first], readersPerPiece: 1, run: originRunFor(size) })
  t.is(alone.run, 1)
  // Nothing reported finished yet: the agent may be reading several of its pieces already.
  const dealt = rebalance(alone, { done: () => false, downloaders: [first, b, c], keep: originKeepFor(size, alone.run) })
  t.deepEqual(dealt.piecesOf(first), [0, 1, 2, 3, 4, 5, 6, 7])
  t.deepEqual([...dealt.piecesOf(b), ...dealt.piecesOf(c)].sort((x, y) => x - y), [8, 9, 10, 11, 12])
})
