import type { IncomingMessage, ServerResponse } from 'node:http'
import { readBody, sendJson } from '../admin-http.ts'
import type { JobAdmission } from '../jobs/admission.ts'
import type { PrefetchJobs } from '../jobs/prefetch-jobs.ts'
import type { WebhookConfig } from './config.ts'
import { pushEvents } from './push-events.ts'
import { matchPushes } from './push-rules.ts'

/** The push webhook's path on the admin listener. */
export const WEBHOOK_PATH = '/webhooks/push'
const MAX_BODY_BYTES = 1024 * 1024

/**
 * `POST /webhooks/push`: a registry's push notification (Distribution's envelope, Harbor's
 * webhook) becomes one prefetch job per pushed image that a rule matches. The answer lists the jobs
 * started (200, also when none); a body that is no notification is a 400, and past the admission
 * limits a 429 with Retry-After (the registry retries). The caller has checked the token.
 */
export function handleWebhookRoute (deps: { jobs: PrefetchJobs, admission: JobAdmission, config: WebhookConfig }, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (path !== WEBHOOK_PATH && path !== `${WEBHOOK_PATH}/`) return false
  void (async () => {
    try {
      if (req.method !== 'POST') {
        res.setHeader('allow', 'POST')
        sendJson(res, 405, { error: `${req.method ?? ''} is not allowed on ${path}` })
        return
      }
      const events = pushEvents(JSON.parse(await readBody(req, MAX_BODY_BYTES, 'a notification')))
      const matched = matchPushes(events, deps.config.rules)
      const jobs: Array<{ id: string, image: string, rule: number }> = []
      for (const push of matched) {
        const admitted = deps.admission.admit(deps.jobs.activeCount())
        if (!admitted.ok) {
          res.setHeader('retry-after', String(admitted.retryAfterSeconds))
          sendJson(res, 429, { error: admitted.why, jobs })
          return
        }
        const job = await deps.jobs.create(push.request)
        jobs.push({ id: job.id, image: push.request.images[0]?.reference ?? '', rule: push.rule })
      }
      sendJson(res, 200, { pushes: events.length, jobs })
    } catch (err) {
      const name = (err as Error).name
      const status = name === 'BodyTooLargeError' ? 413 : name === 'JobRequestError' || err instanceof SyntaxError ? 400 : 500
      sendJson(res, status, { error: status === 400 && err instanceof SyntaxError ? `the body is not JSON: ${err.message}` : (err as Error).message })
    }
  })()
  return true
}
