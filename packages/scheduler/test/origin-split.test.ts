import test from 'ava'
import { assignOrigin, reassign, rebalance } from '../src/index.ts'
import type { OriginAssignment, PeerKey } from '../src/index.ts'
import { peerKey } from './helpers.ts'

const [A, B, C, D] = [peerKey(1), peerKey(2), peerKey(3), peerKey(4)]

function table (assignment: OriginAssignment): PeerKey[][] {
  return Array.from({ length: assignment.pieceCount }, (_, i) => assignment.readers(i))
}

test('one reader per piece: dealt round-robin in arrival order, so each assignee starts early', t => {
  const assignment = assignOrigin({ pieceCount: 10, assignees: [A, B, C] })
  t.deepEqual(table(assignment), [[A], [B], [C], [A], [B], [C], [A], [B], [C], [A]])
  t.deepEqual(assignment.piecesOf(A), [0, 3, 6, 9])
  t.deepEqual(assignment.piecesOf(B), [1, 4, 7])
  t.deepEqual(assignment.piecesOf(C), [2, 5, 8])
  t.deepEqual(assignment.piecesOf(D), [])
  t.is(assignment.readersPerPiece, 1)
})

test('k readers per piece: distinct readers, even loads; k is capped at the assignees', t => {
  const two = assignOrigin({ pieceCount: 5, assignees: [A, B, C], readersPerPiece: 2 })
  t.deepEqual(table(two), [[A, B], [C, A], [B, C], [A, B], [C, A]])
  t.deepEqual([A, B, C].map(p => two.piecesOf(p).length), [4, 3, 3])
  const capped = assignOrigin({ pieceCount: 3, assignees: [A, B], readersPerPiece: 5 })
  t.is(capped.readersPerPiece, 2)
  t.deepEqual(table(capped), [[A, B], [A, B], [A, B]])
})

test('runs of consecutive pieces are dealt round-robin; reassign and rebalance keep a started run whole', t => {
  const split = assignOrigin({ pieceCount: 10, assignees: [A, B], run: 4 })
  t.deepEqual(split.piecesOf(A), [0, 1, 2, 3, 8, 9])
  t.deepEqual(split.piecesOf(B), [4, 5, 6, 7])
  t.is(split.run, 4)
  // B failed after piece 4: C takes its run from piece 5 on, whole (not one piece each to A and C).
  const moved = reassign(split, { failed: B, done: i => i === 4, remaining: [A, C] })
  t.deepEqual(moved.piecesOf(C), [5, 6, 7])
  t.is(moved.run, 4)
  // A newcomer: A keeps its first 2 unfinished pieces and the rest of that run; D gets the next run.
  const spread = rebalance(split, { done: () => false, downloaders: [A, B, D], keep: 2 })
  t.deepEqual(spread.piecesOf(A).slice(0, 4), [0, 1, 2, 3])
  t.deepEqual(spread.piecesOf(D).slice(0, 2), [8, 9])
})

test('fewer pieces than assignees: the first arrivals read them', t => {
  t.deepEqual(table(assignOrigin({ pieceCount: 2, assignees: [A, B, C, D] })), [[A], [B]])
  t.is(assignOrigin({ pieceCount: 0, assignees: [] }).pieceCount, 0)
})

test('bad input is refused by name', t => {
  t.is(t.throws(() => assignOrigin({ pieceCount: 3, assignees: [] }))?.name, 'NoOriginAssigneeError')
  t.is(t.throws(() => assignOrigin({ pieceCount: 3, assignees: [A, B, A] }))?.name, 'InvalidOriginAssignmentError')
  t.is(t.throws(() => assignOrigin({ pieceCount: -1, assignees: [A] }))?.name, 'InvalidOriginAssignmentError')
  t.is(t.throws(() => assignOrigin({ pieceCount: 1.5, assignees: [A] }))?.name, 'InvalidOriginAssignmentError')
  t.is(t.throws(() => assignOrigin({ pieceCount: 3, assignees: [A], readersPerPiece: 0 }))?.name, 'InvalidOriginAssignmentError')
  t.is(t.throws(() => assignOrigin({ pieceCount: 3, assignees: [A], run: 0 }))?.name, 'InvalidOriginAssignmentError')
  t.is(t.throws(() => assignOrigin({ pieceCount: 3, assignees: [A] }).readers(3))?.name, 'InvalidOriginAssignmentError')
})

