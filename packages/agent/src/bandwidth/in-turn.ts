import type { RateLimiter, TakeOptions } from './rate-limiter.ts'

/**
 * A limiter whose takes are served whole, one after another in the order asked. For pieces: at a
 * limited rate, eight pieces sharing it evenly would all arrive at the end; in turn, the first is
 * whole (verifiable, shareable, next in the stream) after an eighth of that time.
 */
export function inTurn (limiter: RateLimiter): Pick<RateLimiter, 'take'> {
  let last: Promise<void> = Promise.resolve()
  return {
    take: async (bytes: number, options?: TakeOptions): Promise<void> => {
      const turn = last.then(async () => { await limiter.take(bytes, options) })
      // The chain only orders turns; each caller gets its own turn's failure (an abort) from `turn`.
      last = turn.catch(() => {})
      await turn
    }
  }
}
