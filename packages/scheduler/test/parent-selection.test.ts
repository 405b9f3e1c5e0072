import test from 'ava'
import { selectParents, TaskAvailability } from '../src/index.ts'
import type { ParentState, PeerInfo, PeerKey, ReadonlyBitfield } from '../src/index.ts'
import { bits, fullBits, PIECE, peer, taskDigest } from './helpers.ts'

const CHILD = peer(0, { site: 'rack-1', zone: 'zone-a' })

interface Setup {
  parents: Array<{ info: PeerInfo, held: ReadonlyBitfield, uploads?: number, recentFailures?: number, ejected?: boolean }>
  child?: PeerInfo
  childHeld?: ReadonlyBitfield
  wanted?: number
}

/** A task of 10 pieces; the child holds piece 0 unless told otherwise. */
function select (setup: Setup): PeerKey[] {
  return choose(setup).map(choice => choice.id)
}

function choose (setup: Setup): ReturnType<typeof selectParents> {
  const availability = new TaskAvailability({ digest: taskDigest(1), size: 10 * PIECE })
  const candidates = new Map<PeerKey, ParentState>()
  for (const parent of setup.parents) {
    availability.setBitfield(parent.info.id, parent.held)
    candidates.set(parent.info.id, {
      info: parent.info, uploads: parent.uploads ?? 0, recentFailures: parent.recentFailures ?? 0, ejected: parent.ejected ?? false
    })
  }
  const child = setup.child ?? CHILD
  const childHeld = setup.childHeld ?? bits(10, [0])
  availability.setBitfield(child.id, childHeld)
  candidates.set(child.id, { info: child, uploads: 0, recentFailures: 0, ejected: false })
  return selectParents({ child: { info: child, bitfield: childHeld }, availability, candidates, wanted: setup.wanted ?? 10 })
}

test('a parent on the same site comes first, even with fewer pieces and more load', t => {
  const near = peer(1, { site: 'rack-1', zone: 'zone-b' })
  const far = peer(2, { site: 'rack-2', zone: 'zone-c' })
  t.deepEqual(select({
    parents: [
      { info: far, held: fullBits(10) },
      { info: near, held: bits(10, [1]), uploads: 3 }
    ]
  }), [near.id, far.id])
})

test('then a parent in the same zone, then the rest', t => {
  const site = peer(1, { site: 'rack-1', zone: 'zone-a', uploadSlots: 1 })
  const zone = peer(2, { site: 'rack-9', zone: 'zone-a' })
  const other = peer(3, { site: 'rack-8', zone: 'zone-b' })
  const unlabelled = peer(4)
  const choices = choose({
    parents: [
      { info: other, held: fullBits(10) },
      { info: unlabelled, held: fullBits(10) },
      { info: zone, held: bits(10, [5]), uploads: 2 },
      { info: site, held: bits(10, [7]) }
    ]
  })
  t.deepEqual(choices.map(choice => choice.id).slice(0, 2), [site.id, zone.id])
  t.deepEqual(choices.map(choice => choice.locality), ['site', 'zone', 'other', 'other'])
})

test('absent labels never match each other', t => {
  const child = peer(0)
  const labelled = peer(1, { site: 'rack-1', zone: 'zone-a' })
  const unlabelled = peer(2)
  const choices = choose({ child, parents: [{ info: labelled, held: fullBits(10) }, { info: unlabelled, held: fullBits(10) }] })
  t.deepEqual(choices.map(choice => choice.locality), ['other', 'other'])
})

test('a parent at or beyond its upload slots is never handed out; one with a free slot is', t => {
  const full = peer(1, { uploadSlots: 2 })
  const over = peer(2, { uploadSlots: 2 })
  const leech = peer(3, { uploadSlots: 0 })
  const lastSlot = peer(4, { uploadSlots: 2 })
  t.deepEqual(select({
    parents: [
      { info: full, held: fullBits(10), uploads: 2 },
      { info: over, held: fullBits(10), uploads: 5 },
      { info: leech, held: fullBits(10) },
      { info: lastSlot, held: fullBits(10), uploads: 1 }
    ]
  }), [lastSlot.id])
})

