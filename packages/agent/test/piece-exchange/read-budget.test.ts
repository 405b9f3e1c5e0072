import test from 'ava'
import { ReadBudget } from '../../src/piece-exchange/read-budget.ts'
import { VerifiedPieces } from '../../src/piece-exchange/verified-pieces.ts'

const MiB = 1024 * 1024

test('the read budget admits pieces while they fit, then in the order asked as memory comes back', async t => {
  const budget = new ReadBudget(8 * MiB)
  const a = await budget.acquire(4 * MiB)
  const b = await budget.acquire(4 * MiB)
  t.is(budget.used, 8 * MiB)
  const order: string[] = []
  const c = budget.acquire(4 * MiB).then(release => { order.push('c'); return release })
  const d = budget.acquire(1 * MiB).then(release => { order.push('d'); return release })
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(order, [], 'nothing fits: both wait, and the small one does not jump the queue')
  a()
  a() // a second call gives nothing back twice
  const releaseC = await c
  t.deepEqual(order, ['c'])
  t.is(budget.used, 8 * MiB)
  b()
  const releaseD = await d
  t.deepEqual(order, ['c', 'd'])
  t.is(budget.used, 5 * MiB)
  releaseC()
  releaseD()
  t.is(budget.used, 0)
})

test('a piece larger than the whole budget goes alone; an aborted wait leaves the queue', async t => {
  const budget = new ReadBudget(8 * MiB)
  const huge = await budget.acquire(64 * MiB)
  const controller = new AbortController()
  const waiting = budget.acquire(MiB)
  const aborted = budget.acquire(MiB, controller.signal)
  controller.abort()
  await t.throwsAsync(aborted, { name: 'AbortError' })
  huge()
  const release = await waiting
  t.is(budget.used, MiB)
  release()
})

test('a verified piece is remembered for the TTL, per CID, and the oldest goes when full', t => {
  let now = 0
  const pieces = new VerifiedPieces({ ttlMs: 1000, maxEntries: 2, now: () => now })
  pieces.add('sha256:a', 0, 'cid0')
  t.true(pieces.has('sha256:a', 0, 'cid0'))
  t.false(pieces.has('sha256:a', 0, 'other'), 'another CID for the same piece is not vouched for')
  now = 1000
  t.false(pieces.has('sha256:a', 0, 'cid0'), 'expired')
  pieces.add('sha256:a', 1, 'cid1')
  pieces.add('sha256:a', 2, 'cid2')
  pieces.add('sha256:a', 3, 'cid3')
  t.false(pieces.has('sha256:a', 1, 'cid1'), 'evicted, the oldest')
  t.true(pieces.has('sha256:a', 3, 'cid3'))
})
