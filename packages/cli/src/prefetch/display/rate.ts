import { RATE_WINDOW_MS } from '../constants.ts'

/** Bytes per second over a sliding window of (time, bytes done) samples; the clock is the caller's. */
export class RateMeter {
  private readonly windowMs: number
  private readonly samples: Array<{ at: number, bytes: number }> = []

  constructor (init: { windowMs?: number } = {}) {
    this.windowMs = init.windowMs ?? RATE_WINDOW_MS
  }

  /** Records `bytes` done at `nowMs` and returns the rate over the window (0 until two samples apart in time). */
  sample (nowMs: number, bytes: number): number {
    this.samples.push({ at: nowMs, bytes })
    while (this.samples.length > 2 && nowMs - (this.samples[1]?.at ?? nowMs) >= this.windowMs) this.samples.shift()
    const first = this.samples[0]
    if (first == null || nowMs <= first.at) return 0
    return Math.max(0, bytes - first.bytes) / ((nowMs - first.at) / 1000)
  }
}
