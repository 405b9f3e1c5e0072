import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody as readCapped, sendJson as send } from '../admin-http.ts'
import { parseJobRequest } from './job-request.ts'
import type { JobAdmission } from './admission.ts'
import type { PrefetchJobs } from './prefetch-jobs.ts'

const MAX_BODY_BYTES = 1024 * 1024

/**
 * The prefetch jobs on the admin listener: POST /jobs (a JobRequest; 201 and the JobView),
 * GET /jobs, GET /jobs/<id>, DELETE /jobs/<id> (cancel). Errors are `{ "error": "..." }` with 400,
 * 404, 405, 413 or 429 (past the admission limits, with Retry-After). The caller has checked the
 * admin token. Returns false for a path that is not under /jobs.
 */
export function handleJobRoute (jobs: PrefetchJobs, admission: JobAdmission, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  const match = /^\/jobs(?:\/([^/]+))?\/?$/.exec(path)
  if (match == null) return false
  const id = match[1]
  void (async () => {
    try {
      if (id == null && req.method === 'POST') {
        const request = parseJobRequest(JSON.parse(await readBody(req)))
        const admitted = admission.admit(jobs.activeCount())
        if (!admitted.ok) {
          res.setHeader('retry-after', String(admitted.retryAfterSeconds))
          send(res, 429, { error: admitted.why })
          return
        }
        send(res, 201, await jobs.create(request))
      } else if (id == null && req.method === 'GET') {
        send(res, 200, { jobs: jobs.list() })
      } else if (id != null && req.method === 'GET') {
        send(res, 200, jobs.view(id))
      } else if (id != null && req.method === 'DELETE') {
        send(res, 200, await jobs.cancel(id))
      } else {
        res.setHeader('allow', id == null ? 'GET, POST' : 'GET, DELETE')
        send(res, 405, { error: `${req.method ?? ''} is not allowed on ${path}` })
      }
    } catch (err) {
      const name = (err as Error).name
      const status = name === 'UnknownJobError' ? 404 : name === 'BodyTooLargeError' ? 413 : name === 'JobRequestError' || err instanceof SyntaxError ? 400 : 500
      send(res, status, { error: status === 400 && err instanceof SyntaxError ? `the body is not JSON: ${err.message}` : (err as Error).message })
    }
  })()
  return true
}

async function readBody (req: IncomingMessage): Promise<string> {
  return await readCapped(req, MAX_BODY_BYTES, 'a job request')
}
