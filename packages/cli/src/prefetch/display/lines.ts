import { formatBytes, formatElapsed, formatRate, percent, shortDigest } from './format.ts'
import type { Failure, JobProgress } from './progress.ts'
import type { JobView } from '../shared-types.ts'

/** The texts the displays and the summary share. */

/** An agent as people know it: its host name when the scheduler knows it, else its id (or URL). */
export function agentLabel (view: JobView, agent: string): string {
  const host = view.agents.find(a => a.agent === agent)?.hostName
  return host == null || host === '' ? agent : `${host} (${agent})`
}

export function failureLine (view: JobView, failure: Failure): string {
  const why = `${failure.error.reason}: ${failure.error.message}`
  switch (failure.kind) {
    case 'job': return `job ${view.id} failed: ${why}`
    case 'image': return `image ${failure.reference} failed: ${why}`
    case 'layer': {
      const where = failure.registry === '' ? failure.repository : `${failure.registry}/${failure.repository}`
      return `layer ${shortDigest(failure.digest)} of ${where} failed on ${agentLabel(view, failure.agent)}: ${why}`
    }
  }
}

/** One line of progress, as the plain display prints it. */
export function progressLine (view: JobView, p: JobProgress, rate: number): string {
  return `prefetch ${view.id}: ${p.state}` +
    `, ${formatBytes(p.bytesDone)} of ${formatBytes(p.bytes)} (${percent(p.bytesDone, p.bytes).trim()})` +
    (rate > 0 && p.state === 'running' ? ` at ${formatRate(rate)}` : '') +
    `, layers ${p.layersDone} done ${p.layersFailed} failed of ${p.layers}` +
    `, agents ${p.agentsDone} done ${p.agentsFailed} failed of ${p.agents}` +
    (p.imagesFailed > 0 ? `, images ${p.imagesFailed} failed of ${p.images}` : '')
}

export function elapsedOf (view: JobView, nowMs: number): number {
  const start = Date.parse(view.createdAt)
  const end = view.finishedAt == null ? nowMs : Date.parse(view.finishedAt)
  return Number.isFinite(start) && Number.isFinite(end) ? end - start : 0
}

export function elapsedText (view: JobView, nowMs: number): string {
  return formatElapsed(elapsedOf(view, nowMs))
}
