import { SCHEDULER_POLL_INTERVAL_MS } from './constants.ts'
import { scopeOnWire } from './values.ts'
import type { SchedulerAdminClient } from './scheduler-client.ts'
import type { PrefetchJobHandle } from './job-handle.ts'
import type { ImageRequest, JobRequest, JobView } from './shared-types.ts'
import type { ScopeArg } from './values.ts'

export interface JobRequestInit {
  images: ImageRequest[]
  platforms: string[]
  scope: ScopeArg
  replicas?: number
  spread?: 'pieces' | 'blobs'
  concurrency?: number
  timeoutMs?: number
}

/** The POST /jobs body: what the operator did not give is left out, so the scheduler's defaults apply. */
export function jobRequestOf (init: JobRequestInit): JobRequest {
  return {
    images: init.images.map(i => i.tags == null ? { reference: i.reference } : { reference: i.reference, tags: i.tags }),
    scope: scopeOnWire(init.scope),
    ...(init.platforms.length > 0 ? { platforms: init.platforms } : {}),
    ...(init.replicas != null ? { replicas: init.replicas } : {}),
    ...(init.spread != null ? { spread: init.spread } : {}),
    ...(init.concurrency != null ? { concurrency: init.concurrency } : {}),
    ...(init.timeoutMs != null ? { timeoutMs: init.timeoutMs } : {})
  }
}

/** A job of the scheduler, read through its admin API. */
export function schedulerJob (client: SchedulerAdminClient, id: string): PrefetchJobHandle {
  return {
    id,
    pollIntervalMs: SCHEDULER_POLL_INTERVAL_MS,
    view: async opts => client.getJob(id, opts),
    cancel: async opts => client.cancelJob(id, opts)
  }
}

/** Submits the job; the view the scheduler answers with is the first the display shows. */
export async function submitJob (client: SchedulerAdminClient, request: JobRequest, opts: { signal?: AbortSignal } = {}): Promise<{ handle: PrefetchJobHandle, view: JobView }> {
  const view = await client.createJob(request, opts)
  return { handle: schedulerJob(client, view.id), view }
}
