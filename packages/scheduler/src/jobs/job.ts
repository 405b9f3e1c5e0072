import { stripeBytes } from '@shoal/proto'
import type { PieceStripe } from '@shoal/proto'
import type { PeerKey } from '../types.ts'
import type { ParsedJobRequest } from './job-request.ts'
import { scopeText } from './job-request.ts'
import type { FailureView, JobState, JobView, TargetState } from './types.ts'

/** One agent's copy of one blob, or of a stripe of its pieces. */
export interface TargetRecord {
  agent: PeerKey
  state: TargetState
  bytes: number
  /** placement by pieces: only these pieces (none: the whole blob) */
  stripe?: PieceStripe
  error?: FailureView
  /** agents this copy was given to before (site scope: a copy moves on when its agent fails or leaves) */
  tried: PeerKey[]
}

export interface LayerRecord {
  digest: string
  size: number
  registry: string
  repository: string
  mediaType?: string
  targets: TargetRecord[]
}

export interface ImageRecord {
  reference: string
  manifestDigest?: string
  layers: number
  error?: FailureView
}

/** A job as it is stored (JSON in level) and changed by the runner. */
export interface JobRecord {
  id: string
  request: ParsedJobRequest
  state: JobState
  createdAt: number
  deadline: number
  finishedAt?: number
  images: ImageRecord[]
  layers: LayerRecord[]
  error?: FailureView
  /** created with an Authorization of its own (the value itself is never stored) */
  ownCredentials?: boolean
}

export const TERMINAL_JOB_STATES: ReadonlySet<JobState> = new Set(['done', 'failed', 'cancelled'])

export function isTerminalTarget (target: TargetRecord): boolean {
  return target.state === 'done' || target.state === 'failed'
}

/** The bytes a target holds when done: its stripe's, or the whole blob's. */
export function targetSize (layer: Pick<LayerRecord, 'size'>, target: Pick<TargetRecord, 'stripe'>): number {
  return target.stripe == null ? layer.size : stripeBytes(layer.size, target.stripe)
}

/** The admin API's view of a job; host names come from the agents connected now. */
export function jobView (job: JobRecord, hostName: (agent: PeerKey) => string | undefined): JobView {
  const agents = new Map<PeerKey, { layers: number, done: number, failed: number, bytes: number }>()
  let layersDone = 0
  let layersFailed = 0
  let bytes = 0
  let bytesDone = 0
  for (const layer of job.layers) {
    // An agent counts a layer once, however many of its stripes it holds (one moved to it).
    const byAgent = new Map<PeerKey, TargetRecord[]>()
    for (const target of layer.targets) {
      byAgent.set(target.agent, [...byAgent.get(target.agent) ?? [], target])
      const size = targetSize(layer, target)
      bytes += size
      bytesDone += Math.min(target.bytes, size)
    }
    for (const [agent, shares] of byAgent) {
      const entry = agents.get(agent) ?? { layers: 0, done: 0, failed: 0, bytes: 0 }
      entry.layers++
      if (shares.every(t => t.state === 'done')) entry.done++
      if (shares.some(t => t.state === 'failed')) entry.failed++
      entry.bytes += shares.reduce((sum, t) => sum + t.bytes, 0)
      agents.set(agent, entry)
    }
    if (layer.targets.length > 0 && layer.targets.every(t => t.state === 'done')) layersDone++
    else if (layer.targets.some(t => t.state === 'failed') && layer.targets.every(isTerminalTarget)) layersFailed++
  }
  return {
    id: job.id,
    state: job.state,
    scope: scopeText(job.request.scope),
    replicas: job.request.replicas,
    spread: job.request.spread ?? 'blobs',
    createdAt: new Date(job.createdAt).toISOString(),
    finishedAt: job.finishedAt == null ? undefined : new Date(job.finishedAt).toISOString(),
    images: job.images.map(image => ({ ...image })),
    layers: job.layers.map(layer => ({ ...layer, targets: layer.targets.map(({ agent, state, bytes, error, stripe }) => ({ agent, state, bytes, size: targetSize(layer, { stripe }), stripe: stripe == null ? undefined : { ...stripe }, error })) })),
    agents: [...agents].map(([agent, entry]) => ({ agent, hostName: hostName(agent), ...entry })),
    totals: { layers: job.layers.length, layersDone, layersFailed, bytes, bytesDone },
    error: job.error
  }
}
