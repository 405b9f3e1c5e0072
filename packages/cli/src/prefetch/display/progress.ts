import type { FailureView, JobState, JobView } from '../shared-types.ts'

/** What the display shows of a job at one moment, derived from its view alone. */
export interface JobProgress {
  state: JobState
  bytes: number
  bytesDone: number
  layers: number
  layersDone: number
  layersFailed: number
  agents: number
  /** agents whose layers all ended, none failed */
  agentsDone: number
  /** agents whose layers all ended, some failed */
  agentsFailed: number
  images: number
  imagesFailed: number
}

export const TERMINAL_STATES: readonly JobState[] = ['done', 'failed', 'cancelled']

export function isTerminal (state: JobState): boolean {
  return TERMINAL_STATES.includes(state)
}

export function progressOf (view: JobView): JobProgress {
  const ended = view.agents.filter(a => a.layers > 0 && a.done + a.failed >= a.layers)
  return {
    state: view.state,
    bytes: view.totals.bytes,
    bytesDone: view.totals.bytesDone,
    layers: view.totals.layers,
    layersDone: view.totals.layersDone,
    layersFailed: view.totals.layersFailed,
    agents: view.agents.length,
    agentsDone: ended.filter(a => a.failed === 0).length,
    agentsFailed: ended.filter(a => a.failed > 0).length,
    images: view.images.length,
    imagesFailed: view.images.filter(i => i.error != null).length
  }
}

/** One thing that went wrong, as the summary and the failure lines name it. */
export type Failure =
  | { kind: 'job', error: FailureView }
  | { kind: 'image', reference: string, error: FailureView }
  | { kind: 'layer', digest: string, repository: string, registry: string, agent: string, error: FailureView }

/** Every failure in a view: the job's own, then images, then layers per agent. */
export function failuresOf (view: JobView): Failure[] {
  const failures: Failure[] = []
  if (view.error != null) failures.push({ kind: 'job', error: view.error })
  for (const image of view.images) {
    if (image.error != null) failures.push({ kind: 'image', reference: image.reference, error: image.error })
  }
  for (const layer of view.layers) {
    for (const target of layer.targets) {
      if (target.state === 'failed') {
        failures.push({
          kind: 'layer',
          digest: layer.digest,
          repository: layer.repository,
          registry: layer.registry,
          agent: target.agent,
          error: target.error ?? { reason: 'failed', message: 'no reason given' }
        })
      }
    }
  }
  return failures
}

/** A key that tells failures apart across views (a layer fails once per agent). */
export function failureKey (failure: Failure): string {
  switch (failure.kind) {
    case 'job': return 'job'
    case 'image': return `image ${failure.reference}`
    case 'layer': return `layer ${failure.digest} ${failure.agent}`
  }
}
