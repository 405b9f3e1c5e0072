import { failureLine } from './lines.ts'
import { elapsedText } from './lines.ts'
import { formatBytes, formatRate, percent } from './format.ts'
import { failureKey, failuresOf, progressOf } from './progress.ts'
import { RateMeter } from './rate.ts'
import type { JobView } from '../shared-types.ts'

const ESC = '\x1b['
/** Move to the start of the line and clear it. */
const CLEAR_LINE = `\r${ESC}2K`
/** Clear from the cursor to the end of the screen (lines of a longer earlier frame). */
const CLEAR_BELOW = `${ESC}J`

/** The lines of one frame: the state, a bar for bytes, layers, agents. */
export function ttyFrame (view: JobView, opts: { nowMs: number, rate: number, columns: number }): string[] {
  const p = progressOf(view)
  const barWidth = Math.max(10, Math.min(40, opts.columns - 50))
  const filled = p.bytes <= 0 ? 0 : Math.round(Math.min(1, p.bytesDone / p.bytes) * barWidth)
  const bar = '█'.repeat(filled) + '░'.repeat(barWidth - filled)
  const rate = p.state === 'running' && opts.rate > 0 ? `  ${formatRate(opts.rate)}` : ''
  const images = p.imagesFailed > 0 ? `  images ${p.imagesFailed} failed of ${p.images}` : ''
  return [
    `prefetch ${view.id}  ${p.state}  ${elapsedText(view, opts.nowMs)}${images}`,
    `  bytes   ${bar} ${percent(p.bytesDone, p.bytes)}  ${formatBytes(p.bytesDone)} / ${formatBytes(p.bytes)}${rate}`,
    `  layers  ${p.layersDone} done  ${p.layersFailed} failed  ${p.layers} total`,
    `  agents  ${p.agentsDone} done  ${p.agentsFailed} failed  ${p.agents} total`
  ].map(line => truncate(line, opts.columns))
}

function truncate (line: string, columns: number): string {
  // a line as wide as the terminal wraps on some terminals and breaks the cursor-up count
  const max = Math.max(20, columns - 1)
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`
}

/**
 * Progress in a terminal: the frame is redrawn in place (cursor up, clear each line, one write per
 * frame, so nothing flickers); each failure is printed once above it and scrolls away with the log.
 */
export class TtyProgress {
  private readonly rate = new RateMeter()
  private readonly seen = new Set<string>()
  private drawn = 0

  /** The text to write for this view: failure lines, then the frame over the previous one. */
  update (view: JobView, opts: { nowMs: number, columns: number }): string {
    const above = failuresOf(view).filter(f => !this.seen.has(failureKey(f)))
    for (const f of above) this.seen.add(failureKey(f))
    const frame = ttyFrame(view, { ...opts, rate: this.rate.sample(opts.nowMs, view.totals.bytesDone) })
    const up = this.drawn > 0 ? `${ESC}${this.drawn}A` : ''
    this.drawn = frame.length
    return up + [...above.map(f => failureLine(view, f)), ...frame].map(line => `${CLEAR_LINE}${line}\n`).join('') + CLEAR_BELOW
  }
}
