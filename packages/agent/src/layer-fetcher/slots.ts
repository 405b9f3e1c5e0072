/**
 * At most `count` holders at once, served first come, first served. For origin Range reads: a link
 * shared by many concurrent requests finishes none of them until nearly all are done, so peers see
 * no new piece for a long while (and give up on each other); a few at a time finish pieces steadily.
 */
export class Slots {
  readonly #count: number
  #busy = 0
  readonly #waiting: Array<() => void> = []

  constructor (count: number) {
    this.#count = Math.max(1, count)
  }

  /**
   * Runs `work` in a slot; waiting for one ends with the signal's reason. `work` may hand its slot
   * to the next waiter before it ends (`handOff`, once; later calls do nothing): a read whose last
   * bytes are on their way lets the next one send its request.
   */
  async run<T> (work: (handOff: () => void) => Promise<T>, signal: AbortSignal): Promise<T> {
    await this.#acquire(signal)
    let held = true
    const handOff = (): void => {
      if (!held) return
      held = false
      this.#release()
    }
    try {
      return await work(handOff)
    } finally {
      handOff()
    }
  }

  async #acquire (signal: AbortSignal): Promise<void> {
    signal.throwIfAborted()
    if (this.#busy < this.#count) {
      this.#busy++
      return
    }
    await new Promise<void>((resolve, reject) => {
      const grant = (): void => {
        signal.removeEventListener('abort', onAbort)
        resolve()
      }
      const onAbort = (): void => {
        const index = this.#waiting.indexOf(grant)
        if (index >= 0) this.#waiting.splice(index, 1)
        reject(signal.reason as Error)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#waiting.push(grant)
    })
  }

  #release (): void {
    const next = this.#waiting.shift()
    // The slot passes straight to the next waiter (busy stays the same).
    if (next != null) next()
    else this.#busy--
  }
}
