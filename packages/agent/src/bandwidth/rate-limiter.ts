import { setTimeout as delay } from 'node:timers/promises'
import { BANDWIDTH_BURST_MS, BANDWIDTH_MIN_BURST_BYTES } from '../constants.ts'
import { AbortError, ConfigError } from '../errors.ts'

export type Sleep = (ms: number, options: { signal: AbortSignal }) => Promise<void>

export interface RateLimiterInit {
  /** Bytes per second; 0 or undefined is unlimited. */
  limit?: number
  /** Bytes let through at once after an idle spell. Default: BANDWIDTH_BURST_MS at the limit, at least BANDWIDTH_MIN_BURST_BYTES. */
  burstBytes?: number
  /** Injected clock (milliseconds), for tests. */
  now?: () => number
  /** Injected sleep, for tests; must reject when `signal` aborts. */
  sleep?: Sleep
}

export interface TakeOptions {
  /** Aborts the wait: the take rejects with AbortError and consumes no further tokens. */
  signal?: AbortSignal
}

interface Waiter { remaining: number, resolve: () => void, reject: (err: Error) => void, signal?: AbortSignal, onAbort?: () => void }

const GRANTED = Promise.resolve()

/**
 * A token bucket shared by all flows of one kind on an agent (uploads, downloads, origin). Waiters
 * are served in turn: each turn grants the waiter at the front at most one burst, and a waiter
 * with more to go goes to the back of the line, so a large take neither starves nor holds the link
 * against small ones. The only timer is the one wait for the front waiter's tokens.
 */
export class RateLimiter {
  private readonly now: () => number
  private readonly sleep: Sleep
  private readonly fixedBurst?: number
  private rate?: number
  private burst = 0
  private tokens = 0
  private refilledAt = 0
  private readonly queue: Waiter[] = []
  private wait?: AbortController // cancels the wait under way

  constructor (init: RateLimiterInit = {}) {
    this.now = init.now ?? performance.now.bind(performance)
    this.sleep = init.sleep ?? (async (ms, { signal }) => { await delay(ms, undefined, { signal }) })
    const burst = init.burstBytes
    if (burst != null && !(Number.isSafeInteger(burst) && burst > 0)) throw new ConfigError(`burstBytes: ${burst} must be a positive whole number`)
    this.fixedBurst = init.burstBytes
    this.limit = init.limit
  }

  /** Bytes per second, or undefined when unlimited. */
  get limit (): number | undefined {
    return this.rate
  }

  /** Changes the rate at run time; waiters are re-timed at once (all let through when unlimited). */
  set limit (limit: number | undefined) {
    if (limit != null && !(Number.isFinite(limit) && limit >= 0)) throw new ConfigError(`bandwidth limit: ${limit} must be bytes per second (0: unlimited)`)
    const rate = limit === 0 ? undefined : limit
    if (rate === this.rate) return
    if (this.rate != null) this.refill(this.wait != null)
    const wasUnlimited = this.rate == null
    this.rate = rate
    this.cancelWait()
    if (rate == null) { for (const waiter of this.queue.splice(0)) this.settle(waiter); return }
    this.burst = this.fixedBurst ?? Math.max(BANDWIDTH_MIN_BURST_BYTES, Math.ceil(rate * BANDWIDTH_BURST_MS / 1000))
    this.tokens = wasUnlimited ? this.burst : Math.min(this.tokens, this.burst)
    this.refilledAt = this.now()
    this.pump(false)
  }

  /** The most one turn grants; `throttle` cuts chunks to this size. Infinity when unlimited. */
  get burstBytes (): number {
    return this.rate == null ? Infinity : this.burst
  }

  /** Resolves when `bytes` may go. Unlimited: an already resolved promise, no bookkeeping. */
  take (bytes: number, { signal }: TakeOptions = {}): Promise<void> {
    if (!(Number.isSafeInteger(bytes) && bytes >= 0)) return Promise.reject(new RangeError(`take: ${bytes} is not a number of bytes`))
    if (signal?.aborted === true) return Promise.reject(new AbortError('bandwidth wait aborted', { cause: signal.reason }))
    if (this.rate == null || bytes === 0) return GRANTED
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { remaining: bytes, resolve, reject, signal }
      if (signal != null) {
        waiter.onAbort = () => { this.abort(waiter) }
        signal.addEventListener('abort', waiter.onAbort, { once: true })
      }
      this.queue.push(waiter)
      if (this.wait == null) this.pump(false)
    })
  }

  /** Grants turns while the tokens last, then waits for the front one's; `busy`: someone was in line since the last refill. */
  private pump (busy: boolean): void {
    const rate = this.rate
    if (rate == null) return
    this.refill(busy)
    let waiter: Waiter | undefined
    while ((waiter = this.queue[0]) != null) {
      const slice = Math.min(waiter.remaining, this.burst)
      if (this.tokens < slice) {
        this.startWait((slice - this.tokens) / rate * 1000)
        return
      }
      this.tokens -= slice
      waiter.remaining -= slice
      this.queue.shift()
      if (waiter.remaining === 0) this.settle(waiter); else this.queue.push(waiter)
    }
  }

  /**
   * The bucket holds one burst after an idle spell. While waiters are in line it may hold up to
   * two: the excess is what a wait that ended late (timer lateness, rounding to whole ms) owes the
   * line, so the rate holds over the long run (granted <= burst + rate x time, always).
   */
  private refill (busy: boolean): void {
    const now = this.now()
    const cap = busy ? 2 * this.burst : this.burst
    this.tokens = Math.min(cap, this.tokens + (now - this.refilledAt) * (this.rate ?? 0) / 1000)
    this.refilledAt = now
  }

  private startWait (ms: number): void {
    const wait = new AbortController()
    this.wait = wait
    this.sleep(Math.max(1, Math.ceil(ms)), { signal: wait.signal }).then(() => {
      if (this.wait !== wait) return
      this.wait = undefined
      this.pump(true)
    }, () => { /* cancelled: whoever cancelled it pumps */ })
  }

  private cancelWait (): void {
    this.wait?.abort()
    this.wait = undefined
  }

  /** Tokens already granted to earlier turns of an aborted take are spent; nothing more is taken. */
  private abort (waiter: Waiter): void {
    const index = this.queue.indexOf(waiter)
    if (index === -1) return
    this.queue.splice(index, 1)
    this.settle(waiter, new AbortError('bandwidth wait aborted', { cause: waiter.signal?.reason }))
    if (index === 0) {
      this.cancelWait()
      this.pump(true)
    }
  }

  private settle (waiter: Waiter, err?: Error): void {
    if (waiter.onAbort != null) waiter.signal?.removeEventListener('abort', waiter.onAbort)
    if (err == null) waiter.resolve(); else waiter.reject(err)
  }
}
