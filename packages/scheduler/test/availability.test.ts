import test from 'ava'
import { AvailabilityRegistry, TaskAvailability } from '../src/index.ts'
import { bits, fullBits, PIECE, peerKey, taskDigest } from './helpers.ts'

const A = peerKey(1)
const B = peerKey(2)
const C = peerKey(3)

function task10 (): TaskAvailability {
  return new TaskAvailability({ digest: taskDigest(1), size: 10 * PIECE })
}

test('the piece count follows from the size', t => {
  t.is(task10().pieceCount, 10)
  t.is(new TaskAvailability({ digest: taskDigest(1), size: 64 * PIECE }).pieceCount, 64)
  t.is(new TaskAvailability({ digest: taskDigest(1), size: 0 }).pieceCount, 0)
  t.is(t.throws(() => new TaskAvailability({ digest: taskDigest(1), size: -1 }))?.name, 'InvalidPieceError')
})

test('holder counts follow setBitfield, pieceFinished, pieceLost and removePeer', t => {
  const task = task10()
  task.setBitfield(A, bits(10, [0, 1, 2]))
  task.setBitfield(B, bits(10, [2, 3, 9]))
  t.deepEqual(counts(task), [1, 1, 2, 1, 0, 0, 0, 0, 0, 1])
  t.deepEqual(task.holders(2), [A, B])
  t.deepEqual(task.holders(4), [])

  t.true(task.pieceFinished(C, 4), 'a peer reporting a piece joins the task')
  t.false(task.pieceFinished(C, 4), 'a second report of the same piece changes nothing')
  t.true(task.has(C))
  t.is(task.holderCount(4), 1)

  task.setBitfield(A, bits(10, [2, 8])) // replaces: 0 and 1 go, 8 comes
  t.deepEqual(counts(task), [0, 0, 2, 1, 1, 0, 0, 0, 1, 1])

  t.true(task.pieceLost(B, 9))
  t.false(task.pieceLost(B, 9))
  t.false(task.pieceLost(peerKey(99), 9), 'a peer not in the task loses nothing')
  t.is(task.holderCount(9), 0)

  t.true(task.removePeer(A))
  t.false(task.removePeer(A))
  t.deepEqual(counts(task), [0, 0, 1, 1, 1, 0, 0, 0, 0, 0])
  t.deepEqual([...task.peers()], [B, C])
  t.is(task.peerCount, 2)
  t.is(task.bitfield(A), undefined)
  t.deepEqual(task.bitfield(B)?.missing(), [0, 1, 4, 5, 6, 7, 8, 9])
})

test('setBitfield copies: later changes to the caller\'s bitfield do not reach the counts', t => {
  const task = task10()
  const mine = bits(10, [1])
  task.setBitfield(A, mine)
  mine.set(2)
  mine.clear(1)
  t.is(task.holderCount(1), 1)
  t.is(task.holderCount(2), 0)
  t.true(task.bitfield(A)?.has(1))
})

test('bad input is refused by name and changes nothing', t => {
  const task = task10()
  t.is(t.throws(() => task.setBitfield(A, bits(11, [0])))?.name, 'InvalidBitfieldError')
  t.is(t.throws(() => task.pieceFinished(A, 10))?.name, 'InvalidPieceError')
  t.is(t.throws(() => task.pieceFinished(A, -1))?.name, 'InvalidPieceError')
  t.is(t.throws(() => task.holderCount(10))?.name, 'InvalidPieceError')
  t.is(t.throws(() => task.pieceLost(A, 1.5))?.name, 'InvalidPieceError')
  t.is(task.peerCount, 0, 'a refused first report does not add the peer')
})

test('rarestMissing: the peer\'s missing pieces, fewest holders first, then in order', t => {
  const task = task10()
  task.setBitfield(A, bits(10, [0, 1, 2, 3, 5]))
  task.setBitfield(B, bits(10, [0, 1, 2, 7]))
  task.setBitfield(C, bits(10, [0, 1, 6]))
  const child = peerKey(4)
  task.addPeer(child)
  task.pieceFinished(child, 1)
  // holders: 0:3 1:4 2:2 3:1 4:0 5:1 6:1 7:1 8:0 9:0
  t.deepEqual(task.rarestMissing(child, 10), [3, 5, 6, 7, 2, 0])
  t.deepEqual(task.rarestMissing(child, 3), [3, 5, 6])
  t.deepEqual(task.rarestMissing(child, 0), [])
  t.deepEqual(task.rarestMissing(child, 4, { includeUnheld: true }), [4, 8, 9, 3])
  t.deepEqual(task.rarestMissing(peerKey(5), 2), [3, 5], 'a peer not in the task lacks everything')
  t.deepEqual(task.rarestMissing(A, 10), [6, 7])
})

