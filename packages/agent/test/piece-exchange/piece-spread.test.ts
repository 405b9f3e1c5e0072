import test from 'ava'
import { PieceSpread } from '../../src/piece-exchange/piece-spread.ts'

test('a piece leaves at most perWindow times within the window; other pieces are counted apart; the window slides', t => {
  const clock = { now: 0 }
  const spread = new PieceSpread({ perWindow: 2, windowMs: 1000, now: () => clock.now })
  t.true(spread.admit('a/1'))
  clock.now = 100
  t.true(spread.admit('a/1'))
  t.false(spread.admit('a/1'), 'a third send within the window is refused')
  t.true(spread.admit('a/2'), 'another piece has its own count')
  clock.now = 1001
  t.true(spread.admit('a/1'), 'the first send left the window')
  t.false(spread.admit('a/1'))
  clock.now = 1101
  t.true(spread.admit('a/1'))
})

test('a limit of 0 admits everything; the memory of sends is bounded', t => {
  const off = new PieceSpread({ perWindow: 0, windowMs: 1000, now: () => 0 })
  for (let i = 0; i < 10; i++) t.true(off.admit('x'))
  const clock = { now: 0 }
  const small = new PieceSpread({ perWindow: 1, windowMs: 1000, maxEntries: 2, now: () => clock.now })
  t.true(small.admit('p1'))
  t.true(small.admit('p2'))
  t.true(small.admit('p3'))
  // p1 was the oldest key and was forgotten to keep two: it is admitted again.
  t.true(small.admit('p1'))
  t.false(small.admit('p3'))
})

test('a retracted send no longer counts: the piece is new again', t => {
  const spread = new PieceSpread({ perWindow: 0, windowMs: 1000, now: () => 0 })
  t.true(spread.admit('a/1'))
  t.true(spread.admit('a/1'))
  spread.retract('a/1')
  t.is(spread.count('a/1'), 1)
  spread.retract('a/1')
  t.is(spread.count('a/1'), 0)
  spread.retract('a/1')
  t.is(spread.count('a/1'), 0, 'nothing to retract')
})
