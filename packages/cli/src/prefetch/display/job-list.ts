import { formatBytes } from './format.ts'
import type { JobView } from '../shared-types.ts'

/** `shoal prefetch jobs`: one line a job, newest last. */
export function jobListLines (jobs: JobView[]): string[] {
  if (jobs.length === 0) return ['no prefetch jobs']
  const rows = [...jobs].sort((a, b) => a.createdAt.localeCompare(b.createdAt)).map(job => [
    job.id,
    job.state,
    job.scope,
    `${job.totals.layersDone}/${job.totals.layers}${job.totals.layersFailed > 0 ? ` (${job.totals.layersFailed} failed)` : ''}`,
    `${formatBytes(job.totals.bytesDone)} / ${formatBytes(job.totals.bytes)}`,
    job.createdAt
  ])
  const header = ['JOB', 'STATE', 'SCOPE', 'LAYERS', 'BYTES', 'CREATED']
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map(r => (r[i] ?? '').length)))
  return [header, ...rows].map(r => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)).join('  '))
}
