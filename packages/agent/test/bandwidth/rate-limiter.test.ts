import test from 'ava'
import { createRateLimiter } from '../../src/bandwidth/index.ts'
import type { RateLimiter, RateLimiterInit } from '../../src/bandwidth/index.ts'
import { FakeClock, settle } from './fake-clock.ts'

const MiB = 2 ** 20
const KiB = 2 ** 10

function limiter (init: RateLimiterInit): { clock: FakeClock, limiter: RateLimiter } {
  const clock = new FakeClock()
  return { clock, limiter: createRateLimiter({ now: clock.now, sleep: clock.sleep, ...init }) }
}

/** Takes `size` bytes at a time until the clock reaches `untilMs`; returns the bytes granted. */
async function consume (clock: FakeClock, limiter: RateLimiter, size: number, untilMs: number): Promise<number> {
  let bytes = 0
  while (clock.now() < untilMs) {
    await limiter.take(size)
    bytes += size
  }
  return bytes
}

test('honours the rate over many takes of mixed sizes', async t => {
  const { clock, limiter: l } = limiter({ limit: MiB, burstBytes: 64 * KiB })
  const grants: Array<{ at: number, total: number }> = []
  let total = 0
  let done = false
  void (async () => {
    for (let i = 0; i < 500; i++) {
      const size = 1 + (i * 7919) % (100 * KiB) // some above the burst, most below
      await l.take(size)
      total += size
      grants.push({ at: clock.now(), total })
    }
    done = true
  })()
  await clock.runUntil(() => done)
  // Never ahead of the bucket: at any time at most one burst plus the rate times the time so far.
  for (const g of grants) t.true(g.total <= 64 * KiB + MiB * g.at / 1000, `${g.total} bytes by ${g.at} ms`)
  // Never behind it by more than rounding: each wait is rounded up to a whole millisecond, so
  // the run may last at most one millisecond per sleep longer than the ideal.
  const ideal = (total - 64 * KiB) / MiB * 1000
  const last = grants.at(-1)?.at ?? 0
  t.true(last >= ideal && last <= ideal + clock.sleeps, `${last} ms against ${ideal} ms ideal, ${clock.sleeps} sleeps`)
  t.true(total / (last / 1000) < MiB * 1.01 && total / (last / 1000) > MiB * 0.98)
})

test('two concurrent consumers each get about half', async t => {
  const { clock, limiter: l } = limiter({ limit: MiB })
  const both = Promise.all([consume(clock, l, 16 * KiB, 10_000), consume(clock, l, 16 * KiB, 10_000)])
  let done = false
  void both.then(() => { done = true })
  await clock.runUntil(() => done)
  const [a, b] = await both
  // Turns alternate, so the two differ by at most one take.
  t.true(Math.abs(a - b) <= 16 * KiB, `${a} against ${b}`)
  t.true(a + b >= 10 * MiB && a + b <= 10 * MiB + l.burstBytes + 32 * KiB)
})

test('a take larger than the burst goes in slices and does not hold the line', async t => {
  const { clock, limiter: l } = limiter({ limit: MiB, burstBytes: 64 * KiB })
  const resolvedAt: Record<string, number> = {}
  const big = l.take(4 * MiB).then(() => { resolvedAt.big = clock.now() })
  const small = l.take(16 * KiB).then(() => { resolvedAt.small = clock.now() })
  await clock.runUntil(() => resolvedAt.big != null)
  await Promise.all([big, small])
  // The big take's first slice (the full bucket) went at once; the small take, in line behind its
  // second slice (62.5 ms at the rate, rounded up), goes 16 ms later, not after all 4 MiB.
  t.is(resolvedAt.small, 63 + 16)
  t.is(resolvedAt.big, Math.ceil((4 * MiB + 16 * KiB - 64 * KiB) / MiB * 1000))
})

