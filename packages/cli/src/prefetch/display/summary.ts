import { EXIT_FAILED, EXIT_OK } from '../constants.ts'
import { formatBytes } from './format.ts'
import { elapsedText, failureLine } from './lines.ts'
import { failuresOf, progressOf } from './progress.ts'
import type { Failure } from './progress.ts'
import type { JobView } from '../shared-types.ts'

/** 0 when nothing failed and the job was neither failed nor cancelled (a running job counts as such); else 1. */
export function exitCodeOf (view: JobView): number {
  if (view.state === 'failed' || view.state === 'cancelled') return EXIT_FAILED
  return failuresOf(view).length === 0 ? EXIT_OK : EXIT_FAILED
}

/** The human summary at the end: one line of totals, then every failure with its reason and message. */
export function summaryLines (view: JobView, nowMs: number): string[] {
  const p = progressOf(view)
  const agents = `${p.agents} agent${p.agents === 1 ? '' : 's'}`
  const images = `${p.images} image${p.images === 1 ? '' : 's'}`
  const lines = [
    `prefetch ${view.id}: ${view.state} after ${elapsedText(view, nowMs)}: ${images}, ${p.layers} layers (${formatBytes(p.bytes)}) on ${agents}: ` +
    `${p.layersDone} done, ${p.layersFailed} failed, ${formatBytes(p.bytesDone)} fetched`
  ]
  const failures = failuresOf(view)
  if (failures.length > 0) {
    lines.push(`${failures.length} failure${failures.length === 1 ? '' : 's'}:`)
    for (const f of failures) lines.push(`  ${failureLine(view, f)}`)
  }
  return lines
}

/** What --json prints: the job as the scheduler shows it, and what the exit status and failure list derive from it. */
export interface JsonSummary {
  ok: boolean
  exitCode: number
  failures: Failure[]
  job: JobView
}

export function jsonSummary (view: JobView, exitCode = exitCodeOf(view)): JsonSummary {
  return { ok: exitCode === EXIT_OK, exitCode, failures: failuresOf(view), job: view }
}
