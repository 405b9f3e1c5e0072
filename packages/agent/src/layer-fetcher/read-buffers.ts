import { READ_BUFFER_BUDGET_BYTES, READ_BUFFERS_PER_CLIENT, READ_CHUNK_BYTES, SMALL_READ_CHUNK_BYTES } from '../constants.ts'

export interface ReadBufferLease {
  buffers: Buffer[]
  /** Gives the buffers' bytes back to the budget; once, when the client's response is over. */
  release: () => void
}

/**
 * Read buffers for sending blob bytes to HTTP clients. Big ones (READ_CHUNK_BYTES: fewer reads and
 * writes, the fast path) come out of one budget for the whole process; when it is spent, a client
 * reads with small ones. A client that stops reading keeps its buffers until its connection times
 * out, so without the budget 400 stalled clients held 3 MiB each; with it they hold at most the
 * budget plus READ_BUFFERS_PER_CLIENT small buffers each. Process-wide on purpose: memory is.
 */
export class ReadBufferBudget {
  readonly budgetBytes: number
  #free: number

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
    const cost = big * READ_BUFFERS_PER_CLIENT
    if (big <= SMALL_READ_CHUNK_BYTES || cost > this.#free) {
      const size = Math.min(big, SMALL_READ_CHUNK_BYTES)
      return { buffers: allocate(size), release: () => {} }
    }
    this.#free -= cost
    let released = false
    return {
      buffers: allocate(big),
      release: () => {
        if (released) return
        released = true
        this.#free += cost
      }
    }
  }
}

function allocate (size: number): Buffer[] {
  return Array.from({ length: READ_BUFFERS_PER_CLIENT }, () => Buffer.allocUnsafeSlow(size))
}

/** The process's budget (see ReadBufferBudget). */
export const readBuffers = new ReadBufferBudget()
