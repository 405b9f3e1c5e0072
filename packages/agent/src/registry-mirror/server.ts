import { once } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { Server as HttpsServer } from 'node:https'
import type { Socket } from 'node:net'
import { MIRROR_BUSY_RETRY_AFTER_S, MIRROR_MAX_CONNECTIONS, MIRROR_MAX_CONNECTIONS_PER_CLIENT, PREFETCH_USER_AGENT } from '../constants.ts'
import type { HostPort, ListenerTlsMaterial } from '../config/index.ts'
import type { Logger } from '../logger.ts'
import type { CachedManifest } from '../manifest-cache/index.ts'
import type { AgentMetrics } from '../metrics.ts'
import { listenOn } from '../listen-on.ts'
import { ownRoute, serveOwnRoute } from '../own-endpoints/handlers.ts'
import type { RegistryRouter, RouteHints } from '../upstream/registries.ts'
import { handleBlob } from './blobs.ts'
import { ConnectionLimits } from './connection-limits.ts'
import type { BlobRouteComponents } from './blobs.ts'
import { warmConfig } from './config-warmup.ts'
import { handleManifest } from './manifests.ts'
import type { ManifestRequest, ManifestRouteComponents } from './manifests.ts'
import { errorDetail, errorResponse, sendOciError } from './oci-errors.ts'
import type { PullNote } from './pull-note.ts'
import { sendUpstreamAnswer } from './respond.ts'
import { parseRoute } from './routes.ts'
import type { Route } from './routes.ts'
import { handleTags } from './tags.ts'

export interface MirrorServerComponents extends BlobRouteComponents, ManifestRouteComponents {
  router: RegistryRouter
  metrics: AgentMetrics
  /** Whether the agent can serve (the store is open, and it is not draining). */
  ready: () => boolean
  /** Failures (warn) and, with the access log on, one info line per blob and manifest request. */
  logger: Logger
}

export interface MirrorServerInit {
  /** One info line per blob and manifest request: client, registry, repository, digest, source, bytes, time (default on). */
  accessLog?: boolean
  /** See MIRROR_MAX_CONNECTIONS_PER_CLIENT and MIRROR_MAX_CONNECTIONS. */
  maxConnectionsPerClient?: number
  maxConnections?: number
  /**
   * HTTPS with this certificate and key; with `ca`, a client must present a certificate signed by
   * it or the handshake fails. Undefined: plain HTTP.
   */
  tls?: ListenerTlsMaterial
}

/** Request headers may not exceed this; larger gets 431 from Node before any handler runs. */
const MAX_HEADER_BYTES = 16 * 1024

/**
 * The agent's HTTP listener: the OCI distribution pull API (read-only), /metrics, /healthz and
 * /readyz (own-endpoints/, which the metrics listener serves alone). Every error leaves as an OCI
 * error body; nothing a client sends can crash it.
 */
export class MirrorServer {
  private readonly components: MirrorServerComponents
  private readonly accessLog: boolean
  private readonly server: Server | HttpsServer
  /** Connections past the limits, with the reason: their requests are answered 503. */
  private readonly refused = new WeakMap<Socket, string>()
  /** The responses of the requests in flight. */
  private readonly open = new Set<ServerResponse>()
  /** Set by drain(): the listener is closed (its 'close' comes once every connection has ended). */
  private closed?: Promise<void>
  /** After an image manifest goes out, its config blob is fetched ahead (config-warmup.ts). */
  private readonly warmConfig = (manifest: CachedManifest, m: ManifestRequest, authorization: string | undefined): void => {
    warmConfig(this.components, manifest, { registry: m.registry, name: m.name, authorization })
  }

