import test from 'ava'
import { ReadBudget } from '../../src/piece-exchange/read-budget.ts'
import { SendPace } from '../../src/piece-exchange/send-pace.ts'
import { VerifiedPieces } from '../../src/piece-exchange/verified-pieces.ts'

const MiB = 1024 * 1024

test('the read budget admits pieces while they fit, then in the order asked as memory comes back', async t => {
  const budget = new ReadBudget({ maxBytes: 8 * MiB })
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
  const budget = new ReadBudget({ maxBytes: 8 * MiB })
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

test('the send pace counts bytes per second of busy time only, over the last window of it', t => {
  let now = 0
  const pace = new SendPace({ windowMs: 2000, sampleMs: 250, now: () => now })
  t.is(pace.bytesPerSecond, Infinity, 'nothing measured yet')
  pace.started()
  now = 100
  pace.finished(MiB)
  t.is(pace.bytesPerSecond, Infinity, 'under a sample of busy time: not yet a sample')
  now = 10_000 // idle for ten seconds: not counted
  pace.started()
  now = 10_400
  pace.finished(MiB)
  t.is(pace.bytesPerSecond, 2 * MiB * 1000 / 500, 'the first sample: 2 MiB in 500 ms busy')
  // Then a slow link: 256 KiB a second. The fast sample counts until the slow ones cover the window.
  const second = (): void => {
    pace.started()
    now += 1000
    pace.finished(256 * 1024)
  }
  second()
  t.is(pace.bytesPerSecond, (2 * MiB + 256 * 1024) * 1000 / 1500)
  second()
  t.is(pace.bytesPerSecond, 256 * 1024, 'two slow seconds cover the window: the fast sample is gone')
  second()
  t.is(pace.bytesPerSecond, 256 * 1024)
})

test('with a pace, the budget is the send rate times the queue time, between its floor and its cap', async t => {
  let rate = Infinity
  const pace = { get bytesPerSecond () { return rate }, started () {}, finished () {} }
  const budget = new ReadBudget({ maxBytes: 4 * MiB, minBytes: MiB / 2, queueMs: 2000, pace })
  t.is(budget.size, 4 * MiB, 'nothing measured: the cap')
  rate = 10 * MiB
  t.is(budget.size, 4 * MiB, 'a fast link: the cap')
  rate = MiB
  t.is(budget.size, 2 * MiB, '2 s of a 1 MiB/s link')
  rate = 64 * 1024
  t.is(budget.size, MiB / 2, 'a very slow link: the floor')
  // At the floor, two 256 KiB pieces go side by side and the third waits for one of them.
  const a = await budget.acquire(MiB / 4)
  const b = await budget.acquire(MiB / 4)
  let third = false
  const c = budget.acquire(MiB / 4).then(release => { third = true; return release })
  await new Promise(resolve => setImmediate(resolve))
  t.false(third)
  a()
  ;(await c)()
  t.true(third)
  b()
  t.is(budget.used, 0)
})

test('the budget tells its pace of every grant and of the bytes sent, none for a grant given up', async t => {
  let now = 0
  const pace = new SendPace({ windowMs: 1000, sampleMs: 250, now: () => now })
  const budget = new ReadBudget({ maxBytes: 4 * MiB, minBytes: MiB / 2, queueMs: 2000, pace })
  const unsent = await budget.acquire(MiB)
  now = 300
  unsent(false)
  t.is(pace.bytesPerSecond, 0, '300 ms busy, nothing sent')
  t.is(budget.size, MiB / 2, 'so the floor')
  const sent = await budget.acquire(MiB)
  now = 1300
  sent()
  t.is(pace.bytesPerSecond, MiB, 'a whole window: the older sample is gone')
  t.is(budget.size, 2 * MiB)
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
