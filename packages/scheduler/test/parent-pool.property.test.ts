import test from 'ava'
import fc from 'fast-check'
import { LocalityGroups } from '../src/locality-groups.ts'
import { ParentPool } from '../src/parent-pool.ts'
import { selectParents, TaskAvailability } from '../src/index.ts'
import type { ParentState, PeerKey } from '../src/index.ts'
import { bits, PIECE, peer, taskDigest } from './helpers.ts'

/** 13 pieces: the last bitfield byte has spare bits. */
const PIECES = 13

const peerArb = fc.record({
  site: fc.constantFrom(undefined, 'rack-1', 'rack-2', 'rack-3'),
  zone: fc.constantFrom(undefined, 'zone-a', 'zone-b'),
  uploadSlots: fc.nat({ max: 4 }),
  uploads: fc.nat({ max: 5 }),
  recentFailures: fc.nat({ max: 3 }),
  ejected: fc.boolean(),
  held: fc.oneof(fc.uniqueArray(fc.nat({ max: PIECES - 1 }), { maxLength: PIECES }), fc.constant(Array.from({ length: PIECES }, (_, i) => i))),
  known: fc.boolean()
}, { requiredKeys: ['uploadSlots', 'uploads', 'recentFailures', 'ejected', 'held', 'known'] })

test('ParentPool.select gives every child of the task exactly what selectParents gives it', t => {
  fc.assert(fc.property(fc.array(peerArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: -1, max: 8 }), (peers, wanted) => {
    const availability = new TaskAvailability({ digest: taskDigest(1), size: PIECES * PIECE })
    const candidates = new Map<PeerKey, ParentState>()
    const infos = peers.map((p, n) => peer(n, { uploadSlots: p.uploadSlots, ...(p.site == null ? {} : { site: p.site }), ...(p.zone == null ? {} : { zone: p.zone }) }))
    peers.forEach((p, n) => {
      const info = infos[n]!
      availability.setBitfield(info.id, bits(PIECES, p.held))
      if (p.known) candidates.set(info.id, { info, uploads: p.uploads, recentFailures: p.recentFailures, ejected: p.ejected })
    })
    const pool = new ParentPool({ availability, candidates })
    for (const info of infos) {
      const child = { info, bitfield: availability.bitfield(info.id)! }
      t.deepEqual(pool.select(child, wanted), selectParents({ child, availability, candidates, wanted }))
    }
  }), { numRuns: 300 })
})

test('ParentPool over LocalityGroups kept by hand, filled in any order, gives what selectParents gives', t => {
  fc.assert(fc.property(fc.array(peerArb, { minLength: 1, maxLength: 40 }), fc.integer({ min: -1, max: 8 }), fc.integer(), fc.array(fc.nat({ max: 39 }), { maxLength: 10 }), (peers, wanted, seed, gone) => {
    const availability = new TaskAvailability({ digest: taskDigest(1), size: PIECES * PIECE })
    const candidates = new Map<PeerKey, ParentState>()
    const groups = new LocalityGroups()
    const infos = peers.map((p, n) => peer(n, { uploadSlots: p.uploadSlots, ...(p.site == null ? {} : { site: p.site }), ...(p.zone == null ? {} : { zone: p.zone }) }))
    peers.forEach((p, n) => {
      const info = infos[n]!
      availability.setBitfield(info.id, bits(PIECES, p.held))
      if (p.known) candidates.set(info.id, { info, uploads: p.uploads, recentFailures: p.recentFailures, ejected: p.ejected })
    })
    // Added in a shuffled order; some peers leave the task (and the groups) again.
    const order = infos.map((info, n) => ({ info, key: Math.imul(n + 1, seed | 1) >>> 0 })).sort((a, b) => a.key - b.key)
    for (const { info } of order) groups.add(info)
    for (const n of gone) {
      const info = infos[n]
      if (info == null) continue
      availability.removePeer(info.id)
      groups.remove(info.id)
    }
    const pool = new ParentPool({ availability, candidates, groups })
    for (const info of infos) {
      const bitfield = availability.bitfield(info.id) ?? bits(PIECES, [])
      const child = { info, bitfield }
      t.deepEqual(pool.select(child, wanted), selectParents({ child, availability, candidates, wanted }))
    }
  }), { numRuns: 300 })
})

