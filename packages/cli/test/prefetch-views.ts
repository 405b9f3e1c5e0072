import type { JobView, LayerView, TargetState } from '../src/prefetch/shared-types.ts'

/** JobViews for the display tests, built as the scheduler shows a job: layers with targets, totals summed from them. */

export interface LayerSpec {
  digest: string
  size: number
  targets: Array<{ agent: string, state: TargetState, bytes: number, error?: { reason: string, message: string } }>
}

export function digestOf (n: number): string {
  return `sha256:${n.toString(16).padStart(64, '0')}`
}

export function jobView (opts: { id?: string, state: JobView['state'], layers: LayerSpec[], agents?: string[], images?: JobView['images'], error?: JobView['error'], finishedAt?: string }): JobView {
  const layers: LayerView[] = opts.layers.map(l => ({ digest: l.digest, size: l.size, registry: 'registry.example:5000', repository: 'team/app', targets: l.targets.map(t => ({ ...t, size: l.size })) }))
  const targets = layers.flatMap(l => l.targets)
  const agents = opts.agents ?? [...new Set(targets.map(t => t.agent))]
  return {
    id: opts.id ?? 'job-1',
    state: opts.state,
    scope: 'all',
    replicas: 1,
    spread: 'blobs',
    createdAt: '2025-01-01T00:00:00.000Z',
    ...(opts.finishedAt == null ? {} : { finishedAt: opts.finishedAt }),
    images: opts.images ?? [{ reference: 'registry.example:5000/team/app:v1', layers: layers.length }],
    layers,
    agents: agents.map(agent => {
      const mine = targets.filter(t => t.agent === agent)
      return {
        agent,
        layers: mine.length,
        done: mine.filter(t => t.state === 'done').length,
        failed: mine.filter(t => t.state === 'failed').length,
        bytes: mine.reduce((s, t) => s + t.bytes, 0)
      }
    }),
    totals: {
      layers: targets.length,
      layersDone: targets.filter(t => t.state === 'done').length,
      layersFailed: targets.filter(t => t.state === 'failed').length,
      bytes: targets.reduce((s, t) => s + t.size, 0),
      bytesDone: targets.reduce((s, t) => s + t.bytes, 0)
    },
    ...(opts.error == null ? {} : { error: opts.error })
  }
}
