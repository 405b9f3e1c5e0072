/**
 * @packageDocumentation
 *
 * Bandwidth limits (`--upload-limit`, `--download-limit`, `--origin-limit`, bytes per second),
 * enforced per agent: one `RateLimiter` per kind of flow, shared by every flow of that kind, and
 * `throttle()` to pace a byte stream through it.
 *
 * ```ts
 * const uploads = createRateLimiter({ limit: 50 * 2 ** 20 })
 * for await (const chunk of throttle(readPiece(...), uploads, { signal })) send(chunk)
 * uploads.limit = 0 // unlimited from now on; waiters go at once
 * ```
 *
 * The limiter is a token bucket: after an idle spell one burst (BANDWIDTH_BURST_MS at the rate,
 * or `burstBytes`) goes at once, then bytes go at the rate. Waiters are served in turns of at most
 * one burst each, in the order they arrived, so concurrent flows share the rate about evenly and
 * a take larger than the burst goes in slices. Unlimited (0 or undefined) costs one comparison per
 * take. The clock and sleep are injected for tests.
 */
import { RateLimiter } from './rate-limiter.ts'
import type { RateLimiterInit } from './rate-limiter.ts'

export { RateLimiter } from './rate-limiter.ts'
export type { RateLimiterInit, TakeOptions } from './rate-limiter.ts'
export { throttle } from './throttle.ts'
export { inTurn } from './in-turn.ts'

export function createRateLimiter (init: RateLimiterInit = {}): RateLimiter {
  return new RateLimiter(init)
}