  constructor (components: MirrorServerComponents, init: MirrorServerInit = {}) {
    this.components = components
    this.accessLog = init.accessLog ?? true
    const limits = new ConnectionLimits({ perClient: init.maxConnectionsPerClient ?? MIRROR_MAX_CONNECTIONS_PER_CLIENT, total: init.maxConnections ?? MIRROR_MAX_CONNECTIONS })
    const options = { maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: 0, headersTimeout: 30_000, keepAliveTimeout: 30_000 }
    const onRequest: RequestListener = (req, res) => {
      const refused = this.refused.get(req.socket)
      if (refused != null) {
        this.components.metrics.connectionsRefused.inc()
        res.shouldKeepAlive = false
        sendOciError(res, 503, 'UNAVAILABLE', `too many connections: ${refused}; retry in ${MIRROR_BUSY_RETRY_AFTER_S} s`, { 'retry-after': String(MIRROR_BUSY_RETRY_AFTER_S) })
        return
      }
      this.open.add(res)
      res.once('close', () => { this.open.delete(res) })
      // Draining: answered, but the connection then closes, so that drain() ends.
      if (this.closed != null) res.shouldKeepAlive = false
      this.handle(req, res).catch(err => {
        this.components.logger.warn(`request ${req.method} ${req.url?.slice(0, 200)} failed: ${(err as Error).message}`)
        res.destroy()
      })
    }
    this.server = init.tls == null
      ? createServer(options, onRequest)
      : createHttpsServer({ ...options, ...secureContextOptions(init.tls) }, onRequest)
    // A connection past the limits is not counted; its request is answered 503 and it is closed.
    // Over TLS it is counted from the TCP connection (a handshake holds resources too) and one past
    // the limits is closed at once: no answer can reach a client before its handshake.
    this.server.on('connection', (socket: Socket) => {
      const refused = limits.admit(socket)
      if (refused == null) return
      if (init.tls == null) {
        this.refused.set(socket, refused)
      } else {
        this.components.metrics.connectionsRefused.inc()
        socket.destroy()
      }
    })
    // A client that speaks TLS to this plain-HTTP port (skopeo and podman try HTTPS first), or
    // sends garbage, gets an answer or a closed socket at once, never a hang.
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      if (socket.writable && err.code !== 'ECONNRESET') {
        const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request'
        socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
      } else {
        socket.destroy()
      }
    })
  }

  async start (listen: HostPort): Promise<HostPort> {
    return listenOn(this.server, listen)
  }

  /** Whether the listener speaks HTTPS. */
  get tls (): boolean {
    return 'setSecureContext' in this.server
  }

  /**
   * Takes a new certificate, key and client CA for connections from now on (open ones keep theirs):
   * a rotated certificate without a restart. Only for a listener started with TLS, and a client CA
   * only when it started with one (whether client certificates are asked for is fixed at start).
   */
  setTls (tls: ListenerTlsMaterial): void {
    if (!('setSecureContext' in this.server)) throw new Error('the mirror listener was started without TLS')
    this.server.setSecureContext(secureContextOptions(tls))
  }

  /** Requests in flight now. */
  get inFlight (): number {
    return this.open.size
  }

  /** Resolves when the requests in flight now have ended (later ones are not waited for). */
  async settled (): Promise<void> {
    await Promise.all([...this.open].map(async res => { if (!res.closed) await once(res, 'close') }))
  }

  /**
   * Stops accepting connections (idle keep-alive ones are closed, busy ones after their request) and
   * waits for the requests in flight to end, or for `signal`: resolves with how many are still going
   * then (0 when all ended). stop() afterwards cuts off the rest.
   */
  async drain ({ signal }: { signal: AbortSignal }): Promise<number> {
    this.closeListener()
    this.server.closeIdleConnections()
    if (!signal.aborted) {
      const aborted = Promise.withResolvers<void>()
      const onAbort = (): void => { aborted.resolve() }
      signal.addEventListener('abort', onAbort, { once: true })
      await Promise.race([this.settled(), aborted.promise])
      signal.removeEventListener('abort', onAbort)
    }
    return this.open.size
  }

  async stop (): Promise<void> {
    const closed = this.closeListener()
    this.server.closeAllConnections()
    await closed
  }

  /** Closes the listener once; the promise resolves when every connection has ended. */
  private closeListener (): Promise<void> {
    this.closed ??= this.server.listening ? new Promise<void>(resolve => this.server.close(() => { resolve() })) : Promise.resolve()
    return this.closed
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const { metrics } = this.components
    const url = new URL(req.url ?? '/', 'http://mirror')
    let route: Route | undefined
    // The agent's own endpoints have labels of their own: a Prometheus scrape or a kubelet probe
    // every few seconds would otherwise read as a stream of invalid registry requests. Registry API
    // paths are labelled by their Route kind.
    const own = ownRoute(url.pathname)
    const started = performance.now()
    const note: PullNote = { started, client: req.socket.remoteAddress }
    res.on('finish', () => {
      const label = own ?? route?.kind ?? 'invalid'
      metrics.requests.inc({ route: label, method: req.method ?? '', status: res.statusCode })
      metrics.requestSeconds.observe({ route: label }, (performance.now() - started) / 1000)
    })
    // The access line is written once the handler is done (it knows the bytes) and the response closed.
    let pending = 2
    const done = (): void => {
      if (--pending === 0 && this.accessLog && (route?.kind === 'blob' || route?.kind === 'manifest')) this.logAccess(req, res, route, note)
    }
    res.once('close', done)
    try {
      if (own != null) await serveOwnRoute(this.components, own, req, res)
      else await this.handleRoute(req, res, url, note, r => { route = r })
    } finally {
      done()
    }
  }

  private async handleRoute (req: IncomingMessage, res: ServerResponse, url: URL, note: PullNote, routed: (route: Route) => void): Promise<void> {
    let route: Route
    try {
      route = parseRoute(url.pathname)
      routed(route)
      if (route.kind === 'upload' || (req.method !== 'GET' && req.method !== 'HEAD')) {
        sendOciError(res, 405, 'UNSUPPORTED', 'this is a read-only registry mirror: push and delete go to the registry itself', { allow: 'GET, HEAD' })
        return
      }
      await this.route(req, res, route, url.searchParams.get('ns'), note)
    } catch (err) {
      const e = err as Error
      const { status, code } = errorResponse(e)
      if (status >= 500) this.components.logger.warn(`${req.method} ${url.pathname.slice(0, 200)}: ${e.message}`)
      sendOciError(res, status, code, e.message, {}, errorDetail(e))
    }
  }

  private async route (req: IncomingMessage, res: ServerResponse, route: Route, ns: string | null, note: PullNote): Promise<void> {
    const hints: RouteHints = { ns, userAgent: req.headers['user-agent'] }
    switch (route.kind) {
      case 'base':
        await this.base(req, res, hints)
        return
      case 'manifest': {
        const routed = this.components.router.route(route.name, hints)
        note.registry = routed.registry.host
        note.repository = routed.name
        const onManifestSent = req.headers['user-agent'] === PREFETCH_USER_AGENT ? undefined : this.warmConfig
        await handleManifest({ ...this.components, onManifestSent }, req, res, { ...routed, reference: route.reference }, note)
        return
      }
      case 'blob': {
        const routed = this.components.router.route(route.name, hints)
        note.registry = routed.registry.host
        note.repository = routed.name
        await handleBlob(this.components, req, res, { ...routed, digest: route.digest }, note)
        return
      }
      case 'tags':
        await handleTags(this.components.upstream, req, res, { ...this.components.router.route(route.name, hints), ns })
        return
      case 'catalog':
        sendOciError(res, 404, 'UNSUPPORTED', 'a mirror does not list the catalog')
        return
      default:
        sendOciError(res, 404, 'NAME_UNKNOWN', 'not a registry API path')
    }
  }

  /**
   * `GET /v2/`: the registry's own answer when it can be reached, so a client learns the origin's
   * auth challenge (containers/image takes it from this ping); 200 when it cannot, so cached images
   * still pull with the origin down.
   */
  private async base (req: IncomingMessage, res: ServerResponse, hints: RouteHints): Promise<void> {
    const registry = this.components.router.pingTarget(hints)
    try {
      // With credentials of its own the agent authenticates for the client; without, the client
      // must see the origin's challenge to get a token for itself.
      const answer = await this.components.upstream.send({ registry, method: 'GET', path: '/v2/', authorization: req.headers.authorization, useAgentCredentials: 'if-configured' })
      const body = Buffer.from(await answer.body.arrayBuffer())
      if (answer.status === 401) {
        sendUpstreamAnswer(res, { status: 401, headers: answer.headers, body })
        return
      }
    } catch (err) {
      this.components.logger.warn(`ping of ${registry.host} failed, answering from the cache: ${(err as Error).message}`)
    }
    res.writeHead(200, { 'content-type': 'application/json', 'docker-distribution-api-version': 'registry/2.0', 'content-length': 2 })
    res.end(req.method === 'HEAD' ? undefined : '{}')
  }

  /**
   * The access log: one line per blob or manifest request, when its response is done (or broken
   * off). Never the client's credentials: only its address.
   */
  private logAccess (req: IncomingMessage, res: ServerResponse, route: Route & { kind: 'blob' | 'manifest' }, note: PullNote): void {
    const digest = note.digest ?? (route.kind === 'blob' ? route.digest : 'digest' in route.reference ? route.reference.digest : undefined)
    this.components.logger.info('pull', {
      client: note.client,
      method: req.method,
      status: res.statusCode,
      registry: note.registry,
      repository: note.repository ?? route.name,
      kind: route.kind,
      tag: route.kind === 'manifest' && 'tag' in route.reference ? route.reference.tag : undefined,
      digest,
      source: note.source ?? 'none',
      bytes: note.bytes ?? 0,
      ms: Math.round(performance.now() - (note.started ?? 0)),
      complete: res.writableEnded
    })
  }
}

/** The TLS options of the listener: client certificates required and verified when a CA is given. */
function secureContextOptions (tls: ListenerTlsMaterial): { cert: Buffer, key: Buffer, ca?: Buffer, requestCert: boolean, rejectUnauthorized: boolean } {
  return tls.ca == null
    ? { cert: tls.cert, key: tls.key, requestCert: false, rejectUnauthorized: false }
    : { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true }
}
