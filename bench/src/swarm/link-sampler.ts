/**
 * Link utilisation over a pull phase: every machine's link bytes in and out, sampled each second
 * from the veth counters, as rates per second. This is what shows where links sit idle: a host
 * whose link carries a third of its rate is waiting on something, and the per-piece waits its
 * agent counts (piece-latency.ts) say on what.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { busyShares } from './machine-cpu.ts'
import type { CpuTimes } from './machine-cpu.ts'

export interface LinkSeries {
  /** Machine name: h0.., d0.., origin. */
  machine: string
  /** Bytes per second received in each interval (the first interval starts when sampling starts). */
  inBytesPerSecond: number[]
  outBytesPerSecond: number[]
}

export interface LinkUtilisation {
  intervalSeconds: number
  /**
   * How long each interval of the series really lasted: about intervalSeconds, longer when a sample
   * came late or failed (the next one spans the gap), and the last one ends when sampling stops.
   * Bytes in an interval are its rate times this.
   */
  secondsPerInterval?: number[]
  /** The rate each link allows, each direction. */
  linkBytesPerSecond: number
  series: LinkSeries[]
  /** The machine's CPU, busy share (0 to 1) in each interval, when sampled (machine-cpu.ts); NaN where unread. */
  cpuBusy?: number[]
}

type Counters = Map<string, { inBytes: number, outBytes: number }>

/** Samples `read` (and `cpu`, at the same moments) every `intervalMs` until stopped; the series are rates between samples. */
export class LinkSampler {
  readonly #read: () => Promise<Counters>
  readonly #cpu?: () => Promise<CpuTimes | undefined>
  readonly #intervalMs: number
  readonly #linkBytesPerSecond: number
  readonly #samples: Array<{ at: number, counters: Counters, cpu?: CpuTimes }> = []
  #running?: Promise<void>
  #stopped = false

  constructor (read: () => Promise<Counters>, init: { intervalMs: number, linkBytesPerSecond: number, cpu?: () => Promise<CpuTimes | undefined> }) {
    this.#read = read
    this.#cpu = init.cpu
    this.#intervalMs = init.intervalMs
    this.#linkBytesPerSecond = init.linkBytesPerSecond
  }

  start (): void {
    this.#running ??= this.#loop()
  }

  async stop (): Promise<LinkUtilisation> {
    this.#stopped = true
    await this.#running
    const cpuBusy = this.#cpu == null ? undefined : busyShares(this.#samples.map(s => s.cpu))
    const secondsPerInterval = this.#samples.slice(1).map((s, i) => (s.at - this.#samples[i]!.at) / 1000)
    return { intervalSeconds: this.#intervalMs / 1000, secondsPerInterval, linkBytesPerSecond: this.#linkBytesPerSecond, series: seriesOf(this.#samples), ...(cpuBusy == null ? {} : { cpuBusy }) }
  }

  async #loop (): Promise<void> {
    let next = performance.now()
    while (!this.#stopped) {
      try {
        this.#samples.push(await this.#sample(this.#read()))
      } catch {
        // A machine removed under us, or a slow `ip`: the next sample spans the gap.
      }
      next += this.#intervalMs
      await sleep(Math.max(0, next - performance.now()))
    }
    this.#samples.push(await this.#sample(this.#read().catch(() => new Map())))
  }

