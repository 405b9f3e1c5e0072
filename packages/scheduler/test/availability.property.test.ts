import assert from 'node:assert/strict'
import test from 'ava'
import fc from 'fast-check'
import { AvailabilityRegistry } from '../src/index.ts'
import type { PeerKey } from '../src/index.ts'
import { bits, PIECE, peerKey, taskDigest } from './helpers.ts'
import type { Digest } from '@shoal/proto'

const PEERS = Array.from({ length: 6 }, (_, i) => peerKey(i))
const TASKS = [
  { digest: taskDigest(0), size: 10 * PIECE, pieceCount: 10 },
  { digest: taskDigest(1), size: 64 * PIECE, pieceCount: 64 },
  { digest: taskDigest(2), size: 3 * PIECE, pieceCount: 3 }
]

const peerArb = fc.integer({ min: 0, max: PEERS.length - 1 })
const taskArb = fc.integer({ min: 0, max: TASKS.length - 1 })
const pieceArb = fc.nat({ max: 63 })

type Op =
  | { op: 'announce', peer: number, task: number, held?: number[] }
  | { op: 'finished' | 'lost', peer: number, task: number, piece: number }
  | { op: 'leave', peer: number, task: number }
  | { op: 'remove', peer: number }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ op: fc.constant('announce' as const), peer: peerArb, task: taskArb, held: fc.option(fc.array(pieceArb, { maxLength: 64 }), { nil: undefined }) }),
  fc.record({ op: fc.constant('finished' as const), peer: peerArb, task: taskArb, piece: pieceArb }),
  fc.record({ op: fc.constant('finished' as const), peer: peerArb, task: taskArb, piece: pieceArb }),
  fc.record({ op: fc.constant('lost' as const), peer: peerArb, task: taskArb, piece: pieceArb }),
  fc.record({ op: fc.constant('leave' as const), peer: peerArb, task: taskArb }),
  fc.record({ op: fc.constant('remove' as const), peer: peerArb })
)

/** The obvious model: per task, per peer, the set of pieces held. */
type Model = Map<Digest, Map<PeerKey, Set<number>>>

function apply (registry: AvailabilityRegistry, model: Model, step: Op): void {
  if (step.op === 'remove') {
    registry.removePeer(PEERS[step.peer]!)
    for (const [digest, peers] of model) {
      peers.delete(PEERS[step.peer]!)
      if (peers.size === 0) model.delete(digest)
    }
    return
  }
  const peer = PEERS[step.peer]!
  const task = TASKS[step.task]!
  const peers = model.get(task.digest)
  switch (step.op) {
    case 'announce': {
      const held = step.held?.map(i => i % task.pieceCount)
      registry.announce(peer, task, held == null ? undefined : bits(task.pieceCount, held))
      const entry = model.get(task.digest) ?? new Map<PeerKey, Set<number>>()
      model.set(task.digest, entry)
      entry.set(peer, held == null ? entry.get(peer) ?? new Set() : new Set(held))
      return
    }
    case 'finished':
    case 'lost': {
      const piece = step.piece % task.pieceCount
      if (peers == null) {
        assert.throws(() => step.op === 'finished' ? registry.pieceFinished(peer, task.digest, piece) : registry.pieceLost(peer, task.digest, piece),
          { name: 'UnknownTaskError' })
        return
      }
      if (step.op === 'finished') {
        assert.equal(registry.pieceFinished(peer, task.digest, piece), !(peers.get(peer)?.has(piece) ?? false))
        peers.set(peer, (peers.get(peer) ?? new Set()).add(piece))
      } else {
        assert.equal(registry.pieceLost(peer, task.digest, piece), peers.get(peer)?.has(piece) ?? false)
        peers.get(peer)?.delete(piece)
      }
      return
    }
    case 'leave':
      assert.equal(registry.leave(peer, task.digest), peers?.has(peer) ?? false)
      peers?.delete(peer)
      if (peers?.size === 0) model.delete(task.digest)
  }
}

function check (registry: AvailabilityRegistry, model: Model): void {
  assert.equal(registry.taskCount, model.size)
  for (const task of TASKS) {
    const view = registry.task(task.digest)
    const peers = model.get(task.digest)
    assert.equal(view == null, peers == null, 'a task exists exactly while it has peers')
    if (view == null || peers == null) continue
    assert.deepEqual(new Set(view.peers()), new Set(peers.keys()))
    for (let i = 0; i < task.pieceCount; i++) {
      const expected: PeerKey[] = [...peers].filter(([, held]) => held.has(i)).map(([peer]) => peer)
      let sum = 0
      for (const peer of view.peers()) sum += view.bitfield(peer)!.has(i) ? 1 : 0
      assert.equal(view.holderCount(i), sum, 'the holder count is the sum over the bitfields')
      assert.equal(view.holderCount(i), expected.length)
      assert.deepEqual(new Set(view.holders(i)), new Set(expected))
    }
  }
  const inAny = new Set<PeerKey>()
  for (const peer of PEERS) {
    const expected = TASKS.filter(task => model.get(task.digest)?.has(peer) === true).map(task => task.digest)
    assert.deepEqual(new Set(registry.tasksOf(peer)), new Set(expected))
    if (expected.length > 0) inAny.add(peer)
  }
  assert.equal(registry.peerCount, inAny.size)
}

test('holder counts equal the sum over the bitfields, and the peer index stays in step, after any sequence of operations', t => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 60 }), steps => {
    const registry = new AvailabilityRegistry()
    const model: Model = new Map()
    for (const step of steps) {
      apply(registry, model, step)
    }
    check(registry, model)
  }), { numRuns: 300 })
  t.pass()
})

test('rarestMissing lists exactly the held pieces the peer lacks, in holder-count order', t => {
  fc.assert(fc.property(fc.array(opArb, { maxLength: 40 }), peerArb, fc.nat({ max: 70 }), (steps, who, limit) => {
    const registry = new AvailabilityRegistry()
    const model: Model = new Map()
    for (const step of steps) apply(registry, model, step)
    for (const view of registry.tasks()) {
      const peer = PEERS[who]!
      const list = view.rarestMissing(peer, limit)
      const expected = Array.from({ length: view.pieceCount }, (_, i) => i)
        .filter(i => view.holderCount(i) > 0 && view.bitfield(peer)?.has(i) !== true)
      expected.sort((a, b) => view.holderCount(a) - view.holderCount(b) || a - b)
      assert.deepEqual(list, expected.slice(0, limit))
    }
  }), { numRuns: 200 })
  t.pass()
})
