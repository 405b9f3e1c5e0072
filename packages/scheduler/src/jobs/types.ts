/**
 * Prefetch jobs as the scheduler's admin API shows them (JSON). The scheduler resolves a job's images
 * through one agent of the scope (agents hold the registry credentials; the scheduler never does),
 * places each blob on agents of the scope, follows their progress, and keeps jobs in `level` so
 * that a restart resumes them.
 */

export type JobState = 'resolving' | 'running' | 'done' | 'failed' | 'cancelled'
export type TargetState = 'pending' | 'fetching' | 'done' | 'failed'

/** `one agent`, `every agent of a site`, or `every agent`. */
export type JobScope = { kind: 'agent', agent: string } | { kind: 'site', site: string } | { kind: 'all' }

/** POST /jobs body. */
export interface JobRequest {
  images: Array<{ reference: string, tags?: string }>
  /** `os/arch[/variant]`; default: the resolving agent's own */
  platforms?: string[]
  /** `agent:<peer id>`, `site:<name>` or `all` */
  scope: string
  /** copies of each blob in a site scope (default 1) */
  replicas?: number
  /** blobs one agent fetches at once (default 4) */
  concurrency?: number
  /** the job fails what is not done by then (default 1 h) */
  timeoutMs?: number
}

export interface FailureView {
  reason: string
  message: string
}

export interface TargetView {
  agent: string
  state: TargetState
  bytes: number
  error?: FailureView
}

export interface LayerView {
  digest: string
  size: number
  registry: string
  repository: string
  mediaType?: string
  targets: TargetView[]
}

export interface ImageView {
  reference: string
  manifestDigest?: string
  layers: number
  error?: FailureView
}

export interface AgentProgressView {
  agent: string
  hostName?: string
  layers: number
  done: number
  failed: number
  bytes: number
}

export interface JobView {
  id: string
  state: JobState
  scope: string
  replicas: number
  createdAt: string
  finishedAt?: string
  images: ImageView[]
  layers: LayerView[]
  agents: AgentProgressView[]
  totals: { layers: number, layersDone: number, layersFailed: number, bytes: number, bytesDone: number }
  /** why the whole job failed (no agent in scope, nothing resolved...) */
  error?: FailureView
}