test('never the child, an ejected parent, a parent with nothing useful, or a peer the view does not know', t => {
  const ejected = peer(1)
  const useless = peer(2)
  const good = peer(3)
  const availability = new TaskAvailability({ digest: taskDigest(1), size: 10 * PIECE })
  const stranger = peer(4)
  availability.setBitfield(stranger.id, fullBits(10))
  const childHeld = bits(10, [0, 1])
  const states: Array<[PeerInfo, ReadonlyBitfield, boolean]> = [
    [CHILD, fullBits(10), false], // the availability may already say more than the child's own view
    [ejected, fullBits(10), true],
    [useless, bits(10, [0, 1]), false],
    [good, bits(10, [1, 2]), false]
  ]
  const candidates = new Map<PeerKey, ParentState>()
  for (const [info, held, isEjected] of states) {
    availability.setBitfield(info.id, held)
    candidates.set(info.id, { info, uploads: 0, recentFailures: 0, ejected: isEjected })
  }
  const choices = selectParents({ child: { info: CHILD, bitfield: childHeld }, availability, candidates, wanted: 10 })
  t.deepEqual(choices.map(choice => choice.id), [good.id])
  t.is(choices[0]!.usefulPieces, 1)
})

test('within a locality: more useful pieces, less load and fewer failures score higher, by the documented formula', t => {
  const seed = peer(1, { uploadSlots: 4 })
  const busySeed = peer(2, { uploadSlots: 4 })
  const half = peer(3, { uploadSlots: 4 })
  const flaky = peer(4, { uploadSlots: 4 })
  const choices = choose({
    parents: [
      { info: busySeed, held: fullBits(10), uploads: 3 },
      { info: half, held: bits(10, [0, 1, 2, 3, 4]) },
      { info: flaky, held: fullBits(10), recentFailures: 1 },
      { info: seed, held: fullBits(10), uploads: 1 }
    ]
  })
  // The child lacks 9 pieces. score = useful / 9 x (slots - uploads) / slots / (1 + failures)
  t.deepEqual(choices.map(choice => [choice.id, choice.usefulPieces, choice.score]), [
    [seed.id, 9, 1 * (3 / 4)],
    [flaky.id, 9, 1 * 1 / 2],
    [half.id, 4, 4 / 9],
    [busySeed.id, 9, 1 * (1 / 4)]
  ])
})

test('equal scores are ordered by peer key, whatever the order peers joined in', t => {
  const parents = [peer(1), peer(2), peer(3), peer(4), peer(5)]
  const expected = parents.map(p => p.id).sort()
  t.notDeepEqual(parents.map(p => p.id), expected, 'the helper\'s keys do not sort by number')
  t.deepEqual(select({ parents: parents.map(info => ({ info, held: fullBits(10) })) }), expected)
  t.deepEqual(select({ parents: [...parents].reverse().map(info => ({ info, held: fullBits(10) })) }), expected)
  t.deepEqual(select({ parents: parents.map(info => ({ info, held: fullBits(10) })), wanted: 2 }), expected.slice(0, 2))
})

test('at most `wanted` parents; none when none are wanted or the child lacks nothing', t => {
  const parents = [1, 2, 3, 4, 5, 6].map(n => ({ info: peer(n), held: fullBits(10), uploads: n % 4 }))
  const all = select({ parents })
  t.is(all.length, 6)
  t.deepEqual(select({ parents, wanted: 3 }), all.slice(0, 3))
  t.deepEqual(select({ parents, wanted: 0 }), [])
  t.deepEqual(select({ parents, wanted: -1 }), [])
  t.deepEqual(select({ parents, childHeld: fullBits(10) }), [])
})

test('a child bitfield of another piece count is refused by name', t => {
  const availability = new TaskAvailability({ digest: taskDigest(1), size: 10 * PIECE })
  const err = t.throws(() => selectParents({ child: { info: CHILD, bitfield: bits(11, []) }, availability, candidates: new Map(), wanted: 1 }))
  t.is(err?.name, 'InvalidBitfieldError')
})
