import { AbortError } from '../errors.ts'

interface Waiter { bytes: number, priority: number, resolve: (release: () => void) => void, reject: (err: Error) => void }

/**
 * Bytes of pieces the server holds in memory at once, read from disk and not yet sent: what bounds
 * an uploader's memory however many peers ask. A piece waits its turn: lower `priority` first, then
 * first come, first served; one piece larger than the whole budget still goes, alone.
 */
export class ReadBudget {
  readonly #max: number
  readonly #queue: Waiter[] = []
  #used = 0

  constructor (maxBytes: number) {
    this.#max = maxBytes
  }

  get used (): number {
    return this.#used
  }

  /** Resolves with the function that gives the bytes back (call it once). Lower `priority` waits less. */
  async acquire (bytes: number, signal?: AbortSignal, priority = 0): Promise<() => void> {
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
    return this.#used === 0 || this.#used + bytes <= this.#max
  }

  #grant (bytes: number): () => void {
    this.#used += bytes
    let released = false
    return () => {
      if (released) return
      released = true
      this.#used -= bytes
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
