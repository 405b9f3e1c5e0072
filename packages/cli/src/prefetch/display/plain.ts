import { PLAIN_LINE_INTERVAL_MS } from '../constants.ts'
import { failureLine, progressLine } from './lines.ts'
import { failureKey, failuresOf, progressOf } from './progress.ts'
import { RateMeter } from './rate.ts'
import type { JobView } from '../shared-types.ts'

/**
 * Progress for a log or a pipe: a line when the progress changed, at most one every `intervalMs`,
 * and a line for each failure as soon as it is seen. Pure: views and times in, lines out.
 */
export class PlainProgress {
  private readonly intervalMs: number
  private readonly rate = new RateMeter()
  private readonly seen = new Set<string>()
  private lastKey?: string
  private lastAt?: number

  constructor (init: { intervalMs?: number } = {}) {
    this.intervalMs = init.intervalMs ?? PLAIN_LINE_INTERVAL_MS
  }

  /** The lines to print for this view. */
  update (view: JobView, nowMs: number): string[] {
    return this.lines(view, nowMs, false)
  }

  /** The lines to print for the last view: failures not yet shown and the progress line if it changed, whenever the last was. */
  finish (view: JobView, nowMs: number): string[] {
    return this.lines(view, nowMs, true)
  }

  private lines (view: JobView, nowMs: number, final: boolean): string[] {
    const lines: string[] = []
    for (const failure of failuresOf(view)) {
      const key = failureKey(failure)
      if (this.seen.has(key)) continue
      this.seen.add(key)
      lines.push(failureLine(view, failure))
    }
    const p = progressOf(view)
    const rate = this.rate.sample(nowMs, p.bytesDone)
    const key = [p.state, p.bytesDone, p.layersDone, p.layersFailed, p.layers, p.agentsDone, p.agentsFailed, p.agents, p.imagesFailed].join(' ')
    const due = this.lastAt == null || nowMs - this.lastAt >= this.intervalMs
    if (key !== this.lastKey && (due || final)) {
      lines.push(progressLine(view, p, rate))
      this.lastKey = key
      this.lastAt = nowMs
    }
    return lines
  }
}
