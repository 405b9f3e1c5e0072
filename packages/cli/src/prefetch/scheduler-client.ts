import { readFile } from 'node:fs/promises'
import { SCHEDULER_REQUEST_TIMEOUT_MS } from './constants.ts'
import { InvalidSchedulerAnswerError, JobNotFoundError, JobRejectedError, SchedulerRequestError } from './errors.ts'
import type { JobRequest, JobState, JobView } from './shared-types.ts'

const JOB_STATES: readonly JobState[] = ['resolving', 'running', 'done', 'failed', 'cancelled']

export interface SchedulerAdminClientInit {
  /** the admin API's base URL (parseSchedulerAddress) */
  url: string
  /** The admin API's bearer token; without it the scheduler answers 401. */
  token?: string
  requestTimeoutMs?: number
}

/**
 * The scheduler's admin API for prefetch jobs (`packages/scheduler/src/jobs/`): POST /jobs, GET /jobs,
 * GET /jobs/ID, DELETE /jobs/ID. Every request has a timeout and takes the caller's signal.
 */
export class SchedulerAdminClient {
  readonly url: string
  private readonly token?: string
  private readonly requestTimeoutMs: number

  constructor (init: SchedulerAdminClientInit) {
    this.url = init.url
    this.token = init.token
    this.requestTimeoutMs = init.requestTimeoutMs ?? SCHEDULER_REQUEST_TIMEOUT_MS
  }

  /** 201 with the new job; a 400 carries the scheduler's reason (a scope with no agent, a bad image...). */
  async createJob (request: JobRequest, opts: { signal?: AbortSignal } = {}): Promise<JobView> {
    return checkJobView(await this.request('POST', '/jobs', { ...opts, body: request }), 'POST /jobs')
  }

  async getJob (id: string, opts: { signal?: AbortSignal } = {}): Promise<JobView> {
    return checkJobView(await this.request('GET', jobPath(id), opts), `GET ${jobPath(id)}`)
  }

  /** Cancels the job and returns it as cancelled (or as it ended, if it had). */
  async cancelJob (id: string, opts: { signal?: AbortSignal } = {}): Promise<JobView> {
    return checkJobView(await this.request('DELETE', jobPath(id), opts), `DELETE ${jobPath(id)}`)
  }

  async listJobs (opts: { signal?: AbortSignal } = {}): Promise<JobView[]> {
    const body = await this.request('GET', '/jobs', opts) as { jobs?: unknown } | null
    if (body == null || !Array.isArray(body.jobs)) throw new InvalidSchedulerAnswerError(`GET /jobs at ${this.url}: the answer has no "jobs" list`)
    return body.jobs.map(job => checkJobView(job, 'GET /jobs'))
  }

  private async request (method: string, path: string, opts: { signal?: AbortSignal, body?: unknown }): Promise<unknown> {
    const what = `${method} ${this.url}${path}`
    const signal = opts.signal == null ? AbortSignal.timeout(this.requestTimeoutMs) : AbortSignal.any([opts.signal, AbortSignal.timeout(this.requestTimeoutMs)])
    let res: Response
    let text: string
    try {
      res = await fetch(`${this.url}${path}`, {
        method,
        signal,
        headers: { accept: 'application/json', ...(opts.body == null ? {} : { 'content-type': 'application/json' }), ...(this.token == null ? {} : { authorization: `Bearer ${this.token}` }) },
        body: opts.body == null ? undefined : JSON.stringify(opts.body)
      })
      text = await res.text()
    } catch (err) {
      if (opts.signal?.aborted === true) throw err
      const reason = (err as Error).name === 'TimeoutError' ? `no answer within ${this.requestTimeoutMs} ms` : describeFetchError(err)
      throw new SchedulerRequestError(`${what}: ${reason} (is shoal scheduler running with --admin at this address?)`, { cause: err })
    }
    if (res.status === 404 && path.startsWith('/jobs/')) throw new JobNotFoundError(`${what}: the scheduler has no job ${decodeURIComponent(path.slice('/jobs/'.length))}`)
    if (res.status === 401) {
      throw new SchedulerRequestError(`${what}: the scheduler refused ${this.token == null ? 'a request without its admin token' : 'the admin token'}: give --admin-token-file with the file shoal scheduler printed at start (or SHOAL_ADMIN_TOKEN_FILE)`)
    }
    if (res.status === 429) throw new JobRejectedError(`${what}: the scheduler takes no more jobs now: ${errorOf(text) ?? res.statusText}`)
    if (res.status === 400) throw new JobRejectedError(`${what}: the scheduler refused it: ${errorOf(text) ?? res.statusText}`)
    if (!res.ok) {
      const hint = res.status === 404 ? ' (this scheduler has no prefetch jobs API: an older version?)' : ''
      throw new SchedulerRequestError(`${what}: ${res.status} ${errorOf(text) ?? res.statusText}${hint}`)
    }
    try {
      return JSON.parse(text)
    } catch (err) {
      throw new InvalidSchedulerAnswerError(`${what}: the answer is not JSON`, { cause: err })
    }
  }
}

/**
 * The admin token in `file`; undefined when the file does not exist (the scheduler's 401 then says
 * what to give). Any other failure to read it is a SchedulerRequestError naming the file.
 */
export async function readAdminToken (file: string): Promise<string | undefined> {
  try {
    const token = (await readFile(file, 'utf8')).trim()
    return token === '' ? undefined : token
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new SchedulerRequestError(`--admin-token-file: cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
}

/** A client of the admin API at `url` with the token in `tokenFile`. */
export async function adminClient (url: string, tokenFile: string): Promise<SchedulerAdminClient> {
  return new SchedulerAdminClient({ url, token: await readAdminToken(tokenFile) })
}

function jobPath (id: string): string {
  return `/jobs/${encodeURIComponent(id)}`
}

function errorOf (text: string): string | undefined {
  try {
    const body = JSON.parse(text) as { error?: unknown }
    return typeof body.error === 'string' ? body.error : undefined
  } catch {
    return text.trim() === '' ? undefined : text.trim().slice(0, 300)
  }
}

/** undici puts the reason (ECONNREFUSED, ENOTFOUND...) in the cause of its "fetch failed". */
function describeFetchError (err: unknown): string {
  const cause = (err as { cause?: { code?: string, message?: string } }).cause
  return cause?.code ?? cause?.message ?? (err as Error).message
}

/** The fields the display and the exit status read; a scheduler that sends less is reported, not trusted. */
export function checkJobView (value: unknown, what: string): JobView {
  const v = value as Partial<JobView> | null
  const ok = v != null && typeof v === 'object' &&
    typeof v.id === 'string' && JOB_STATES.includes(v.state as JobState) && typeof v.createdAt === 'string' &&
    Array.isArray(v.images) && Array.isArray(v.layers) && Array.isArray(v.agents) &&
    v.layers.every(l => typeof l?.digest === 'string' && Array.isArray(l.targets)) &&
    v.totals != null && ['layers', 'layersDone', 'layersFailed', 'bytes', 'bytesDone'].every(k => typeof (v.totals as Record<string, unknown>)[k] === 'number')
  if (!ok) throw new InvalidSchedulerAnswerError(`${what}: the answer is not a job (id, state, images, layers, agents, totals)`)
  return v as JobView
}
