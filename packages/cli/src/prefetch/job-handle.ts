import type { JobView } from './shared-types.ts'

/**
 * A running prefetch job, whoever runs it: the scheduler (scheduler-backend.ts) or this process
 * through one agent (agent-backend.ts). The watcher reads it every `pollIntervalMs` until its state is
 * done, failed or cancelled.
 */
export interface PrefetchJobHandle {
  readonly id: string
  readonly pollIntervalMs: number
  view: (opts: { signal?: AbortSignal }) => Promise<JobView>
  /** Cancels the job and returns its view once the cancel took effect. */
  cancel: (opts: { signal?: AbortSignal }) => Promise<JobView>
}
