import type { IncomingMessage, ServerResponse } from 'node:http'
import { isPlacementLabel } from '@shoal/proto'
import { readBody, sendJson } from '../admin-http.ts'
import type { JobAdmission } from '../jobs/admission.ts'
import type { PrefetchJobs } from '../jobs/prefetch-jobs.ts'
import type { JobView } from '../jobs/types.ts'
import type { PreheatConfig } from './config.ts'
import { parseOpenApiJob, parseSupernodePreheat, preheatJob } from './dragonfly-request.ts'
import type { PreheatInput } from './dragonfly-request.ts'
import { dragonflyId, jobIdOf, openApiJob, supernodeStatus } from './dragonfly-view.ts'
import type { AgentHost } from './dragonfly-view.ts'

const MAX_BODY_BYTES = 64 * 1024
/** `[/sites/NAME]` then a Dragonfly route; the prefix is the site of every job made through it. */
const ROUTE = /^(?:\/sites\/([^/]+))?(\/healthy|\/_ping|\/oapi\/v1\/jobs|\/preheats)(?:\/([^/]+))?\/?$/

export interface PreheatRoutes {
  jobs: PrefetchJobs
  admission: JobAdmission
  config: PreheatConfig
  /** Host name and IP of a connected agent, for Dragonfly's per-task results. */
  host: (agent: string) => AgentHost
}

/**
 * Dragonfly's preheat API on the admin listener, so that Harbor's "Dragonfly" P2P provider drives
 * shoal's prefetch jobs: Dragonfly 2's manager open API (`GET /healthy`, `POST /oapi/v1/jobs`,
 * `GET /oapi/v1/jobs/{id}`; Harbor 2.12+) and Dragonfly 1's (`GET /_ping`, `POST /preheats`,
 * `GET /preheats/{id}`; Harbor 2.1-2.11), each also under `/sites/NAME`. A request that cannot be
 * a job is a 422 naming the field and stores nothing. The caller has checked the admin token.
 * Returns false for other paths.
 */
export function handlePreheatRoute (routes: PreheatRoutes, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const match = ROUTE.exec(path)
  if (match == null) return false
  const [, siteText, route, id] = match
  void (async () => {
    try {
      const site = siteText == null ? undefined : decodeURIComponent(siteText)
      if (site != null && !isPlacementLabel(site)) {
        sendJson(res, 404, { message: `"${site.slice(0, 40)}" is not a site name` })
      } else if ((route === '/healthy' || route === '/_ping') && id == null && (req.method === 'GET' || req.method === 'HEAD')) {
        sendJson(res, 200, 'OK')
      } else if ((route === '/oapi/v1/jobs' || route === '/preheats') && id == null && req.method === 'POST') {
        await create(routes, req, res, route, site)
      } else if ((route === '/oapi/v1/jobs' || route === '/preheats') && id != null && req.method === 'GET') {
        const job = find(routes.jobs, id)
        if (job == null) sendJson(res, 404, { message: `no job ${id.slice(0, 20)}` })
        else sendJson(res, 200, route === '/preheats' ? supernodeStatus(job) : openApiJob(job, routes.host))
      } else {
        res.setHeader('allow', id == null && route !== '/healthy' && route !== '/_ping' ? 'POST' : 'GET')
        sendJson(res, 405, { message: `${req.method ?? ''} is not allowed on ${path}` })
      }
    } catch (err) {
      const name = (err as Error).name
      const status = name === 'BodyTooLargeError' ? 413 : name === 'JobRequestError' ? 422 : err instanceof SyntaxError ? 400 : 500
      sendJson(res, status, { errors: status === 400 ? `the body is not JSON: ${(err as Error).message}` : (err as Error).message })
    }
  })()
  return true
}

async function create (routes: PreheatRoutes, req: IncomingMessage, res: ServerResponse, route: string, site: string | undefined): Promise<void> {
  const body: unknown = JSON.parse(await readBody(req, MAX_BODY_BYTES, 'a preheat request'))
  const input: PreheatInput = route === '/preheats' ? parseSupernodePreheat(body) : parseOpenApiJob(body)
  const { request, authorization } = preheatJob(input, { site, config: routes.config })
  const admitted = routes.admission.admit(routes.jobs.activeCount())
  if (!admitted.ok) {
    res.setHeader('retry-after', String(admitted.retryAfterSeconds))
    sendJson(res, 429, { errors: admitted.why })
    return
  }
  const job = await routes.jobs.create(request, { authorization })
  if (route === '/preheats') sendJson(res, 200, { ID: String(dragonflyId(job.id)) })
  else sendJson(res, 200, openApiJob(job, routes.host))
}

function find (jobs: PrefetchJobs, dragonfly: string): JobView | undefined {
  const id = jobIdOf(dragonfly)
  if (id == null) return undefined
  try {
    return jobs.view(id)
  } catch (err) {
    if ((err as Error).name === 'UnknownJobError') return undefined
    throw err
  }
}
