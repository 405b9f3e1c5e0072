import test from 'ava'
import fc from 'fast-check'
import type { PeerId } from '@libp2p/interface'
import { PEER_LATENCY_PRIOR_S } from '../../src/constants.ts'
import { nextAhead, PieceBook } from '../../src/layer-fetcher/piece-book.ts'
import { bitfieldOf, manualClock, peerIds, planned, table } from './piece-book-helpers.ts'

/** 13 pieces: the last bitfield byte has spare bits. */
const PIECES = 13
const PEERS = 6
const STALL_MS = 3_000
const BUSY_MS = 250
const MAX_REFUSALS = 2
const FAILURE_MS = 500
const MAX_FAILURES = 3

const ids: PeerId[] = await peerIds(PEERS)
const pieceArb = fc.nat({ max: PIECES - 1 })
const peerArb = fc.nat({ max: PEERS - 1 })
const heldArb = fc.uniqueArray(pieceArb, { maxLength: PIECES })

const opArb = fc.oneof(
  fc.record({ op: fc.constant('forget' as const), peer: peerArb, piece: pieceArb }),
  fc.record({ op: fc.constant('busy' as const), peer: peerArb }),
  fc.record({ op: fc.constant('drop' as const), peer: peerArb }),
  fc.record({ op: fc.constant('failed' as const), peer: peerArb }),
  fc.record({ op: fc.constant('answered' as const), peer: peerArb }),
  fc.record({ op: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 2_000 }) }),
  fc.record({ op: fc.constant('add' as const), peer: peerArb, held: heldArb }),
  fc.record({ op: fc.constant('update' as const), peer: peerArb, held: heldArb }),
  fc.record({ op: fc.constant('ask' as const), peer: peerArb, delta: fc.constantFrom(1 as const, -1 as const) }),
  fc.record({ op: fc.constant('progress' as const) })
)

/** The plain model the book is checked against: arrays and sets, recomputed on every question. */
interface Model {
  known: boolean[]
  held: Array<Set<number>>
  complete: boolean[]
  dropped: Set<number>
  refusals: number[]
  /** Failures without an answer since the last answer. */
  failures: number[]
  busyUntil: Array<number | undefined>
  load: number[]
  lastProgress: number
}

function modelHolders (m: Model, named: boolean[], now: number, piece: number): number[] {
  if (!named[piece]) return []
  const all = m.known.flatMap((k, p) => k && !m.dropped.has(p) && m.held[p]!.has(piece) ? [p] : [])
  const free = all.filter(p => (m.busyUntil[p] ?? 0) <= now)
  return free.length > 0 ? free : all
}

