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

/**
 * How a site scope places blobs: `pieces` spreads each blob's pieces over the site's agents in
 * stripes (each agent holds about replicas / N of every blob), `blobs` puts whole blobs on
 * `replicas` agents each. Other scopes place whole blobs on every agent of the scope.
 */
export type JobSpread = 'pieces' | 'blobs'

/** POST /jobs body. */
export interface JobRequest {
  images: Array<{ reference: string, tags?: string }>
  /** `os/arch[/variant]`; default: the resolving agent's own */
  platforms?: string[]
  /** `agent:<peer id>`, `site:<name>` or `all` */
  scope: string
  /** copies of each blob (or of each piece, with spread `pieces`) in a site scope (default 1) */
  replicas?: number
  /** site scope: `pieces` (default) or `blobs` */
  spread?: JobSpread
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
  /** bytes held so far, of `size` */
  bytes: number
  /** what this agent holds of the blob: all of it, or its stripe's pieces */
  size: number
  /** placed by pieces: the pieces whose index modulo `count` is `index` */
  stripe?: { index: number, count: number }
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
  spread: JobSpread
  createdAt: string
  finishedAt?: string
  images: ImageView[]
  layers: LayerView[]
  agents: AgentProgressView[]
  totals: { layers: number, layersDone: number, layersFailed: number, bytes: number, bytesDone: number }
  /** why the whole job failed (no agent in scope, nothing resolved...) */
  error?: FailureView
}
