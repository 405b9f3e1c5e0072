import assert from 'node:assert/strict'
import test from 'ava'
import fc from 'fast-check'
import { assignOrigin, reassign, rebalance } from '../src/index.ts'
import type { OriginAssignment, PeerKey } from '../src/index.ts'
import { peerKey } from './helpers.ts'

const splitArb = fc.record({
  pieceCount: fc.nat({ max: 80 }),
  n: fc.integer({ min: 1, max: 9 }),
  k: fc.integer({ min: 1, max: 4 }),
  run: fc.integer({ min: 1, max: 4 })
})

function loads (assignment: OriginAssignment, peers: readonly PeerKey[], done: (i: number) => boolean = () => false): number[] {
  return peers.map(peer => assignment.piecesOf(peer).filter(i => !done(i)).length)
}

function spread (values: number[]): number {
  return values.length === 0 ? 0 : Math.max(...values) - Math.min(...values)
}

test('assignOrigin covers every piece exactly min(k, n) times with distinct readers; a run shares its readers; loads differ by at most a run; every assignee starts early', t => {
  fc.assert(fc.property(splitArb, ({ pieceCount, n, k, run }) => {
    const assignees = Array.from({ length: n }, (_, i) => peerKey(i))
    const assignment = assignOrigin({ pieceCount, assignees, readersPerPiece: k, run })
    const readers = Math.min(k, n)
    for (let i = 0; i < pieceCount; i++) {
      const list = assignment.readers(i)
      assert.equal(list.length, readers)
      assert.equal(new Set(list).size, readers)
      for (const peer of list) assert.ok(assignees.includes(peer))
      if (i % run !== 0) assert.deepEqual(list, assignment.readers(i - 1), `piece ${i} is read by the readers of piece ${i - 1}`)
    }
    assert.ok(spread(loads(assignment, assignees)) <= run)
    assert.equal(loads(assignment, assignees).reduce((a, b) => a + b, 0), pieceCount * readers)
    // Assignee j (arrival order) first reads run floor(j / k): all n start within the first ceil(n / k) runs.
    assignees.forEach((peer, j) => {
      const first = assignment.piecesOf(peer)[0]
      const expected = Math.floor(j / readers) * run
      assert.equal(first, expected < pieceCount ? expected : undefined)
    })
  }), { numRuns: 300 })
  t.pass()
})

const failureArb = fc.record({
  failed: fc.nat(), // index into the current assignees
  done: fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
  newcomers: fc.nat({ max: 2 }),
  rotate: fc.nat() // the remaining list in another order
})

test('reassign keeps every unfinished piece covered by min(k, remaining) distinct readers, never the failed peer, and keeps the readers that stay', t => {
  fc.assert(fc.property(splitArb, fc.array(failureArb, { minLength: 1, maxLength: 4 }), ({ pieceCount, n, k, run }, failures) => {
    let assignment = assignOrigin({ pieceCount, assignees: Array.from({ length: n }, (_, i) => peerKey(i)), readersPerPiece: k, run })
    let nextPeer = n
    const everDone = new Set<number>()
    for (const failure of failures) {
      const failed = assignment.assignees[failure.failed % Math.max(1, assignment.assignees.length)] ?? peerKey(1000)
      failure.done.forEach((d, i) => { if (d && i < pieceCount) everDone.add(i) })
      const done = (i: number): boolean => everDone.has(i)
      const others = assignment.assignees.filter(peer => peer !== failed)
      const shift = failure.rotate % Math.max(1, others.length)
      const remaining = [...others.slice(shift), ...others.slice(0, shift)]
      for (let j = 0; j < failure.newcomers; j++) remaining.push(peerKey(nextPeer++))
      const unfinished = Array.from({ length: pieceCount }, (_, i) => i).filter(i => !done(i))
      if (remaining.length === 0 && unfinished.length > 0) {
        assert.throws(() => reassign(assignment, { failed, done, remaining }), { name: 'NoOriginAssigneeError' })
        return
      }
      const next = reassign(assignment, { failed, done, remaining })
      assert.deepEqual(next.assignees, remaining)
      assert.deepEqual(next.piecesOf(failed), [])
      for (let i = 0; i < pieceCount; i++) {
        const readers = next.readers(i)
        assert.ok(!readers.includes(failed))
        assert.equal(new Set(readers).size, readers.length)
        for (const peer of readers) assert.ok(remaining.includes(peer))
        if (!done(i)) {
          assert.equal(readers.length, Math.min(assignment.readersPerPiece, remaining.length))
          for (const peer of assignment.readers(i)) {
            if (peer !== failed) assert.ok(readers.includes(peer), 'a reader that stays keeps its unfinished pieces')
          }
        }
      }
      if (assignment.readersPerPiece === 1) {
        const before = spread(loads(assignment, remaining, done))
        const after = spread(loads(next, remaining, done))
        assert.ok(after <= Math.max(run, before), `loads spread ${before} -> ${after} (runs of ${run})`)
      }
      assignment = next
    }
  }), { numRuns: 300 })
  t.pass()
})