test('PieceBook answers every question as the plain model does, after any sequence of events', t => {
  fc.assert(fc.property(
    fc.array(fc.option(heldArb, { nil: undefined }), { minLength: PEERS, maxLength: PEERS }),
    fc.uniqueArray(pieceArb, { maxLength: 4 }),
    fc.array(opArb, { maxLength: 40 }),
    fc.boolean(),
    fc.array(fc.option(fc.constantFrom(0.01, 0.05, 0.2, 3), { nil: undefined }), { minLength: PEERS, maxLength: PEERS }),
    (initial, holes, ops, expectMore, latencies) => {
      const clock = manualClock()
      const named = Array.from({ length: PIECES }, (_, i) => !holes.includes(i))
      const m: Model = {
        known: initial.map(h => h != null),
        held: initial.map(h => new Set(h ?? [])),
        complete: initial.map(h => h != null && h.length === PIECES),
        dropped: new Set(),
        refusals: Array(PEERS).fill(0),
        failures: Array(PEERS).fill(0),
        busyUntil: Array(PEERS).fill(undefined),
        load: Array(PEERS).fill(0),
        lastProgress: clock.now()
      }
      const peers = initial.flatMap((h, p) => h == null ? [] : [planned(ids[p]!, PIECES, h)])
      const book = new PieceBook({ table: table(PIECES, holes), peers }, { stallMs: STALL_MS, now: clock.now, random: () => 0, busyBackoffMs: BUSY_MS, maxRefusals: MAX_REFUSALS, failureBackoffMs: FAILURE_MS, maxFailures: MAX_FAILURES, expectMore: () => expectMore, latency: id => latencies[ids.findIndex(p => p.equals(id))] })
      const cost = (p: number): number => (m.load[p]! + 1) * (latencies[p] ?? PEER_LATENCY_PRIOR_S)

      for (const step of ops) {
        switch (step.op) {
          case 'forget':
            book.forget(ids[step.peer]!, step.piece)
            if (m.known[step.peer]) {
              m.refusals[step.peer]!++
              if (m.refusals[step.peer]! > MAX_REFUSALS) m.dropped.add(step.peer)
              m.held[step.peer]!.delete(step.piece)
              m.complete[step.peer] = false
            }
            break
          case 'busy':
            book.busy(ids[step.peer]!)
            m.busyUntil[step.peer] = clock.now() + BUSY_MS
            break
          case 'drop':
            t.is(book.drop(ids[step.peer]!), !m.dropped.has(step.peer))
            m.dropped.add(step.peer)
            break
          case 'failed': {
            // A failure during the pause of the last one is the same incident; the MAX_FAILURES-th drops.
            const p = step.peer
            let dropped = false
            if (!m.dropped.has(p) && !(m.failures[p]! > 0 && (m.busyUntil[p] ?? 0) > clock.now())) {
              m.failures[p]!++
              if (m.failures[p]! >= MAX_FAILURES) {
                m.dropped.add(p)
                dropped = true
              } else {
                m.busyUntil[p] = clock.now() + FAILURE_MS * 2 ** (m.failures[p]! - 1)
              }
            }
            t.is(book.failed(ids[p]!), dropped)
            break
          }
          case 'answered':
            book.answered(ids[step.peer]!)
            m.failures[step.peer] = 0
            break
          case 'advance':
            clock.advance(step.ms)
            break
          case 'add': {
            book.addPeers([planned(ids[step.peer]!, PIECES, step.held)])
            if (m.dropped.has(step.peer)) break
            if (!m.known[step.peer]) {
              m.known[step.peer] = true
              m.held[step.peer] = new Set(step.held)
              m.complete[step.peer] = step.held.length === PIECES
              m.lastProgress = clock.now()
            } else if (step.held.length > m.held[step.peer]!.size) {
              m.held[step.peer] = new Set(step.held)
              m.complete[step.peer] = step.held.length === PIECES
              m.lastProgress = clock.now()
            }
            break
          }
          case 'update': {
            const peer = book.peers.find(p => p.id.equals(ids[step.peer]!))
            if (peer == null) break
            book.updatePeer(peer, { bitfield: bitfieldOf(PIECES, step.held), complete: step.held.length === PIECES })
            m.held[step.peer] = new Set(step.held)
            m.complete[step.peer] = step.held.length === PIECES
            break
          }
          case 'ask':
            book.asking(ids[step.peer]!, step.delta)
            m.load[step.peer] = Math.max(0, m.load[step.peer]! + step.delta)
            break
          case 'progress':
            book.progressed()
            m.lastProgress = clock.now()
            break
        }

        const now = clock.now()
        for (let piece = 0; piece < PIECES; piece++) {
          const expected = modelHolders(m, named, now, piece)
          t.deepEqual(book.holders(piece).map(p => ids.findIndex(id => id.equals(p.id))).sort(), [...expected].sort())
          // Whom to ask: a holder free soonest, then of the least cost (requests open x first-byte time); none when nobody holds it.
          const whom = book.whomToAsk(piece)
          if (expected.length === 0) {
            t.is(whom, undefined)
          } else {
            const p = ids.findIndex(id => whom?.id.equals(id) === true)
            const pause = (q: number): number => Math.max(0, (m.busyUntil[q] ?? 0) - now)
            const soonest = expected.filter(q => pause(q) === Math.min(...expected.map(pause)))
            t.true(soonest.includes(p))
            t.is(cost(p), Math.min(...soonest.map(cost)))
          }
        }
        const growing = expectMore || m.known.some((k, p) => k && !m.complete[p] && !m.dropped.has(p))
        t.is(book.growing, growing)
        t.is(book.stalled(), !growing || now - m.lastProgress > STALL_MS)
      }
    }), { numRuns: 200 })
})

test('nextForStream: the head if free; else the rarest held piece of the look-ahead (lowest among equals); else the first free one', t => {
  fc.assert(fc.property(
    fc.array(heldArb, { minLength: 1, maxLength: PEERS }),
    pieceArb,
    fc.uniqueArray(pieceArb),
    fc.integer({ min: 1, max: 2 * PIECES }),
    (held, head, startedList, lookahead) => {
      const peers = held.map((h, p) => planned(ids[p]!, PIECES, h))
      const book = new PieceBook({ table: table(PIECES), peers }, { stallMs: STALL_MS })
      const started = new Set(startedList)
      const count = (i: number): number => held.filter(h => h.includes(i)).length
      let expected: number | undefined
      if (!started.has(head)) {
        expected = head
      } else {
        const free = []
        for (let i = head + 1; i < Math.min(PIECES, head + lookahead); i++) if (!started.has(i)) free.push(i)
        const heldFree = free.filter(i => count(i) > 0)
        const fewest = Math.min(...heldFree.map(count))
        expected = heldFree.find(i => count(i) === fewest) ?? free[0]
      }
      t.is(book.nextForStream(head, started, lookahead), expected)
    }), { numRuns: 500 })
})

test('nextAhead: the lowest open assigned piece unless one is being read; else an open piece with the fewest holders; never before the head', t => {
  fc.assert(fc.property(
    fc.array(fc.nat({ max: 4 }), { minLength: PIECES, maxLength: PIECES }),
    fc.uniqueArray(pieceArb),
    fc.uniqueArray(pieceArb),
    pieceArb,
    fc.boolean(),
    fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
    (holders, assignedList, closedList, head, readingAssigned, coin) => {
      const closed = new Set(closedList)
      const open = (i: number): boolean => !closed.has(i)
      const got = nextAhead({ head, pieceCount: PIECES, open, readingAssigned, assigned: new Set(assignedList), holders: i => holders[i]!, random: () => coin })
      const usable = Array.from({ length: PIECES }, (_, i) => i).filter(i => i >= head && open(i))
      const assigned = usable.filter(i => assignedList.includes(i))
      if (!readingAssigned && assigned.length > 0) {
        t.is(got, Math.min(...assigned))
        return
      }
      const held = usable.filter(i => holders[i]! > 0)
      if (held.length === 0) {
        t.is(got, undefined)
        return
      }
      const fewest = Math.min(...held.map(i => holders[i]!))
      t.true(got != null && held.includes(got) && holders[got] === fewest)
    }), { numRuns: 500 })
})
