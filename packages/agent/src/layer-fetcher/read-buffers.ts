import { READ_BUFFER_BUDGET_BYTES, READ_BUFFERS_PER_CLIENT, READ_CHUNK_BYTES, SMALL_READ_CHUNK_BYTES, SMALL_READ_BUFFERS_KEPT } from '../constants.ts'

export interface ReadBufferLease {
  buffers: Buffer[]
  /**
   * The response is over: the bytes go back to the budget, and the buffers to the free list once
   * `pending` (the writes that may still hold them) have settled. Once; later calls do nothing.
   */
  release: (pending?: Array<Promise<unknown>>) => void
}

/**
 * Read buffers for sending blob bytes to HTTP clients. Big ones (READ_CHUNK_BYTES: fewer reads and
 * writes, the fast path) come out of one budget for the whole process; when it is spent, a client
 * reads with small ones. A client that stops reading keeps its buffers until it is cut off, so
 * without the budget 400 stalled clients held 3 MiB each; with it they hold at most the budget plus
 * READ_BUFFERS_PER_CLIENT small buffers each. Released buffers are kept on free lists and handed
 * out again (a small list is capped): allocated anew each time, they lingered outside the heap
 * until a garbage collection that a quiet heap rarely runs, and RSS grew round after round of
 * stalled clients. Process-wide on purpose: memory is.
 */
export class ReadBufferBudget {
  readonly budgetBytes: number
  #free: number
  readonly #bigKept: Buffer[] = []
  readonly #smallKept: Buffer[] = []

  constructor (budgetBytes = READ_BUFFER_BUDGET_BYTES) {
    this.budgetBytes = budgetBytes
    this.#free = budgetBytes
  }

  /** Bytes of big buffers not leased now. */
  get freeBytes (): number {
    return this.#free
  }

  /** Buffers for one client reading `wanted` bytes at most per chunk. */
  lease (wanted: number): ReadBufferLease {
    const big = Math.min(READ_CHUNK_BYTES, Math.max(1, wanted))
    const cost = READ_CHUNK_BYTES * READ_BUFFERS_PER_CLIENT
    if (big < SMALL_READ_CHUNK_BYTES) return { buffers: fresh(big), release: () => {} }
    if (big < READ_CHUNK_BYTES || cost > this.#free) {
      const buffers = this.#take(this.#smallKept, SMALL_READ_CHUNK_BYTES)
      return { buffers, release: this.#releaser(buffers, this.#smallKept, SMALL_READ_BUFFERS_KEPT, 0) }
    }
    this.#free -= cost
    const buffers = this.#take(this.#bigKept, READ_CHUNK_BYTES)
    // Big buffers are kept up to what the budget allows, so the list never holds more than it.
    return { buffers, release: this.#releaser(buffers, this.#bigKept, this.budgetBytes / READ_CHUNK_BYTES, cost) }
  }

  #take (kept: Buffer[], size: number): Buffer[] {
    return Array.from({ length: READ_BUFFERS_PER_CLIENT }, () => kept.pop() ?? Buffer.allocUnsafeSlow(size))
  }

  #releaser (buffers: Buffer[], kept: Buffer[], keepAtMost: number, cost: number): ReadBufferLease['release'] {
    let released = false
    return pending => {
      if (released) return
      released = true
      this.#free += cost
      // A write still under way may read a buffer: it goes back to the list only once they settle.
      void Promise.allSettled(pending ?? []).then(() => {
        for (const buffer of buffers) if (kept.length < keepAtMost) kept.push(buffer)
      })
    }
  }
}

function fresh (size: number): Buffer[] {
  return Array.from({ length: READ_BUFFERS_PER_CLIENT }, () => Buffer.allocUnsafeSlow(size))
}

/** The process's budget (see ReadBufferBudget). */
export const readBuffers = new ReadBufferBudget()
