import test from 'ava'
import fc from 'fast-check'
import { ReadShares } from '../../src/piece-exchange/read-shares.ts'

test('a peer alone may take every slot; once others ask, each is held to an even share', t => {
  const clock = { now: 0 }
  const shares = new ReadShares({ slots: 8, minPerPeer: 2, windowMs: 1000, now: () => clock.now })
  for (let i = 0; i < 8; i++) t.true(shares.admit('a'), `read ${i + 1} of a lone peer`)
  t.false(shares.admit('a'), 'no more than the slots')
  t.is(shares.asking, 1)
  // b asks: the share is now 4, a holds 8 and gets nothing more until it is back under it.
  t.true(shares.admit('b'))
  t.is(shares.share(), 4)
  for (let i = 0; i < 4; i++) shares.release('a')
  t.false(shares.admit('a'), 'a holds its whole share')
  shares.release('a')
  t.true(shares.admit('a'))
  // Many askers: never below the minimum.
  for (const peer of ['c', 'd', 'e', 'f', 'g']) shares.admit(peer)
  t.is(shares.share(), 2)
})

test('a peer that stopped asking no longer counts, unless its reads are still under way', t => {
  const clock = { now: 0 }
  const shares = new ReadShares({ slots: 8, minPerPeer: 1, windowMs: 1000, now: () => clock.now })
  t.true(shares.admit('a'))
  clock.now = 500
  t.true(shares.admit('b'))
  shares.release('b')
  clock.now = 1200
  t.is(shares.asking, 2, 'a has a read under way; b asked 700 ms ago')
  clock.now = 1600
  t.is(shares.asking, 1, 'b has been quiet for the window')
  shares.release('a')
  t.is(shares.asking, 0)
  t.is(shares.share(), 8)
})

test('preempt gives up the newest waiting reads of the peers over their share, and only those', t => {
  const shares = new ReadShares({ slots: 4, minPerPeer: 1, windowMs: 1000, now: () => 0 })
  const waits = [0, 1, 2, 3].map(() => {
    t.true(shares.admit('a'))
    return shares.wait('a')
  })
  shares.waited('a', waits[0]!) // the first got its memory
  t.is(shares.preempt(), 0, 'alone, a holds its share')
  t.true(shares.admit('b'))
  const b = shares.wait('b')
  t.is(shares.preempt(), 2, 'beside b the share is 2: two of a\'s waiting reads go')
  t.deepEqual(waits.map(w => w.signal.aborted), [false, false, true, true], 'the newest')
  t.is((waits[3]!.signal.reason as Error).name, 'ReadPreemptedError')
  t.false(b.signal.aborted)
  for (let i = 0; i < 2; i++) shares.release('a')
  t.is(shares.preempt(), 0)
})

test('property: reads under way never exceed a peer\'s share at admission, and releases give them back', t => {
  fc.assert(fc.property(
    fc.array(fc.record({ peer: fc.integer({ min: 0, max: 5 }), release: fc.boolean(), dt: fc.integer({ min: 0, max: 600 }) }), { maxLength: 200 }),
    ops => {
      const clock = { now: 0 }
      const shares = new ReadShares({ slots: 8, minPerPeer: 2, windowMs: 1000, now: () => clock.now })
      const held = new Map<string, number>()
      for (const op of ops) {
        clock.now += op.dt
        const peer = `p${op.peer}`
        const mine = held.get(peer) ?? 0
        if (op.release && mine > 0) {
          shares.release(peer)
          held.set(peer, mine - 1)
          continue
        }
        if (shares.admit(peer)) {
          held.set(peer, mine + 1)
          if (mine + 1 > shares.share()) return false
        }
        if (shares.reads(peer) !== (held.get(peer) ?? 0)) return false
      }
      return true
    }
  ))
  t.pass()
})
