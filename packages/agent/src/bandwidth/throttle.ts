import { AbortError } from '../errors.ts'
import type { RateLimiter, TakeOptions } from './rate-limiter.ts'

/**
 * Yields the chunks of `source` in order, each once the limiter lets its bytes go. A chunk larger
 * than the limiter's burst is yielded as views (`subarray`) of at most one burst each, never
 * copied; when the limiter is unlimited, chunks pass through untouched. The limit is read again
 * for every chunk, so a change at run time applies to the flow under way. `signal` aborts a wait
 * for tokens with AbortError; a `source` that waits on its own is the source's to abort.
 */
export async function * throttle (source: AsyncIterable<Uint8Array>, limiter: RateLimiter, options: TakeOptions = {}): AsyncGenerator<Uint8Array, void, undefined> {
  for await (const chunk of source) {
    if (options.signal?.aborted === true) throw new AbortError('throttled stream aborted', { cause: options.signal.reason })
    if (chunk.byteLength <= limiter.burstBytes) {
      await limiter.take(chunk.byteLength, options)
      yield chunk
      continue
    }
    for (let offset = 0; offset < chunk.byteLength;) {
      const piece = chunk.subarray(offset, offset + limiter.burstBytes)
      await limiter.take(piece.byteLength, options)
      yield piece
      offset += piece.byteLength
    }
  }
}
