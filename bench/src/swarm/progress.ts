/**
 * The live view of a pull phase. In a terminal: one line per host, redrawn in place (phase, bytes
 * so far, elapsed). Otherwise: a plain line when a host finishes and a summary line every few seconds.
 */
import { PROGRESS_INTERVAL_MS, PROGRESS_PLAIN_INTERVAL_MS } from './constants.ts'
import type { RunningPull } from './pull.ts'

export type HostPhase = 'waiting' | 'pulling' | 'done' | 'failed' | 'killed'

export interface ProgressRow {
  host: string
  phase: HostPhase
  bytes: number
  /** Seconds since the host's own start (at its end once it ended). */
  seconds: number
}

export interface ProgressDisplayInit {
  /** swarm / direct and the scenario, for the heading. */
  title: string
  imageBytes: number
  out?: NodeJS.WriteStream
  /** Force the plain form (tests, CI). */
  plain?: boolean
}

export class ProgressDisplay {
  private readonly init: ProgressDisplayInit
  private readonly out: NodeJS.WriteStream
  private readonly tty: boolean
  private readonly rows = new Map<string, ProgressRow>()
  private readonly pulls = new Map<string, RunningPull>()
  private timer?: NodeJS.Timeout
  private drawn = 0
  private lastPlain = 0
  private readonly started = performance.now()

  constructor (init: ProgressDisplayInit) {
    this.init = init
    this.out = init.out ?? process.stdout
    this.tty = init.plain !== true && this.out.isTTY
  }

  addHost (host: string): void {
    this.rows.set(host, { host, phase: 'waiting', bytes: 0, seconds: 0 })
  }

  pulling (pull: RunningPull): void {
    this.pulls.set(pull.host, pull)
    this.update(pull.host, { phase: 'pulling' })
  }

  ended (host: string, phase: 'done' | 'failed' | 'killed', seconds: number): void {
    this.update(host, { phase, seconds })
    if (!this.tty) this.out.write(`  ${this.init.title}: ${host} ${phase} after ${seconds.toFixed(1)} s\n`)
  }

  /** Sum of bytes every host has so far. */
  totalBytes (): number {
    let total = 0
    for (const row of this.rows.values()) total += row.bytes
    return total
  }

  start (): void {
    this.timer = setInterval(() => { void this.tick() }, PROGRESS_INTERVAL_MS)
  }

  /** Final draw; the timer stops. */
  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.tick()
    if (!this.tty) this.plainSummary()
  }

  /** Refreshes byte counts and redraws; also what churn watches. */
  async tick (): Promise<void> {
    await Promise.all([...this.pulls.values()].map(async pull => {
      const row = this.rows.get(pull.host)
      if (row == null) return
      row.bytes = Math.max(row.bytes, await pull.progressBytes())
      if (row.phase === 'pulling') row.seconds = (performance.now() - pull.startedAt) / 1000
    }))
    if (this.tty) this.draw()
    else if (performance.now() - this.lastPlain >= PROGRESS_PLAIN_INTERVAL_MS) this.plainSummary()
  }

  private update (host: string, change: Partial<ProgressRow>): void {
    const row = this.rows.get(host)
    if (row != null) Object.assign(row, change)
  }

  private draw (): void {
    const lines = [`${this.init.title} — ${((performance.now() - this.started) / 1000).toFixed(1)} s`]
    for (const row of this.rows.values()) {
      const share = Math.min(1, row.bytes / this.init.imageBytes)
      const bar = '#'.repeat(Math.round(share * 20)).padEnd(20, '.')
      lines.push(`  ${row.host.padEnd(4)} ${row.phase.padEnd(8)} [${bar}] ${mb(row.bytes).padStart(7)} / ${mb(this.init.imageBytes)} MB  ${row.seconds.toFixed(1).padStart(6)} s`)
    }
    // Up to the first line we drew last time, then each line cleared and rewritten.
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}F`)
    this.out.write(lines.map(line => `\x1b[2K${line}\n`).join(''))
    this.drawn = lines.length
  }

  private plainSummary (): void {
    this.lastPlain = performance.now()
    const counts = new Map<HostPhase, number>()
    for (const row of this.rows.values()) counts.set(row.phase, (counts.get(row.phase) ?? 0) + 1)
    const phases = [...counts].map(([phase, n]) => `${n} ${phase}`).join(', ')
    const share = this.totalBytes() / (this.init.imageBytes * Math.max(1, this.rows.size))
    this.out.write(`  ${this.init.title}: ${((performance.now() - this.started) / 1000).toFixed(0)} s, ${phases}, ${(share * 100).toFixed(0)}% of all bytes\n`)
  }
}

const mb = (bytes: number): string => (bytes / 1e6).toFixed(1)
