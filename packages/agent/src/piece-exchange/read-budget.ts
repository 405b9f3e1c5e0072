import { AbortError } from '../errors.ts'
import type { SendPace } from './send-pace.ts'

interface Waiter { bytes: number, priority: number, resolve: (release: ReleaseRead) => void, reject: (err: Error) => void }

export interface ReadBudgetInit {
  /** The most bytes held at once: the bound on memory. */
  maxBytes: number
  /**
   * With a pace: the budget is also at most `queueMs` of the measured send rate, and at least
   * `minBytes` (default maxBytes). The pieces granted share the link; sized by bytes alone, a slow
   * link would take seconds to finish any of them.
   */
  pace?: Pick<SendPace, 'bytesPerSecond' | 'started' | 'finished'>
  queueMs?: number
  minBytes?: number
}

/** What a grant's release is told: whether the bytes were sent (the pace counts only those). */
export type ReleaseRead = (sent?: boolean) => void

/**
 * Bytes of pieces the server holds in memory at once, read from disk and not yet sent: what bounds
 * an uploader's memory however many peers ask, and how many pieces it sends side by side. A piece
 * waits its turn: lower `priority` first, then first come, first served; one piece larger than the
 * whole budget still goes, alone.
 */
export class ReadBudget {
  readonly #maxBytes: number
  readonly #minBytes: number
  readonly #queueMs: number
  readonly #pace?: ReadBudgetInit['pace']
  readonly #queue: Waiter[] = []
  #used = 0

  constructor (init: ReadBudgetInit) {
    this.#maxBytes = init.maxBytes
    this.#minBytes = Math.min(init.minBytes ?? init.maxBytes, init.maxBytes)
    this.#queueMs = init.queueMs ?? Infinity
    this.#pace = init.pace
  }

  get used (): number {
    return this.#used
  }

  /** The bytes that may be held now: maxBytes, or less on a link whose sends go slower. */
  get size (): number {
    const rate = this.#pace?.bytesPerSecond ?? Infinity
    const paced = rate * this.#queueMs / 1000
    return Number.isFinite(paced) ? Math.max(this.#minBytes, Math.min(this.#maxBytes, Math.round(paced))) : this.#maxBytes
  }

  /** Resolves with the function that gives the bytes back (call it once). Lower `priority` waits less. */
  async acquire (bytes: number, signal?: AbortSignal, priority = 0): Promise<ReleaseRead> {
    signal?.throwIfAborted()
    if (this.#queue.length === 0 && this.#fits(bytes)) return this.#grant(bytes)
    return new Promise((resolve, reject) => {
      const waiter: Waiter = { bytes, priority, resolve, reject }
      // Behind every waiter of the same or a lower priority: first come, first served within one.
      const at = this.#queue.findIndex(w => w.priority > priority)
      this.#queue.splice(at < 0 ? this.#queue.length : at, 0, waiter)
      signal?.addEventListener('abort', () => {
        const i = this.#queue.indexOf(waiter)
        if (i < 0) return
        this.#queue.splice(i, 1)
        reject(new AbortError('piece read aborted while waiting for memory', { cause: signal.reason }))
        this.#pump()
      }, { once: true })
    })
  }

  #fits (bytes: number): boolean {
    return this.#used === 0 || this.#used + bytes <= this.size
  }

  #grant (bytes: number): ReleaseRead {
    this.#used += bytes
    this.#pace?.started()
    let released = false
    return (sent = true) => {
      if (released) return
      released = true
      this.#used -= bytes
      this.#pace?.finished(sent ? bytes : 0)
      this.#pump()
    }
  }

  #pump (): void {
    for (let next = this.#queue[0]; next != null && this.#fits(next.bytes); next = this.#queue[0]) {
      this.#queue.shift()
      next.resolve(this.#grant(next.bytes))
    }
  }
}
