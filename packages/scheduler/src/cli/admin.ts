import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { handleJobRoute } from '../jobs/admin-routes.ts'
import type { PrefetchJobs } from '../jobs/prefetch-jobs.ts'
import type { SchedulerMetrics } from '../metrics.ts'
import type { SchedulerService } from '../service.ts'

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

/** `--admin HOST:PORT`: /healthz, /metrics (Prometheus), /tasks (adminView as JSON) and the prefetch /jobs. */
export async function startAdmin (listen: { host: string, port: number }, service: SchedulerService, metrics: SchedulerMetrics, jobs: PrefetchJobs): Promise<{ server: Server, url: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://admin').pathname
    if (handleJobRoute(jobs, req, res, path)) return
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    } else if (path === '/metrics') {
      metrics.registry.metrics().then(body => { res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(body) }, (err: Error) => { res.writeHead(500).end(err.message) })
    } else if (path === '/tasks') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(adminView(service), null, 2) + '\n')
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: /healthz, /metrics, /tasks, /jobs\n')
    }
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(listen.port, listen.host, () => { server.off('error', reject); resolve() })
  })
  const address = server.address() as AddressInfo
  return { server, url: `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}` }
}
