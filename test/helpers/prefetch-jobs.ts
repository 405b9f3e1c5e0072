import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { request } from 'undici'
import type { Digest } from '@shoal/proto'
import type { JobRequest, JobState, JobView } from '@shoal/scheduler'
import type { TestAgent } from './agent.ts'
import { waitFor } from './http.ts'
import { SHOAL_CLI, shoalEnv } from './shoal-process.ts'

/** A scheduler's admin listener and its bearer token (a SchedulerProcess is one). */
export interface AdminApi {
  admin: string
  adminToken: string
}

export function adminHeaders (api: AdminApi): Record<string, string> {
  return { authorization: `Bearer ${api.adminToken}` }
}

/** POST /jobs on a scheduler's admin listener; throws with the answer when it is not 201. */
export async function createJob (api: AdminApi, body: JobRequest): Promise<JobView> {
  const res = await request(`${api.admin}/jobs`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...adminHeaders(api) }, signal: AbortSignal.timeout(10_000) })
  const text = await res.body.text()
  if (res.statusCode !== 201) throw new Error(`POST /jobs: ${res.statusCode} ${text}`)
  return JSON.parse(text) as JobView
}

export async function getJob (api: AdminApi, id: string): Promise<JobView> {
  const res = await request(`${api.admin}/jobs/${id}`, { headers: adminHeaders(api), signal: AbortSignal.timeout(10_000) })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET /jobs/${id}: ${res.statusCode} ${text}`)
  return JSON.parse(text) as JobView
}

/** Polls the job until it is in one of `states`; the last view. */
export async function waitForJob (api: AdminApi, id: string, states: JobState[] = ['done', 'failed', 'cancelled'], timeoutMs = 60_000): Promise<JobView> {
  let last: JobView | undefined
  await waitFor(`job ${id} ${states.join('|')}`, async () => {
    last = await getJob(api, id).catch(() => last)
    return last != null && states.includes(last.state)
  }, { timeoutMs, intervalMs: 200 })
  if (last == null) throw new Error(`job ${id}: no answer`)
  return last
}

/** Bytes of blob bodies the origin sent (GETs of /v2/<name>/blobs/...), from the counting proxy's records. */
export function originBlobBytes (origin: { counts: { requests: Array<{ method: string, path: string, bytes: number }> } }): number {
  return origin.counts.requests.filter(r => r.method === 'GET' && r.path.includes('/blobs/')).reduce((sum, r) => sum + r.bytes, 0)
}

/** `shoal prefetch ARGS` as a child process (not a terminal): its exit code and output. */
export async function runPrefetchCommand (args: string[], timeoutMs = 90_000): Promise<{ code: number, stdout: string, stderr: string }> {
  const child = spawn(process.execPath, [SHOAL_CLI, 'prefetch', ...args], { env: shoalEnv(), stdio: ['ignore', 'pipe', 'pipe'], timeout: timeoutMs })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => { stderr += chunk })
  const [code] = await once(child, 'exit') as [number | null]
  return { code: code ?? -1, stdout, stderr }
}

/**
 * Whether the agents together hold every piece of the blob: whole on one of them, or in pieces
 * spread over several (a site placed by pieces).
 */
export function siteHolds (agents: TestAgent[], digest: string): boolean {
  const records = agents.flatMap(a => a.agent.store.get(digest as Digest) ?? [])
  if (records.some(r => r.state === 'complete')) return true
  const count = records[0]?.pieces.length ?? 0
  return count > 0 && Array.from({ length: count }, (_, i) => i).every(i => records.some(r => r.pieces[i] != null))
}