test('reassign gives the failed assignee\'s unfinished pieces to the others, in order, least loaded first', t => {
  const assignment = assignOrigin({ pieceCount: 12, assignees: [A, B, C] })
  // A reads 0, 3, 6, 9; B 1, 4, 7, 10; C 2, 5, 8, 11. Done: 0, 1, 2 and 4.
  const done = new Set([0, 1, 2, 4])
  const next = reassign(assignment, { failed: A, done: i => done.has(i), remaining: [B, C] })
  t.deepEqual(next.assignees, [B, C])
  // Unfinished before: B 7, 10 (2); C 5, 8, 11 (3). A's 3 goes to B (2 < 3), 6 to B or C (3 = 3: B,
  // first listed), 9 to C.
  t.deepEqual(table(next), [[], [B], [C], [B], [B], [C], [B], [B], [C], [C], [B], [C]])
  t.deepEqual(next.piecesOf(A), [])
  t.deepEqual(table(assignment)[3], [A], 'the old assignment is unchanged')
})

test('reassign with closed assignees: they keep their own pieces and take none of the failed one\'s', t => {
  const assignment = assignOrigin({ pieceCount: 12, assignees: [A, B, C] })
  // A reads 0, 3, 6, 9; B 1, 4, 7, 10; C 2, 5, 8, 11. C is closed (behind itself): A's all go to B.
  const next = reassign(assignment, { failed: A, done: () => false, remaining: [B, C], closed: new Set([C]) })
  t.deepEqual(next.piecesOf(C), [2, 5, 8, 11], 'C keeps exactly its own')
  t.deepEqual(next.piecesOf(B), [0, 1, 3, 4, 6, 7, 9, 10])
  t.deepEqual(next.piecesOf(A), [])
})

test('reassign with k readers keeps the readers of a piece distinct and takes newcomers', t => {
  const assignment = assignOrigin({ pieceCount: 4, assignees: [A, B, C], readersPerPiece: 2 })
  // [[A, B], [C, A], [B, C], [A, B]]; unfinished loads B 3, C 2, D 0: A's slots go to D, D, then C
  // (C and D both have 2; C is listed first).
  const next = reassign(assignment, { failed: A, done: () => false, remaining: [B, C, D] })
  t.deepEqual(table(next), [[D, B], [C, D], [B, C], [C, B]])
  t.deepEqual([B, C, D].map(p => next.piecesOf(p).length), [3, 3, 2])
  const alone = reassign(assignment, { failed: A, done: () => false, remaining: [B] })
  t.deepEqual(table(alone), [[B], [B], [B], [B]], 'one assignee left: it reads every piece, once')
})

test('reassign with nobody left for an unfinished piece is refused by name; with all done it is fine', t => {
  const assignment = assignOrigin({ pieceCount: 3, assignees: [A] })
  t.is(t.throws(() => reassign(assignment, { failed: A, done: () => false, remaining: [A] }))?.name, 'NoOriginAssigneeError')
  t.deepEqual(table(reassign(assignment, { failed: A, done: () => true, remaining: [] })), [[], [], []])
  t.is(t.throws(() => reassign(assignment, { failed: A, done: () => true, remaining: [B, B] }))?.name, 'InvalidOriginAssignmentError')
})

test('rebalance: the first reader keeps its first unfinished pieces, the rest are dealt over the newcomers, finished pieces stay put', t => {
  const solo = assignOrigin({ pieceCount: 10, assignees: [A] })
  const done = new Set([0, 1])
  const spread = rebalance(solo, { done: i => done.has(i), downloaders: [A, B, C], keep: 3 })
  t.deepEqual(spread.assignees, [A, B, C])
  t.deepEqual(spread.piecesOf(A), [0, 1, 2, 3, 4], 'A keeps its finished pieces and its next 3 unfinished ones')
  t.deepEqual(spread.piecesOf(B), [5, 7, 9])
  t.deepEqual(spread.piecesOf(C), [6, 8])
  for (let i = 0; i < 10; i++) t.is(spread.readers(i).length, 1, `piece ${i} has one reader`)
})

test('rebalance: an assignee that is no longer a downloader gives up all its unfinished pieces; loads end even', t => {
  const split = assignOrigin({ pieceCount: 12, assignees: [A, B] })
  const spread = rebalance(split, { done: () => false, downloaders: [A, C, D], keep: 2 })
  t.deepEqual(spread.assignees, [A, C, D])
  t.deepEqual(spread.piecesOf(A).slice(0, 2), [0, 2], 'A keeps its first two')
  const loads = [A, C, D].map(p => spread.piecesOf(p).length)
  t.true(Math.max(...loads) - Math.min(...loads) <= 1, `even loads ${loads.join('/')}`)
  t.is(loads.reduce((x, y) => x + y, 0), 12)
})
