export interface SendPaceInit {
  /** Busy time over which samples are averaged (an exponential average with this time constant). */
  windowMs: number
  /** Busy time one sample covers at least. */
  sampleMs: number
  now?: () => number
}

/**
 * How fast an uploader's pieces leave: bytes handed on (a piece's send done) per second of the time
 * some piece was under way, as an exponential average over `windowMs` of that busy time. Idle time
 * does not count, so an uploader that has little to send still reads as fast as its sends go.
 * Infinity until the first sample: nothing is known yet, nothing is held back.
 *
 * A piece's send is done when its stream has handed the bytes on, not when the peer has them; while
 * the link is the bottleneck the buffers below fill and the sends then finish at the link's rate.
 */
export class SendPace {
  readonly #windowMs: number
  readonly #sampleMs: number
  readonly #now: () => number
  #inFlight = 0
  #last: number
  #busyMs = 0
  #bytes = 0
  #rate = Infinity

  constructor (init: SendPaceInit) {
    this.#windowMs = init.windowMs
    this.#sampleMs = init.sampleMs
    this.#now = init.now ?? Date.now
    this.#last = this.#now()
  }

  /** Bytes per second; Infinity before the first sample. */
  get bytesPerSecond (): number {
    return this.#rate
  }

  /** A piece's send began. */
  started (): void {
    this.#advance()
    this.#inFlight++
  }

  /** A piece's send ended, `bytes` of it handed on (0 for one given up). */
  finished (bytes: number): void {
    this.#advance()
    this.#inFlight = Math.max(0, this.#inFlight - 1)
    this.#bytes += bytes
    if (this.#busyMs < this.#sampleMs) return
    const sample = this.#bytes * 1000 / this.#busyMs
    const weight = Math.min(1, this.#busyMs / this.#windowMs)
    this.#rate = Number.isFinite(this.#rate) ? this.#rate + weight * (sample - this.#rate) : sample
    this.#busyMs = 0
    this.#bytes = 0
  }

  #advance (): void {
    const now = this.#now()
    if (this.#inFlight > 0) this.#busyMs += Math.max(0, now - this.#last)
    this.#last = now
  }
}
