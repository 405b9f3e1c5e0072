import test from 'ava'
import { originReadPiecesFor, originRunFor, pieceCountFor } from '@shoal/proto'
import { SCHEDULER_ORIGIN_KEEP_PIECES } from '../src/constants.ts'
import { assignOrigin, rebalance } from '../src/index.ts'
import { peerKey } from './helpers.ts'

const MIB = 1024 * 1024

/** How spreadOrigin deals a task's reads again when `downloaders` include newcomers. */
function dealAgain (size: number, assignment: ReturnType<typeof assignOrigin>, downloaders: ReturnType<typeof peerKey>[], done: (index: number) => boolean = () => false): ReturnType<typeof assignOrigin> {
  return rebalance(assignment, { done, downloaders, keep: SCHEDULER_ORIGIN_KEEP_PIECES, joined: originReadPiecesFor(size) })
}

test('a 3 MiB blob dealt to one agent in runs of one piece: newcomers take only what is past the 2 MiB its first read joins', t => {
  const size = 3 * MIB + 11
  const [first, b, c] = [peerKey(1), peerKey(2), peerKey(3)]
  const alone = assignOrigin({ pieceCount: pieceCountFor(size), assignees: [first], readersPerPiece: 1, run: originRunFor(size) })
  t.is(alone.run, 1)
  // Nothing reported finished yet: the agent reads pieces 0-7 in one request.
  const dealt = dealAgain(size, alone, [first, b, c])
  t.deepEqual(dealt.piecesOf(first), [0, 1, 2, 3, 4, 5, 6, 7])
  t.deepEqual([...dealt.piecesOf(b), ...dealt.piecesOf(c)].sort((x, y) => x - y), [8, 9, 10, 11, 12])
  // Pieces 0 and 2 reported: the read of 0-7 goes on (a finished piece inside it does not end it).
  const later = dealAgain(size, alone, [first, b, c], i => i === 0 || i === 2)
  t.deepEqual(later.piecesOf(first).filter(i => i !== 0 && i !== 2), [1, 3, 4, 5, 6, 7])
  // Pieces 0-9 reported: it reads 8-12, its second read.
  t.deepEqual(dealAgain(size, alone, [first, b, c], i => i < 10).piecesOf(first).filter(i => i >= 10), [10, 11, 12])
})

test('a 4 MiB blob dealt to three agents in runs of 2: each keeps the run it reads, not 2 MiB of runs it reads one by one', t => {
  const size = 4 * MIB
  const [a, b, c, d, e, f] = [1, 2, 3, 4, 5, 6].map(peerKey)
  const split = assignOrigin({ pieceCount: pieceCountFor(size), assignees: [a!, b!, c!], readersPerPiece: 1, run: originRunFor(size) })
  t.is(split.run, 2)
  t.deepEqual(split.piecesOf(a!), [0, 1, 6, 7, 12, 13])
  const dealt = dealAgain(size, split, [a!, b!, c!, d!, e!, f!])
  // The runs under way (0-1, 2-3, 4-5) stay; the newcomers take the next runs, a run each.
  t.deepEqual(dealt.piecesOf(a!).slice(0, 2), [0, 1])
  t.deepEqual(dealt.piecesOf(b!).slice(0, 2), [2, 3])
  t.deepEqual(dealt.piecesOf(c!).slice(0, 2), [4, 5])
  t.deepEqual([d, e, f].map(peer => dealt.piecesOf(peer!)), [[6, 7], [8, 9], [10, 11]])
  t.is(new Set([a, b, c, d, e, f].flatMap(peer => dealt.piecesOf(peer!))).size, 16, 'every piece has a reader')
})

test('pieces of 2 MiB and more: two pieces kept, as one read joins only one', t => {
  const size = 64 * MIB * 8
  const [a, b] = [peerKey(1), peerKey(2)]
  const alone = assignOrigin({ pieceCount: pieceCountFor(size), assignees: [a], readersPerPiece: 1, run: originRunFor(size) })
  t.is(originReadPiecesFor(size), 1)
  t.deepEqual(dealAgain(size, alone, [a, b]).piecesOf(a).slice(0, 3), [0, 1, 4])
})
