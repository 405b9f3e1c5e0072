export interface SendPaceInit {
  /** Busy time the rate is measured over: the most recent samples that together cover it. */
  windowMs: number
  /** Busy time one sample covers at least. */
  sampleMs: number
  now?: () => number
}

interface Sample { busyMs: number, bytes: number }

/**
 * How fast an uploader's pieces leave: bytes handed on (a piece's send done) per second of the time
 * some piece was under way, over the last `windowMs` of that busy time. Idle time does not count, so
 * an uploader that has little to send still reads as fast as its sends go. Infinity until the first
 * sample: nothing is known yet, nothing is held back.
 *
 * A piece's send is done when its stream has handed the bytes on, not when the peer has them: the
 * first sends on a slow link fill the buffers below and read fast. A window of samples, not a
 * running average, lets those drop out after `windowMs` of sending at the link's rate.
 */
export class SendPace {
  readonly #windowMs: number
  readonly #sampleMs: number
  readonly #now: () => number
  readonly #samples: Sample[] = []
  #inFlight = 0
  #last: number
  #busyMs = 0
  #bytes = 0

  constructor (init: SendPaceInit) {
    this.#windowMs = init.windowMs
    this.#sampleMs = init.sampleMs
    this.#now = init.now ?? Date.now
    this.#last = this.#now()
  }

  /** Bytes per second; Infinity before the first sample. */
  get bytesPerSecond (): number {
    let busyMs = 0
    let bytes = 0
    for (const sample of this.#samples) {
      busyMs += sample.busyMs
      bytes += sample.bytes
    }
    return busyMs === 0 ? Infinity : bytes * 1000 / busyMs
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
    this.#samples.push({ busyMs: this.#busyMs, bytes: this.#bytes })
    this.#busyMs = 0
    this.#bytes = 0
    // Keep the newest samples that cover the window; an older one goes once the rest cover it alone.
    let covered = this.#samples.reduce((sum, sample) => sum + sample.busyMs, 0)
    while (this.#samples.length > 1 && covered - this.#samples[0]!.busyMs >= this.#windowMs) covered -= this.#samples.shift()!.busyMs
  }

  #advance (): void {
    const now = this.#now()
    if (this.#inFlight > 0) this.#busyMs += Math.max(0, now - this.#last)
    this.#last = now
  }
}
