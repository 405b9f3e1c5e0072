import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { handleJobRoute } from '../jobs/admin-routes.ts'
import { JobAdmission } from '../jobs/admission.ts'
import type { JobAdmissionInit } from '../jobs/admission.ts'
import type { PrefetchJobs } from '../jobs/prefetch-jobs.ts'
import { handleMemberRoute } from '../membership/admin-routes.ts'
import type { Membership } from '../membership/membership.ts'
import type { SchedulerMetrics } from '../metrics.ts'
import type { SchedulerService } from '../service.ts'
import { hasAdminToken } from './admin-token.ts'
import { PREHEAT_DEFAULTS } from '../preheat/config.ts'
import type { PreheatConfig, WebhookConfig } from '../preheat/config.ts'
import { agentHost } from '../preheat/agent-host.ts'
import { handlePreheatRoute } from '../preheat/routes.ts'
import { handleWebhookRoute, WEBHOOK_PATH } from '../preheat/webhook-route.ts'

/** A JSON view of the scheduler's state: agents, and per task its downloaders, holders and origin readers. */
export function adminView (service: SchedulerService): unknown {
  return {
    agents: service.agents(),
    tasks: [...service.tasks()].map(task => {
      const availability = service.registry.task(task.digest)
      const pieceCount = availability?.pieceCount ?? 0
      return {
        digest: task.digest,
        size: task.size,
        pieces: pieceCount,
        peers: availability == null ? [] : [...availability.peers()].map(peer => ({ id: peer, pieces: availability.bitfield(peer)?.count() ?? 0 })),
        downloading: [...task.wanting],
        holdersPerPiece: Array.from({ length: pieceCount }, (_, i) => availability?.holderCount(i) ?? 0),
        originReaders: task.assignment == null ? {} : Object.fromEntries(task.assignment.assignees.map(peer => [peer, task.assignment?.piecesOf(peer) ?? []])),
        tableKnown: task.tableKnown
      }
    })
  }
}

export interface AdminInit {
  listen: { host: string, port: number }
  /** The bearer token /jobs and /tasks require. */
  token: string
  limits?: JobAdmissionInit
  /** The swarm's members (`--join-tokens`): GET /members, DELETE /members/<peer id>. */
  membership?: Membership
  /** How Dragonfly preheats (Harbor) map onto jobs: sites by cluster id, the default site. */
  preheat?: PreheatConfig
  /** The push webhook's rules, and a token that opens only /webhooks/push. */
  webhooks?: WebhookConfig & { token?: string }
}

/**
 * `--admin HOST:PORT`: /healthz and /metrics (Prometheus) open to probes and scrapers (they hold
 * counts, no digest or repository), /tasks (adminView as JSON: which agent holds which blob) and the
 * prefetch /jobs and the /members only with `Authorization: Bearer <token>`; so are Dragonfly's
 * preheat API (Harbor's P2P provider) and the push webhook, which also takes a token of its own.
 */
export async function startAdmin (init: AdminInit, service: SchedulerService, metrics: SchedulerMetrics, jobs: PrefetchJobs): Promise<{ server: Server, url: string }> {
  const admission = new JobAdmission(init.limits)
  const { listen, token } = init
  const preheat = { jobs, admission, config: init.preheat ?? { clusters: new Map(), ...PREHEAT_DEFAULTS }, host: (agent: string) => agentHost(service, agent) }
  const webhooks = { jobs, admission, config: { rules: init.webhooks?.rules ?? [] } }
  const webhookToken = init.webhooks?.token
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname
    const open = path === '/healthz' || path === '/metrics'
    const webhook = path === WEBHOOK_PATH && webhookToken != null && hasAdminToken(req, webhookToken)
    if (!open && !webhook && !hasAdminToken(req, token)) {
      res.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer realm="shoal-scheduler"' })
        .end(JSON.stringify({ error: 'the admin API needs Authorization: Bearer <token>: the token is in the file shoal scheduler printed at start (--admin-token-file, or admin-token in its data dir)' }) + '\n')
      return
    }
    if (handleJobRoute(jobs, admission, req, res, path)) return
    if (handlePreheatRoute(preheat, req, res, path)) return
    if (handleWebhookRoute(webhooks, req, res, path)) return
    if (handleMemberRoute(init.membership, req, res, path)) return
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(body => { res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body) }, (err: Error) => { res.writeHead(500).end(err.message) })
    } else if (path === '/tasks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(adminView(service), null, 2) + '\n')
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /healthz, /metrics, /tasks, /jobs, /members, /webhooks/push, Dragonfly\'s /healthy and /oapi/v1/jobs\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address() as AddressInfo
  return { server, url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}` }
}
