import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { METRICS_HEADERS_TIMEOUT_MS, METRICS_MAX_CONNECTIONS } from '../constants.ts'
import { hostPortText } from '../config/index.ts'
import type { HostPort } from '../config/index.ts'
import { ListenError } from '../errors.ts'
import { listenOn } from '../listen-on.ts'
import type { Logger } from '../logger.ts'
import { ownRoute, serveOwnRoute } from './handlers.ts'
import type { OwnEndpointComponents } from './handlers.ts'

export interface MetricsServerComponents extends OwnEndpointComponents {
  logger: Logger
}

/**
 * The metrics listener (`--metrics-listen`): plain HTTP with only /metrics, /healthz and /readyz,
 * the handlers of the mirror listener. Every other path is 404, so a port other hosts reach here
 * (a Prometheus in another pod, a kubelet probe) serves no registry API and no image data.
 * Its requests are counted in shoal_agent_requests_total as on the mirror (others as `invalid`).
 */
export class MetricsServer {
  private readonly components: MetricsServerComponents
  private readonly server: Server

  constructor (components: MetricsServerComponents) {
    this.components = components
    this.server = createServer({ maxHeaderSize: 8 * 1024, headersTimeout: METRICS_HEADERS_TIMEOUT_MS, requestTimeout: 2 * METRICS_HEADERS_TIMEOUT_MS, keepAliveTimeout: 30_000 }, (req, res) => {
      this.handle(req, res).catch(err => {
        this.components.logger.warn(`metrics listener: ${req.method} ${req.url?.slice(0, 200)} failed: ${(err as Error).message}`)
        res.destroy()
      })
    })
    // Past it Node closes new connections at once.
    this.server.maxConnections = METRICS_MAX_CONNECTIONS
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
      if (socket.writable && err.code !== 'ECONNRESET') socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n')
      else socket.destroy()
    })
  }

  /** Listens; resolves with the address (port 0 resolved). A ListenError names the flag and the address. */
  async start (listen: HostPort): Promise<HostPort> {
    try {
      return await listenOn(this.server, listen)
    } catch (err) {
      const { code, message } = err as NodeJS.ErrnoException
      throw new ListenError(`metricsListen (--metrics-listen): cannot listen on ${hostPortText(listen)}: ${code === 'EADDRINUSE' ? 'the port is in use' : code === 'EADDRNOTAVAIL' ? 'not an address of this host' : message}`, { cause: err })
    }
  }

  async stop (): Promise<void> {
    if (!this.server.listening) return
    const closed = new Promise<void>(resolve => this.server.close(() => { resolve() }))
    this.server.closeAllConnections()
    await closed
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { metrics } = this.components
    const started = performance.now()
    const route = ownRoute(new URL(req.url ?? '/', 'http://metrics').pathname)
    res.on('finish', () => {
      const label = route ?? 'invalid'
      metrics.requests.inc({ route: label, method: req.method ?? '', status: res.statusCode })
      metrics.requestSeconds.observe({ route: label }, (performance.now() - started) / 1000)
    })
    if (route == null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: this listener serves only /metrics, /healthz and /readyz (the registry API is on the mirror listener)\n')
      return
    }
    await serveOwnRoute(this.components, route, req, res)
  }
}