test('a fresh or idle limiter lets one burst go at once, and no more', async t => {
  const { clock, limiter: l } = limiter({ limit: MiB, burstBytes: 100 * KiB })
  await l.take(100 * KiB)
  t.is(clock.sleeps, 0)
  let next = false
  void l.take(1).then(() => { next = true })
  await settle()
  t.false(next)
  await clock.advance(1)
  t.true(next)
  await clock.advance(60_000) // a long idle spell refills one burst, not sixty seconds' worth
  await l.take(100 * KiB)
  const sleeps = clock.sleeps
  void l.take(50 * KiB)
  await settle()
  t.is(clock.sleeps, sleeps + 1)
})

test('the default burst follows the limit', t => {
  t.is(createRateLimiter({ limit: 1000 }).burstBytes, 64 * KiB)
  t.is(createRateLimiter({ limit: 100 * MiB }).burstBytes, Math.ceil(100 * MiB * 0.04))
  t.is(createRateLimiter().burstBytes, Infinity)
})

test('unlimited is immediate and never sleeps', async t => {
  for (const limit of [undefined, 0]) {
    const { clock, limiter: l } = limiter({ limit })
    const taken = l.take(1e12)
    t.is(taken, l.take(1), 'one shared resolved promise, nothing allocated per take')
    await taken
    t.is(clock.sleeps, 0)
    t.is(l.limit, undefined)
  }
})

test('changing the limit mid-way re-times the waiters', async t => {
  const { clock, limiter: l } = limiter({ limit: 1000, burstBytes: 1000 })
  let granted = 0
  const run = (async () => { for (let i = 0; i < 11; i++) { await l.take(1000); granted++ } })()
  await clock.advance(5000)
  t.is(granted, 6) // the burst, then 1000 B/s
  l.limit = 10_000 // the waiter sleeping at the old rate is woken at once
  await clock.advance(500)
  t.is(granted, 11)
  await run
  const waiter = l.take(1e9) // a million seconds at this rate
  await settle()
  l.limit = 0
  await waiter
  t.is(clock.time, 5500)
  l.limit = 1000 // back from unlimited: a full bucket, then the rate
  await l.take(1000)
  t.is(clock.time, 5500)
})

test('abort rejects with AbortError and takes no tokens', async t => {
  const { clock, limiter: l } = limiter({ limit: 1000, burstBytes: 1000 })
  await t.throwsAsync(l.take(1000, { signal: AbortSignal.abort() }), { name: 'AbortError' })
  await l.take(1000) // the bucket is still full
  t.is(clock.time, 0)
  const controller = new AbortController()
  const aborted = l.take(1000, { signal: controller.signal })
  let nextAt: number | undefined
  const next = l.take(500).then(() => { nextAt = clock.now() })
  await clock.advance(400)
  controller.abort()
  await t.throwsAsync(aborted, { name: 'AbortError' })
  await clock.advance(1000)
  await next
  t.is(nextAt, 500) // as if the aborted take had never been in line
})

test('rejects invalid limits and sizes', async t => {
  t.throws(() => createRateLimiter({ limit: -1 }), { name: 'ConfigError' })
  t.throws(() => createRateLimiter({ limit: 1000, burstBytes: 0 }), { name: 'ConfigError' })
  const l = createRateLimiter({ limit: 1000 })
  t.throws(() => { l.limit = Number.NaN }, { name: 'ConfigError' })
  await t.throwsAsync(l.take(-5), { name: 'RangeError' })
})

test('real time: 1 MiB through a 4 MiB/s limiter takes at least about 200 ms', async t => {
  const l = createRateLimiter({ limit: 4 * MiB })
  const started = performance.now()
  for (let i = 0; i < 64; i++) await l.take(16 * KiB)
  const elapsed = performance.now() - started
  // The first burst (40 ms at the rate, ~164 KiB) goes at once; the rest takes ~210 ms.
  t.true(elapsed >= 195 && elapsed < 2000, `${elapsed} ms`)
})
