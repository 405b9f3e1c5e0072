import { JOBS_MAX_ACTIVE, JOBS_MAX_PER_MINUTE } from '../constants.ts'

export interface JobAdmissionInit {
  /** Jobs resolving or running at once; more are refused until one ends. */
  maxActive?: number
  /** Jobs created in any 60 s; more are refused until the oldest leaves the window. */
  maxPerMinute?: number
  now?: () => number
}

export type Admission = { ok: true } | { ok: false, why: string, retryAfterSeconds: number }

const WINDOW_MS = 60_000

/**
 * Whether the admin API takes one more job. Each job makes agents resolve images at the origin and
 * pull blobs, so a caller with the token still cannot queue thousands: both limits answer 429 with
 * Retry-After.
 */
export class JobAdmission {
  readonly #maxActive: number
  readonly #maxPerMinute: number
  readonly #now: () => number
  readonly #created: number[] = []

  constructor (init: JobAdmissionInit = {}) {
    this.#maxActive = init.maxActive ?? JOBS_MAX_ACTIVE
    this.#maxPerMinute = init.maxPerMinute ?? JOBS_MAX_PER_MINUTE
    this.#now = init.now ?? Date.now
  }

  /** Asks for one job given how many are active; an admitted job counts toward the rate at once. */
  admit (active: number): Admission {
    const now = this.#now()
    while (this.#created.length > 0 && (this.#created[0] ?? 0) <= now - WINDOW_MS) this.#created.shift()
    if (active >= this.#maxActive) {
      return { ok: false, why: `${active} jobs are resolving or running, the most this scheduler runs at once (--max-active-jobs ${this.#maxActive}): wait for one to end or cancel one`, retryAfterSeconds: 10 }
    }
    if (this.#created.length >= this.#maxPerMinute) {
      const wait = Math.max(1, Math.ceil(((this.#created[0] ?? now) + WINDOW_MS - now) / 1000))
      return { ok: false, why: `${this.#created.length} jobs were created in the last minute, the most this scheduler takes (--max-jobs-per-minute ${this.#maxPerMinute})`, retryAfterSeconds: wait }
    }
    this.#created.push(now)
    return { ok: true }
  }
}
