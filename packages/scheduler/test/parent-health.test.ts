import test from 'ava'
import {
  ParentHealth, PARENT_BAD_PIECE_EJECTION_MS, PARENT_EJECTION_FAILURES, PARENT_FAILURE_EJECTION_MS, PARENT_FAILURE_WINDOW_MS
} from '../src/index.ts'
import { peerKey } from './helpers.ts'

const A = peerKey(1)
const B = peerKey(2)

test('one bad piece ejects a parent at once, until the bad-piece ejection ends', t => {
  const health = new ParentHealth()
  t.false(health.isEjected(A, 1000))
  t.deepEqual(health.recordBadPiece(A, 1000), { reason: 'bad-piece', until: 1000 + PARENT_BAD_PIECE_EJECTION_MS })
  t.true(health.isEjected(A, 1000))
  t.true(health.isEjected(A, 1000 + PARENT_BAD_PIECE_EJECTION_MS - 1))
  t.false(health.isEjected(B, 1000), 'only the parent that sent it')
  t.deepEqual(health.ejected(2000), [A])
  t.false(health.isEjected(A, 1000 + PARENT_BAD_PIECE_EJECTION_MS), 'the ejection expires')
  t.is(health.ejection(A, 1000 + PARENT_BAD_PIECE_EJECTION_MS), undefined)
  t.deepEqual(health.ejected(1000 + PARENT_BAD_PIECE_EJECTION_MS), [])
})

test('repeated failures within the window eject a parent; the count starts afresh after', t => {
  const health = new ParentHealth()
  let now = 5000
  for (let i = 1; i < PARENT_EJECTION_FAILURES; i++) {
    t.false(health.recordFailure(A, i % 2 === 0 ? 'timeout' : 'unavailable', now))
    t.is(health.recentFailures(A, now), i)
    now += 1000
  }
  t.false(health.isEjected(A, now))
  t.is(health.recentFailures(A, now, 'timeout'), Math.floor((PARENT_EJECTION_FAILURES - 1) / 2))
  t.true(health.recordFailure(A, 'refused', now), 'the last failure ejects')
  t.deepEqual(health.ejection(A, now), { reason: 'failures', until: now + PARENT_FAILURE_EJECTION_MS })
  t.is(health.recentFailures(A, now), 0, 'the ejection clears the count')
  t.false(health.recordFailure(A, 'timeout', now + 1), 'failures of transfers in flight while ejected are not counted')
  t.is(health.recentFailures(A, now + 1), 0)
  const back = now + PARENT_FAILURE_EJECTION_MS
  t.true(health.isEjected(A, back - 1))
  t.false(health.isEjected(A, back), 'the ejection expires')
  t.false(health.recordFailure(A, 'timeout', back))
  t.is(health.recentFailures(A, back), 1, 'back with a clean record')
})

test('failures older than the window do not count and do not eject', t => {
  const health = new ParentHealth()
  let now = 0
  for (let i = 0; i < PARENT_EJECTION_FAILURES * 3; i++) {
    t.false(health.recordFailure(A, 'timeout', now))
    now += PARENT_FAILURE_WINDOW_MS / (PARENT_EJECTION_FAILURES - 1) + 1
  }
  t.false(health.isEjected(A, now))
  t.true(health.recentFailures(A, now - 1) < PARENT_EJECTION_FAILURES)
  t.is(health.recentFailures(A, now + PARENT_FAILURE_WINDOW_MS), 0)
})

test('a bad piece from a parent ejected for failures makes the ejection a bad-piece one, never a shorter one', t => {
  const health = new ParentHealth({ ejectionFailures: 1, failureEjectionMs: 100, badPieceEjectionMs: 50 })
  t.true(health.recordFailure(A, 'timeout', 0))
  t.deepEqual(health.recordBadPiece(A, 10), { reason: 'bad-piece', until: 100 })
  t.deepEqual(health.recordBadPiece(A, 90), { reason: 'bad-piece', until: 140 })
  t.true(health.isEjected(A, 139))
  t.false(health.isEjected(A, 140))
})

test('the options override the defaults', t => {
  const health = new ParentHealth({ failureWindowMs: 10, ejectionFailures: 2, failureEjectionMs: 20 })
  t.false(health.recordFailure(A, 'timeout', 0))
  t.false(health.recordFailure(A, 'timeout', 10), 'the first is out of a 10 ms window')
  t.true(health.recordFailure(A, 'timeout', 19))
  t.deepEqual(health.ejection(A, 19), { reason: 'failures', until: 39 })
})

test('prune drops what no longer matters; forget drops everything about a peer', t => {
  const health = new ParentHealth()
  health.recordFailure(A, 'timeout', 0)
  health.recordBadPiece(B, 0)
  t.is(health.size, 2)
  health.prune(PARENT_FAILURE_WINDOW_MS)
  t.is(health.size, 1, 'A\'s failure left the window')
  health.prune(PARENT_BAD_PIECE_EJECTION_MS)
  t.is(health.size, 0, 'B\'s ejection ended')
  health.recordBadPiece(A, 0)
  health.forget(A)
  t.false(health.isEjected(A, 1))
  t.is(health.size, 0)
})