test('the registry makes a task on its first announcement and drops it with its last peer', t => {
  const registry = new AvailabilityRegistry()
  const digest = taskDigest(1)
  const task = registry.announce(A, { digest, size: 10 * PIECE })
  t.is(registry.taskCount, 1)
  t.is(task.peerCount, 1)
  t.is(task.bitfield(A)?.count(), 0, 'a downloader holds nothing yet')
  registry.announce(B, { digest, size: 10 * PIECE }, fullBits(10))
  t.is(registry.task(digest), task)
  t.is(task.holderCount(3), 1)
  registry.pieceFinished(A, digest, 3)
  registry.announce(A, { digest, size: 10 * PIECE })
  t.is(task.holderCount(3), 2, 'announcing again without a bitfield keeps what the peer holds')

  t.true(registry.leave(A, digest))
  t.false(registry.leave(A, digest))
  t.deepEqual(registry.tasksOf(A), [])
  t.is(registry.peerCount, 1)
  t.true(registry.leave(B, digest))
  t.is(registry.task(digest), undefined)
  t.is(registry.taskCount, 0)
  t.is(registry.peerCount, 0)
})

test('the registry refuses another size for a known task and reports on unknown tasks', t => {
  const registry = new AvailabilityRegistry()
  const digest = taskDigest(1)
  registry.announce(A, { digest, size: 10 * PIECE })
  t.is(t.throws(() => registry.announce(B, { digest, size: 11 * PIECE }))?.name, 'TaskSizeMismatchError')
  t.false(registry.task(digest)?.has(B))
  t.deepEqual(registry.tasksOf(B), [])
  t.is(t.throws(() => registry.pieceFinished(A, taskDigest(2), 0))?.name, 'UnknownTaskError')
  t.is(t.throws(() => registry.pieceLost(A, taskDigest(2), 0))?.name, 'UnknownTaskError')
  t.is(t.throws(() => registry.announce(A, { digest: taskDigest(3), size: 10 * PIECE }, bits(9, [])))?.name, 'InvalidBitfieldError')
  t.is(registry.task(taskDigest(3)), undefined, 'a refused first announcement makes no task')
  t.deepEqual(registry.tasksOf(A), [digest])
})

test('removePeer takes a peer out of every task it is in and fixes the holder counts', t => {
  const registry = new AvailabilityRegistry()
  const [d1, d2, d3] = [taskDigest(1), taskDigest(2), taskDigest(3)]
  registry.announce(A, { digest: d1, size: 10 * PIECE }, fullBits(10))
  registry.announce(A, { digest: d2, size: 64 * PIECE }, bits(64, [0, 63]))
  registry.announce(B, { digest: d2, size: 64 * PIECE }, bits(64, [0, 1]))
  registry.announce(B, { digest: d3, size: 3 * PIECE })
  registry.pieceFinished(A, d3, 2)
  t.deepEqual(registry.tasksOf(A).sort(), [d1, d2, d3].sort())

  t.deepEqual(registry.removePeer(A).sort(), [d1, d2, d3].sort())
  t.deepEqual(registry.removePeer(A), [])
  t.is(registry.task(d1), undefined, 'A was its only peer')
  const t2 = registry.task(d2)!
  t.is(t2.holderCount(0), 1)
  t.is(t2.holderCount(1), 1)
  t.is(t2.holderCount(63), 0)
  t.deepEqual(t2.holders(0), [B])
  t.is(registry.task(d3)?.holderCount(2), 0)
  t.is(registry.taskCount, 2)
  t.is(registry.peerCount, 1)
  t.deepEqual([...registry.tasks()].map(task => task.digest).sort(), [d2, d3].sort())
})

function counts (task: TaskAvailability): number[] {
  return Array.from({ length: task.pieceCount }, (_, i) => task.holderCount(i))
}