/**
 * What rebalance must leave with `peer`, by a plain reading of its rule: its first `keep`
 * unfinished pieces and those it said it reads, and every unfinished piece of the reads those are in (its pieces in a row,
 * `joined` at a time from the row's first).
 */
function mustKeep (pieces: readonly number[], done: (i: number) => boolean, keep: number, joined: number, begun: (i: number) => boolean): Set<number> {
  const rowStart = new Map<number, number>()
  pieces.forEach((piece, j) => { rowStart.set(piece, j > 0 && pieces[j - 1] === piece - 1 ? rowStart.get(piece - 1)! : piece) })
  const readEnd = (piece: number): number => {
    const start = rowStart.get(piece)!
    return start + (Math.floor((piece - start) / joined) + 1) * joined - 1
  }
  const kept = new Set([...pieces.filter(i => !done(i)).slice(0, keep), ...pieces.filter(i => !done(i) && begun(i))])
  for (const piece of [...kept]) {
    for (const other of pieces) {
      if (!done(other) && other > piece && other <= readEnd(piece) && rowStart.get(other) === rowStart.get(piece)) kept.add(other)
    }
  }
  return kept
}

test('rebalance leaves each reader its first pieces, those it reads, and the rest of their reads, and every unfinished piece min(k, downloaders) distinct readers', t => {
  fc.assert(fc.property(splitArb, fc.record({
    done: fc.array(fc.boolean(), { minLength: 80, maxLength: 80 }),
    keeps: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 9, maxLength: 9 }),
    // One size of read for all, or one per reader (a reader busy elsewhere keeps pieces one by one).
    joined: fc.oneof(fc.integer({ min: 1, max: 8 }), fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 9, maxLength: 9 })),
    newcomers: fc.integer({ min: 0, max: 3 }),
    reading: fc.array(fc.nat({ max: 79 }), { maxLength: 6 })
  }), ({ pieceCount, n, k, run }, { done: doneList, keeps, joined, newcomers, reading }) => {
    const assignees = Array.from({ length: n }, (_, i) => peerKey(i))
    const assignment = assignOrigin({ pieceCount, assignees, readersPerPiece: k, run })
    const done = (i: number): boolean => doneList[i] === true
    const keepOf = (peer: PeerKey): number => keeps[assignees.indexOf(peer)] ?? 1
    const downloaders = [...assignees, ...Array.from({ length: newcomers }, (_, i) => peerKey(100 + i))]
    const joinedOf = (peer: PeerKey): number => typeof joined === 'number' ? joined : joined[assignees.indexOf(peer)] ?? 1
    // Each piece in `reading` is one its readers said they read.
    const begun = (peer: PeerKey, piece: number): boolean => reading.includes(piece) && assignment.piecesOf(peer).includes(piece)
    const next = rebalance(assignment, { done, downloaders, keep: keepOf, joined: typeof joined === 'number' ? joined : joinedOf, begun })
    for (const peer of assignees) {
      for (const piece of mustKeep(assignment.piecesOf(peer), done, keepOf(peer), joinedOf(peer), i => begun(peer, i))) {
        assert.ok(next.readers(piece).includes(peer), `piece ${piece} stays with its reader (keep ${keepOf(peer)}, reads of ${joinedOf(peer)})`)
      }
    }
    for (let i = 0; i < pieceCount; i++) {
      const readers = next.readers(i)
      assert.equal(new Set(readers).size, readers.length)
      if (!done(i)) assert.equal(readers.length, Math.min(assignment.readersPerPiece, downloaders.length))
    }
  }), { numRuns: 300 })
  t.pass()
})

