interface Timer { at: number, resolve: () => void }

/** A clock that moves only when told to, and the sleep that goes with it (RateLimiterInit.now/sleep). */
export class FakeClock {
  time = 0
  /** Sleeps started, cancelled ones included. */
  sleeps = 0
  private readonly timers = new Set<Timer>()

  readonly now = (): number => this.time

  readonly sleep = async (ms: number, { signal }: { signal: AbortSignal }): Promise<void> => {
    this.sleeps++
    await new Promise<void>((resolve, reject) => {
      const timer = { at: this.time + ms, resolve }
      this.timers.add(timer)
      signal.addEventListener('abort', () => {
        this.timers.delete(timer)
        reject(signal.reason)
      }, { once: true })
    })
  }

  /** Moves time forward by `ms`, firing each timer due on the way and letting what it wakes run. */
  async advance (ms: number): Promise<void> {
    const end = this.time + ms
    for (;;) {
      await settle()
      const next = [...this.timers].filter(t => t.at <= end).sort((a, b) => a.at - b.at)[0]
      if (next == null) break
      this.timers.delete(next)
      this.time = next.at
      next.resolve()
    }
    this.time = end
    await settle()
  }

  /** Advances in steps of `stepMs` until `done()` says so. */
  async runUntil (done: () => boolean, stepMs = 100): Promise<void> {
    while (!done()) await this.advance(stepMs)
  }
}

/** Lets every pending promise callback run. */
export async function settle (): Promise<void> {
  await new Promise(resolve => setImmediate(resolve))
}
