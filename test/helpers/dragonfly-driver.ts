import { request } from 'undici'

/**
 * Harbor's "Dragonfly" P2P preheat driver, as far as the wire goes (src/pkg/p2p/preheat/provider in
 * Harbor): the instance's endpoint with the path appended, the instance credential (OAUTH mode:
 * `Authorization: Bearer <token>`) on every call, GETs with `Accept: application/json`, POSTs with
 * `Content-Type` and `Accept: application/json`, a non-2xx answer an error carrying the body.
 */
export interface DragonflyInstance {
  /** e.g. `http://127.0.0.1:PORT` or `http://127.0.0.1:PORT/sites/edge` */
  endpoint: string
  /** the instance's auth_info.token; none for auth_mode NONE */
  token?: string
}

export interface DriverAnswer<T> { status: number, body: T, text: string }

async function call<T> (instance: DragonflyInstance, method: 'GET' | 'POST', path: string, body?: unknown): Promise<DriverAnswer<T>> {
  const headers: Record<string, string> = { accept: 'application/json' }
  if (body !== undefined) headers['content-type'] = 'application/json'
  if (instance.token != null) headers.authorization = `Bearer ${instance.token}`
  const res = await request(`${instance.endpoint.replace(/\/$/, '')}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), signal: AbortSignal.timeout(30_000) })
  const text = await res.body.text()
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    parsed = undefined
  }
  return { status: res.statusCode, body: parsed as T, text }
}

/** The job object fields Harbor 2.12+ reads from Dragonfly's manager. */
export interface OpenApiJob {
  id: number
  created_at: string
  updated_at: string
  state: string
  result: { job_states: Array<{ error: string, results: Array<{ scheduler_cluster_id: number, success_tasks: Array<{ url: string, hostname: string, ip: string }>, failure_tasks: Array<{ url: string, hostname: string, ip: string, description: string }> }> }> }
}

/** Harbor 2.12+: `GET /healthy`. */
export async function healthy (instance: DragonflyInstance): Promise<DriverAnswer<unknown>> {
  return await call(instance, 'GET', '/healthy')
}

/**
 * Harbor 2.13+'s `POST /oapi/v1/jobs`: every key present (Go structs without omitempty), the image
 * by tag, the pull token in args.headers, cluster ids from the policy (null when none).
 */
export async function createOpenApiJob (instance: DragonflyInstance, opts: { url: string, pullToken: string, scope?: string, clusterIds?: number[] }): Promise<DriverAnswer<OpenApiJob>> {
  return await call(instance, 'POST', '/oapi/v1/jobs', {
    type: 'preheat',
    args: { type: 'image', url: opts.url, tag: '', filtered_query_params: '', headers: { Authorization: `Bearer ${opts.pullToken}` }, scope: opts.scope ?? '', concurrent_count: 0, timeout: 0 },
    scheduler_cluster_ids: opts.clusterIds ?? null
  })
}

export async function getOpenApiJob (instance: DragonflyInstance, id: number): Promise<DriverAnswer<OpenApiJob>> {
  return await call(instance, 'GET', `/oapi/v1/jobs/${id}`)
}

/** Harbor 2.1-2.11: `GET /_ping`. */
export async function ping (instance: DragonflyInstance): Promise<DriverAnswer<unknown>> {
  return await call(instance, 'GET', '/_ping')
}

/** Harbor 2.1-2.11's `POST /preheats`: its whole PreheatImage object. */
export async function createPreheat (instance: DragonflyInstance, opts: { url: string, pullToken: string, image: string, tag: string, digest: string }): Promise<DriverAnswer<{ ID: string }>> {
  return await call(instance, 'POST', '/preheats', { type: 'image', url: opts.url, headers: { Authorization: `Bearer ${opts.pullToken}` }, image: opts.image, tag: opts.tag, digest: opts.digest })
}

export async function getPreheat (instance: DragonflyInstance, id: string): Promise<DriverAnswer<{ ID: string, status: string, startTime: string, finishTime: string, errorMsg: string }>> {
  return await call(instance, 'GET', `/preheats/${id}`)
}

/**
 * Polls a job as Harbor's preheat job does (it reads state until it is not pending; every 10 s in
 * Harbor, faster here): every answer in order. Throws on a non-2xx answer, as Harbor fails the job.
 */
export async function pollUntilSettled<T> (poll: () => Promise<DriverAnswer<T>>, settled: (body: T) => boolean, timeoutMs = 30_000): Promise<T[]> {
  const seen: T[] = []
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    const answer = await poll()
    if (answer.status < 200 || answer.status > 299) throw new Error(`poll answered ${answer.status}: ${answer.text}`)
    seen.push(answer.body)
    if (settled(answer.body)) return seen
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  throw new Error(`not settled within ${timeoutMs} ms: last ${JSON.stringify(seen.at(-1))}`)
}