test('ParentPool stops a scan only when no one left can beat the list: ties still go by peer id, as in selectParents', t => {
  // Few distinct scores (whole blobs or one of two halves, two load levels, no failures) and more peers than wanted: many ties at the cut.
  const half = Array.from({ length: PIECES >> 1 }, (_, i) => i)
  const tieArb = fc.record({
    site: fc.constantFrom(undefined, 'rack-1'),
    uploads: fc.nat({ max: 1 }),
    held: fc.constantFrom(Array.from({ length: PIECES }, (_, i) => i), half, half.map(i => i + (PIECES >> 1)), [0])
  }, { requiredKeys: ['uploads', 'held'] })
  fc.assert(fc.property(fc.array(tieArb, { minLength: 2, maxLength: 60 }), fc.integer({ min: 1, max: 4 }), (peers, wanted) => {
    const availability = new TaskAvailability({ digest: taskDigest(3), size: PIECES * PIECE })
    const candidates = new Map<PeerKey, ParentState>()
    const infos = peers.map((p, n) => peer(n, { uploadSlots: 2, ...(p.site == null ? {} : { site: p.site }) }))
    peers.forEach((p, n) => {
      availability.setBitfield(infos[n]!.id, bits(PIECES, p.held))
      candidates.set(infos[n]!.id, { info: infos[n]!, uploads: p.uploads, recentFailures: 0, ejected: false })
    })
    const pool = new ParentPool({ availability, candidates })
    for (const info of infos) {
      for (const bitfield of [bits(PIECES, []), bits(PIECES, half), availability.bitfield(info.id)!]) {
        const child = { info, bitfield }
        t.deepEqual(pool.select(child, wanted), selectParents({ child, availability, candidates, wanted }))
      }
    }
  }), { numRuns: 200 })
})

test('ParentPool refuses a child bitfield of another piece count, as selectParents does', t => {
  const availability = new TaskAvailability({ digest: taskDigest(2), size: PIECES * PIECE })
  const pool = new ParentPool({ availability, candidates: new Map() })
  t.throws(() => pool.select({ info: peer(1), bitfield: bits(PIECES + 1, []) }, 3), { name: 'InvalidBitfieldError' })
})

test('ParentPool over crowds of peers that share a few bitfields and loads (classes) gives what selectParents gives', t => {
  // Many peers, few distinct (bitfield, load, failures): classes of many members, which a scan scores once and leaves early.
  const prefix = (n: number): number[] => Array.from({ length: n }, (_, i) => i)
  const bitfieldsArb = fc.constantFrom(prefix(PIECES), prefix(3), prefix(7), [5, 6, 12], [0])
  const crowdArb = fc.record({
    site: fc.constantFrom(undefined, 'rack-1', 'rack-2'),
    zone: fc.constantFrom(undefined, 'zone-a'),
    uploads: fc.nat({ max: 2 }),
    recentFailures: fc.nat({ max: 1 }),
    held: bitfieldsArb
  }, { requiredKeys: ['uploads', 'recentFailures', 'held'] })
  fc.assert(fc.property(fc.array(crowdArb, { minLength: 2, maxLength: 120 }), fc.integer({ min: 1, max: 8 }), fc.array(bitfieldsArb, { minLength: 1, maxLength: 4 }), (peers, wanted, childHelds) => {
    const availability = new TaskAvailability({ digest: taskDigest(4), size: PIECES * PIECE })
    const candidates = new Map<PeerKey, ParentState>()
    const infos = peers.map((p, n) => peer(n, { uploadSlots: 4, ...(p.site == null ? {} : { site: p.site }), ...(p.zone == null ? {} : { zone: p.zone }) }))
    peers.forEach((p, n) => {
      availability.setBitfield(infos[n]!.id, bits(PIECES, p.held))
      candidates.set(infos[n]!.id, { info: infos[n]!, uploads: p.uploads, recentFailures: p.recentFailures, ejected: false })
    })
    const pool = new ParentPool({ availability, candidates })
    for (const info of infos) {
      for (const held of childHelds) {
        const child = { info, bitfield: bits(PIECES, held) }
        t.deepEqual(pool.select(child, wanted), selectParents({ child, availability, candidates, wanted }))
      }
    }
  }), { numRuns: 200 })
})

test('ParentPool tells apart two bitfields whose hashes collide', t => {
  // Two 40-piece bitfields with the same 32-bit FNV-1a hash (found by search): one class each, each scored on its own pieces.
  const pieces = 40
  const ofBytes = (bytes: number[]): number[] => bytes.flatMap((byte, i) => Array.from({ length: 8 }, (_, bit) => (byte & (0x80 >> bit)) !== 0 ? i * 8 + bit : -1)).filter(i => i >= 0)
  const colliding = [[165, 199, 212, 203, 108], [80, 161, 97, 75, 122]].map(ofBytes)
  const fnv = (bytes: number[]): number => bytes.reduce((hash, byte) => Math.imul(hash ^ byte, 0x01000193), 0x811c9dc5) >>> 0
  t.is(fnv([165, 199, 212, 203, 108]), fnv([80, 161, 97, 75, 122]))
  const availability = new TaskAvailability({ digest: taskDigest(5), size: pieces * PIECE })
  const candidates = new Map<PeerKey, ParentState>()
  const infos = Array.from({ length: 8 }, (_, n) => peer(n, { uploadSlots: 4 }))
  infos.forEach((info, n) => {
    availability.setBitfield(info.id, bits(pieces, colliding[n % 2]!))
    candidates.set(info.id, { info, uploads: 0, recentFailures: 0, ejected: false })
  })
  const pool = new ParentPool({ availability, candidates })
  for (const childHeld of [[], ...colliding]) {
    const child = { info: peer(100, { uploadSlots: 4 }), bitfield: bits(pieces, childHeld) }
    const expected = selectParents({ child, availability, candidates, wanted: 3 })
    t.true(expected.length > 0)
    t.deepEqual(pool.select(child, 3), expected)
  }
})
