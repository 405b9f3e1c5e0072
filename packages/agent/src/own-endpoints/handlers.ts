import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AgentMetrics } from '../metrics.ts'

/** The agent's own endpoints; also the `route` label of their requests. */
export type OwnRoute = 'metrics' | 'healthz' | 'readyz'

const OWN_ROUTES: Partial<Record<string, OwnRoute>> = { '/metrics': 'metrics', '/healthz': 'healthz', '/readyz': 'readyz' }

export interface OwnEndpointComponents {
  metrics: AgentMetrics
  /** Whether the agent can serve (the store is open, and it is not draining). */
  ready: () => boolean
}

/** The own endpoint a path names, or undefined (a registry API path, or nothing). */
export function ownRoute (pathname: string): OwnRoute | undefined {
  return OWN_ROUTES[pathname]
}

/**
 * Answers one of the agent's own endpoints, the same on every listener that serves them:
 * `/metrics` (Prometheus text), `/healthz` (200 while the process runs), `/readyz` (200 once
 * ready, 503 before and while draining). GET and HEAD only.
 */
export async function serveOwnRoute (components: OwnEndpointComponents, route: OwnRoute, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end(`${req.method ?? ''} is not allowed: GET or HEAD\n`)
    return
  }
  switch (route) {
    case 'metrics': {
      const { registry } = components.metrics
      res.writeHead(200, { 'content-type': registry.contentType }).end(await registry.metrics())
      return
    }
    case 'healthz':
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
      return
    case 'readyz': {
      const ready = components.ready()
      res.writeHead(ready ? 200 : 503, { 'content-type': 'text/plain' }).end(ready ? 'ready\n' : 'not ready\n')
    }
  }
}
