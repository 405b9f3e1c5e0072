import test from 'ava'
import { createRateLimiter, inTurn } from '../../src/bandwidth/index.ts'
import { FakeClock } from './fake-clock.ts'

const KiB = 2 ** 10

test('in turn, each take is served whole before the next starts: the first piece is done after its own share of time', async t => {
  const clock = new FakeClock()
  // 100 KiB/s with a 10 KiB burst: a 100 KiB take needs ~0.9 s of tokens after the first burst.
  const limiter = inTurn(createRateLimiter({ limit: 100 * KiB, burstBytes: 10 * KiB, now: clock.now, sleep: clock.sleep }))
  const done: number[] = []
  const takes = [0, 1, 2].map(async i => { await limiter.take(100 * KiB); done.push(i) })
  await clock.advance(1_000)
  t.deepEqual(done, [0], 'after 1 s only the first is through (shared evenly, none would be)')
  await clock.advance(1_000)
  t.deepEqual(done, [0, 1])
  await clock.advance(1_000)
  await Promise.all(takes)
  t.deepEqual(done, [0, 1, 2])
})

test('an aborted take does not hold up the ones behind it', async t => {
  const clock = new FakeClock()
  const limiter = inTurn(createRateLimiter({ limit: 100 * KiB, burstBytes: 10 * KiB, now: clock.now, sleep: clock.sleep }))
  const controller = new AbortController()
  const first = limiter.take(100 * KiB, { signal: controller.signal })
  const second = limiter.take(10 * KiB)
  controller.abort()
  await t.throwsAsync(first, { name: 'AbortError' })
  await clock.advance(200)
  await t.notThrowsAsync(second)
})