  async #sample (counters: Promise<Counters>): Promise<{ at: number, counters: Counters, cpu?: CpuTimes }> {
    const [read, cpu] = await Promise.all([counters, this.#cpu?.().catch(() => undefined)])
    return { at: performance.now(), counters: read, ...(cpu == null ? {} : { cpu }) }
  }
}

/** Rates between consecutive samples, per machine seen in the first sample. */
export function seriesOf (samples: ReadonlyArray<{ at: number, counters: Counters }>): LinkSeries[] {
  const first = samples[0]
  if (first == null) return []
  return [...first.counters.keys()].sort().map(machine => {
    const series: LinkSeries = { machine, inBytesPerSecond: [], outBytesPerSecond: [] }
    for (let i = 1; i < samples.length; i++) {
      const a = samples[i - 1]?.counters.get(machine)
      const b = samples[i]?.counters.get(machine)
      const seconds = ((samples[i]?.at ?? 0) - (samples[i - 1]?.at ?? 0)) / 1000
      // A machine gone since (removed, or its counters unread) counts as idle.
      series.inBytesPerSecond.push(a == null || b == null || seconds <= 0 ? 0 : Math.max(0, b.inBytes - a.inBytes) / seconds)
      series.outBytesPerSecond.push(a == null || b == null || seconds <= 0 ? 0 : Math.max(0, b.outBytes - a.outBytes) / seconds)
    }
    return series
  })
}

export interface IdleSummary {
  machine: string
  /** Seconds from the first interval with traffic in to the last one. */
  activeSeconds: number
  /** Of those, the share of seconds whose inbound rate was under half the link rate. */
  idleShare: number
  /** Mean inbound rate over the active seconds / link rate. */
  meanInUtilisation: number
  /** Mean outbound rate over the same seconds / link rate. */
  meanOutUtilisation: number
  /** The idle stretches of 2 s or more: [start, end) in seconds from the phase start. */
  idleStretches: Array<[number, number]>
}

/** Where each host's inbound link sat idle while its pull was on. */
export function idleSummary (u: LinkUtilisation, machines: (name: string) => boolean): IdleSummary[] {
  const threshold = u.linkBytesPerSecond / 2
  return u.series.filter(s => machines(s.machine)).map(s => {
    const active = s.inBytesPerSecond.map((rate, i) => ({ rate, i })).filter(x => x.rate > threshold / 10)
    const from = active[0]?.i ?? 0
    const to = active[active.length - 1]?.i ?? -1
    const window = s.inBytesPerSecond.slice(from, to + 1)
    const out = s.outBytesPerSecond.slice(from, to + 1)
    const stretches: Array<[number, number]> = []
    let start: number | undefined
    window.forEach((rate, k) => {
      if (rate < threshold) start ??= k
      else if (start != null) {
        if (k - start >= 2) stretches.push([(from + start) * u.intervalSeconds, (from + k) * u.intervalSeconds])
        start = undefined
      }
    })
    const n = Math.max(1, window.length)
    return {
      machine: s.machine,
      activeSeconds: window.length * u.intervalSeconds,
      idleShare: window.filter(rate => rate < threshold).length / n,
      meanInUtilisation: window.reduce((a, b) => a + b, 0) / n / u.linkBytesPerSecond,
      meanOutUtilisation: out.reduce((a, b) => a + b, 0) / n / u.linkBytesPerSecond,
      idleStretches: stretches
    }
  })
}

export interface OriginLag {
  machine: string
  /** The most the bytes the host had received trailed the bytes the origin had sent, in seconds of the host's link. */
  maxSeconds: number
  /** The same once the origin's link had sent 95% of its bytes: what the host still had to catch up on then. */
  atOriginEndSeconds: number
  /** The lag at the end of each sample interval, from the phase start (never below zero). */
  bySample: number[]
}

/**
 * How far each host trailed the origin. When the origin sends the image about once and every host
 * needs all of it, a host whose link is no faster than the origin's can only finish as long after
 * the origin's last byte as it trailed then: this says whether that lag was built at the start
 * (nothing to relay yet) or grew on the way. None when the origin sent nothing (prefetched).
 */
export function originLag (u: LinkUtilisation, machines: (name: string) => boolean): OriginLag[] | undefined {
  const origin = u.series.find(s => s.machine === 'origin')
  const sent = cumulative(origin?.outBytesPerSecond ?? [])
  const total = sent[sent.length - 1] ?? 0
  if (total <= 0) return undefined
  const end = sent.findIndex(bytes => bytes >= 0.95 * total)
  const linkSeconds = (bytes: number): number => bytes / u.linkBytesPerSecond
  return u.series.filter(s => machines(s.machine)).map(s => {
    const received = cumulative(s.inBytesPerSecond)
    const lag = sent.map((bytes, i) => linkSeconds(bytes - (received[i] ?? received[received.length - 1] ?? 0)))
    return { machine: s.machine, maxSeconds: Math.max(0, ...lag), atOriginEndSeconds: Math.max(0, lag[end] ?? 0), bySample: lag.map(l => Math.max(0, l)) }
  })
}

/**
 * The hosts' mean lag behind the origin, sample by sample: where it is built, at the start (nothing
 * to relay yet) or on the way (the links falling behind what the origin sends).
 */
export function meanLag (lag: readonly OriginLag[]): number[] {
  const samples = Math.max(0, ...lag.map(l => l.bySample.length))
  return Array.from({ length: samples }, (_, i) => lag.reduce((sum, l) => sum + (l.bySample[i] ?? 0), 0) / Math.max(1, lag.length))
}

export interface SwitchLoss {
  /** Bytes every machine sent into the switch over the phase (its veth's inbound side at the switch). */
  sentBytes: number
  /** Bytes the switch delivered to the machines. */
  deliveredBytes: number
  /** (sent - delivered) / sent: dropped at a full downlink queue (TCP sends those bytes again). */
  lostShare: number
}

/**
 * What the switch dropped, over all machines: every byte a machine sends is for another machine on
 * the same switch, so what was sent and never delivered was dropped at a full queue toward its
 * receiver (the switch side's tbf), and TCP sent it again at the cost of the sender's link. A lost
 * share of some percent means the links carried that much more than the pull needed. Both sides
 * come from the same samples, weighted alike. None when nothing was sent.
 */
export function switchLoss (u: LinkUtilisation): SwitchLoss | undefined {
  const total = (rates: readonly number[]): number => rates.reduce((a, b) => a + b, 0) * u.intervalSeconds
  const sentBytes = u.series.reduce((a, s) => a + total(s.outBytesPerSecond), 0)
  const deliveredBytes = u.series.reduce((a, s) => a + total(s.inBytesPerSecond), 0)
  if (sentBytes <= 0) return undefined
  return { sentBytes, deliveredBytes, lostShare: Math.max(0, sentBytes - deliveredBytes) / sentBytes }
}

function cumulative (rates: readonly number[]): number[] {
  let sum = 0
  return rates.map(rate => (sum += rate))
}
