import { randomBytes } from 'node:crypto'
import test from 'ava'
import { createRateLimiter, throttle } from '../../src/bandwidth/index.ts'
import { FakeClock } from './fake-clock.ts'

const KiB = 2 ** 10

async function * from (chunks: Uint8Array[]): AsyncGenerator<Uint8Array> {
  yield * chunks
}

test('throttle yields the same bytes in order, paced, cutting only chunks above the burst', async t => {
  const clock = new FakeClock()
  const limiter = createRateLimiter({ limit: 100 * KiB, burstBytes: 10 * KiB, now: clock.now, sleep: clock.sleep })
  const chunks = [1, 10 * KiB, 25 * KiB + 3, 7, 4 * KiB, 30 * KiB].map(n => randomBytes(n))
  const out: Uint8Array[] = []
  const at: number[] = []
  let done = false
  void (async () => {
    for await (const chunk of throttle(from(chunks), limiter)) {
      out.push(chunk)
      at.push(clock.now())
    }
    done = true
  })()
  await clock.runUntil(() => done, 10)
  t.deepEqual(Buffer.concat(out), Buffer.concat(chunks))
  t.deepEqual(out.map(c => c.byteLength), [1, 10 * KiB, 10 * KiB, 10 * KiB, 5 * KiB + 3, 7, 4 * KiB, 10 * KiB, 10 * KiB, 10 * KiB])
  t.is(out[1], chunks[1], 'a chunk within the burst is passed on as is')
  t.is(out[2]?.buffer, chunks[2]?.buffer, 'a larger chunk is cut into views, not copies')
  const total = chunks.reduce((sum, c) => sum + c.byteLength, 0)
  // The burst went at once, the rest at the rate; waits are rounded up to whole milliseconds.
  const ideal = (total - 10 * KiB) / (100 * KiB) * 1000
  const last = at.at(-1) ?? 0
  t.true(last >= ideal && last <= ideal + 2, `${last} ms against ${ideal} ms ideal`)
})

test('throttle through an unlimited limiter passes the chunks untouched', async t => {
  const chunks = [randomBytes(1), randomBytes(4 * 2 ** 20)]
  const out: Uint8Array[] = []
  for await (const chunk of throttle(from(chunks), createRateLimiter())) out.push(chunk)
  t.is(out.length, 2)
  t.is(out[0], chunks[0])
  t.is(out[1], chunks[1])
})

test('throttle rejects with AbortError when its signal aborts a wait', async t => {
  const limiter = createRateLimiter({ limit: 1000, burstBytes: 1000 })
  const controller = new AbortController()
  const out: Uint8Array[] = []
  const run = (async () => {
    for await (const chunk of throttle(from([randomBytes(1000), randomBytes(5000)]), limiter, { signal: controller.signal })) out.push(chunk)
  })()
  setTimeout(() => { controller.abort() }, 50)
  await t.throwsAsync(run, { name: 'AbortError' })
  t.is(out.length, 1)
})
