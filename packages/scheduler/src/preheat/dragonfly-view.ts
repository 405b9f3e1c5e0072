import type { JobView } from '../jobs/types.ts'

/**
 * A shoal job in Dragonfly's shapes. Dragonfly's job ids are numbers (Harbor decodes `id` into an
 * integer): a shoal job id is 12 hex digits (48 random bits), so its number is the same id, and
 * every job is reachable under both names with nothing more stored.
 */

export interface AgentHost { hostname: string, ip: string }

export interface DragonflyTask { url: string, hostname: string, ip: string }

export interface DragonflyJob {
  id: number
  created_at: string
  updated_at: string
  is_del: 0
  task_id: string
  bio: string
  type: 'preheat'
  state: 'PENDING' | 'SUCCESS' | 'FAILURE'
  args: { type: 'image', reference: string, scope: string }
  result: {
    state: DragonflyJob['state']
    created_at: string
    updated_at: string
    job_states: Array<{
      task_name: 'preheat'
      state: DragonflyJob['state']
      error: string
      created_at: string
      results: Array<{
        scheduler_cluster_id: number
        success_tasks: DragonflyTask[]
        failure_tasks: Array<DragonflyTask & { description: string }>
      }>
    }>
  }
  scheduler_clusters: []
}

const JOB_ID = /^[0-9a-f]{12}$/

/** The number Dragonfly's API names a shoal job by; undefined for an id that has none. */
export function dragonflyId (jobId: string): number | undefined {
  return JOB_ID.test(jobId) ? Number.parseInt(jobId, 16) : undefined
}

/** The shoal job id of a Dragonfly id (decimal digits); undefined when it cannot be one. */
export function jobIdOf (dragonfly: string): string | undefined {
  if (!/^\d{1,15}$/.test(dragonfly)) return undefined
  const n = Number(dragonfly)
  return n < 2 ** 48 ? n.toString(16).padStart(12, '0') : undefined
}

/** Only PENDING, SUCCESS and FAILURE: Harbor fails a job at once on any other state. */
export function dragonflyState (job: JobView): DragonflyJob['state'] {
  return job.state === 'done' ? 'SUCCESS' : job.state === 'failed' || job.state === 'cancelled' ? 'FAILURE' : 'PENDING'
}

/** Dragonfly 2's job object (`GET /oapi/v1/jobs/{id}`): state, and per blob copy the agents that hold it or failed. */
export function openApiJob (job: JobView, host: (agent: string) => AgentHost): DragonflyJob {
  const state = dragonflyState(job)
  const updated = job.finishedAt ?? job.createdAt
  const success: DragonflyTask[] = []
  const failure: Array<DragonflyTask & { description: string }> = []
  for (const layer of job.layers) {
    const url = `${layer.registry}/v2/${layer.repository}/blobs/${layer.digest}`
    for (const target of layer.targets) {
      if (target.state === 'done') success.push({ url, ...host(target.agent) })
      if (target.state === 'failed') failure.push({ url, ...host(target.agent), description: target.error == null ? 'failed' : `${target.error.reason}: ${target.error.message}` })
    }
  }
  return {
    id: dragonflyId(job.id) ?? 0,
    created_at: job.createdAt,
    updated_at: updated,
    is_del: 0,
    task_id: job.id,
    bio: '',
    type: 'preheat',
    state,
    args: { type: 'image', reference: job.images[0]?.reference ?? '', scope: job.scope },
    result: {
      state,
      created_at: job.createdAt,
      updated_at: updated,
      job_states: [{
        task_name: 'preheat',
        state,
        error: state === 'FAILURE' ? failureText(job) : '',
        created_at: job.createdAt,
        results: [{ scheduler_cluster_id: 0, success_tasks: success, failure_tasks: failure }]
      }]
    },
    scheduler_clusters: []
  }
}

/** Dragonfly 1's preheat status (`GET /preheats/{id}`): WAITING, RUNNING, SUCCESS or FAILED. */
export function supernodeStatus (job: JobView): { ID: string, status: string, startTime: string, finishTime: string, errorMsg: string } {
  const status = job.state === 'resolving' ? 'WAITING' : job.state === 'running' ? 'RUNNING' : job.state === 'done' ? 'SUCCESS' : 'FAILED'
  return { ID: String(dragonflyId(job.id) ?? 0), status, startTime: job.createdAt, finishTime: job.finishedAt ?? '', errorMsg: status === 'FAILED' ? failureText(job) : '' }
}

/** Why a job failed, in one line: the job's own error, each image's, then the failed copies. */
export function failureText (job: JobView): string {
  const parts: string[] = []
  if (job.error != null) parts.push(`${job.error.reason}: ${job.error.message}`)
  for (const image of job.images) if (image.error != null) parts.push(`${image.reference}: ${image.error.reason}: ${image.error.message}`)
  const failed = job.layers.flatMap(l => l.targets.filter(t => t.state === 'failed').map(t => ({ digest: l.digest, error: t.error })))
  if (failed.length > 0) parts.push(`${failed.length} blob cop${failed.length === 1 ? 'y' : 'ies'} failed, first ${failed[0]?.digest ?? ''}: ${failed[0]?.error?.reason ?? 'failed'}: ${failed[0]?.error?.message ?? ''}`)
  return parts.length > 0 ? parts.join('; ') : `the job ended ${job.state}`
}
