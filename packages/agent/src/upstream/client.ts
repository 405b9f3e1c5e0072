import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import type { Agent } from 'undici'
import type { UpstreamConfig } from '../config/index.ts'
import { UPSTREAM_RETRIES, UPSTREAM_RETRY_BASE_MS } from '../constants.ts'
import { AbortError, UpstreamUnavailableError } from '../errors.ts'
import { parseChallenge } from './challenge.ts'
import type { SourcedCredential } from './credentials.ts'
import { explainTransportError } from './errors.ts'
import { createDispatcher, readCertsDir } from './tls.ts'
import { TokenCache } from './token-cache.ts'

/** How often a registry's refusal of the agent's own credentials is reported, at most. */
const REFUSED_WARNING_INTERVAL_MS = 60_000

export interface UpstreamRequest {
  registry: UpstreamConfig
  method: 'GET' | 'HEAD'
  /** `/v2/...`, already validated. */
  path: string
  /** The repository, for the token scope. */
  repository?: string
  accept?: string
  range?: string
  /** The client's own Authorization header: forwarded unchanged, and then the agent adds none. */
  authorization?: string
  /** Off for requests whose 401 the client must see (the /v2/ ping): no token flow on the client's behalf. */
  useAgentCredentials?: boolean
  /** Retries after the first attempt; UPSTREAM_RETRIES by default. */
  retries?: number
  /** Off to return a redirect as the answer instead of following it. */
  followRedirects?: boolean
  signal?: AbortSignal
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string | undefined>
  body: Dispatcher.ResponseData['body']
  /** Where the answer finally came from (after redirects). */
  url: URL
}

export interface UpstreamClientInit {
  credentials: Map<string, SourcedCredential>
  certsDir: string
  /** Observes every request's outcome, for metrics. */
  onRequest?: (event: { registry: string, method: string, status: number | 'error', seconds: number }) => void
  /** The registry answered 401 to the agent's own Basic credentials (`source`: where they came from). */
  onCredentialsRefused?: (event: { registry: string, source: string }) => void
}

const MAX_REDIRECTS = 5

/**
 * The origin client: one pooled dispatcher per registry with its CAs, the client's Authorization
 * forwarded or the agent's own credentials through the Bearer / Basic flows, redirects followed
 * without leaking credentials to other hosts, and retries with backoff for failures that a retry
 * can fix.
 */
export class UpstreamClient {
  private readonly init: UpstreamClientInit
  private readonly dispatchers = new Map<string, Promise<Agent>>()
  private readonly tokens = new TokenCache()
  /** Registries that asked for Basic auth: the agent's credentials go with the first request there. */
  private readonly basicRegistries = new Set<string>()
  readonly #refusedWarnedAt = new Map<string, number>()

  constructor (init: UpstreamClientInit) {
    this.init = init
  }

  async stop (): Promise<void> {
    const all = [...this.dispatchers.values()]
    this.dispatchers.clear()
    await Promise.all(all.map(async d => { await (await d).close() }))
  }

  credentialFor (host: string): SourcedCredential | undefined {
    return this.init.credentials.get(host)
  }

  /** Sends the request, retrying transport failures and 5xx/429 answers with exponential backoff. */
  async send (req: UpstreamRequest): Promise<UpstreamResponse> {
    for (let attempt = 0; ; attempt++) {
      let res: UpstreamResponse | undefined
      let failure: Error | undefined
      try {
        res = await this.sendAuthorized(req)
      } catch (err) {
        if (req.signal?.aborted === true) throw new AbortError('upstream request aborted', { cause: err })
        if ((err as Error).name !== 'UpstreamUnavailableError') throw err
        failure = err as Error
      }
      const retryable = failure != null || (res != null && (res.status >= 500 || res.status === 429))
      if (!retryable || attempt >= (req.retries ?? UPSTREAM_RETRIES)) {
        if (res != null) return res
        throw failure ?? new UpstreamUnavailableError(`${req.registry.host} failed`)
      }
      await res?.body.dump().catch(() => {})
      const delay = UPSTREAM_RETRY_BASE_MS * 2 ** attempt * (0.5 + Math.random())
      await sleep(delay, undefined, { signal: req.signal }).catch(err => { throw new AbortError('upstream request aborted', { cause: err }) })
    }
  }

  private async sendAuthorized (req: UpstreamRequest): Promise<UpstreamResponse> {
    const dispatcher = await this.dispatcher(req.registry)
    if (req.authorization != null || req.useAgentCredentials === false) return this.sendOnce(req, dispatcher, req.authorization)

    const scope = req.repository != null ? `repository:${req.repository}:pull` : undefined
    const credential = this.credentialFor(req.registry.host)
    const basic = credential != null ? `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}` : undefined
    if (basic != null && credential != null && this.basicRegistries.has(req.registry.host)) return this.#warnIfRefused(await this.sendOnce(req, dispatcher, basic), req.registry.host, credential)
    const token = this.tokens.cached(req.registry.host, scope)
    const first = await this.sendOnce(req, dispatcher, token != null ? `Bearer ${token}` : undefined)
    if (first.status !== 401) return first
    const challenge = parseChallenge(first.headers['www-authenticate'])
    if (challenge?.scheme === 'bearer') {
      // Anonymous tokens too: that is how public images on Docker Hub are pulled.
      let fresh: string
      try {
        fresh = await this.tokens.fetch({ registryHost: req.registry.host, challenge, scope, credential, dispatcher, signal: req.signal })
      } catch (err) {
        // Without credentials of its own, the agent hands the origin's challenge to the client.
        if (credential == null && (err as Error).name === 'UpstreamUnauthorizedError') return first
        await first.body.dump()
        throw err
      }
      await first.body.dump()
      return this.sendOnce(req, dispatcher, `Bearer ${fresh}`)
    }
    if (challenge?.scheme === 'basic' && basic != null) {
      await first.body.dump()
      this.basicRegistries.add(req.registry.host)
      return this.#warnIfRefused(await this.sendOnce(req, dispatcher, basic), req.registry.host, credential)
    }
    return first
  }

  /**
   * A 401 to the agent's own Basic credentials goes to the client as the origin sent it (its
   * challenge lets a client with credentials of its own try them); onCredentialsRefused says which
   * of the agent's credentials were refused, at most once a minute per registry (never the secret).
   */
  #warnIfRefused (res: UpstreamResponse, host: string, credential: SourcedCredential | undefined): UpstreamResponse {
    if (res.status !== 401 || credential == null) return res
    const now = Date.now()
    if (now - (this.#refusedWarnedAt.get(host) ?? 0) >= REFUSED_WARNING_INTERVAL_MS) {
      this.#refusedWarnedAt.set(host, now)
      this.init.onCredentialsRefused?.({ registry: host, source: credential.source })
    }
    return res
  }

  private async sendOnce (req: UpstreamRequest, dispatcher: Agent, authorization: string | undefined): Promise<UpstreamResponse> {
    let url = new URL(req.path, req.registry.baseUrl)
    const origin = url.origin
    for (let hop = 0; ; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'shoal-agent' }
      if (req.accept != null) headers.accept = req.accept
      if (req.range != null) headers.range = req.range
      // Credentials go only to the registry itself, never to a storage host it redirects to.
      if (authorization != null && url.origin === origin) headers.authorization = authorization
      const started = performance.now()
      let res: Dispatcher.ResponseData
      try {
        res = await request(url, { method: req.method, headers, dispatcher, signal: req.signal })
      } catch (err) {
        this.init.onRequest?.({ registry: req.registry.host, method: req.method, status: 'error', seconds: (performance.now() - started) / 1000 })
        if (req.signal?.aborted === true) throw new AbortError('upstream request aborted', { cause: err })
        throw explainTransportError(err, { host: req.registry.host, origin: url.origin }, this.init.certsDir)
      }
      this.init.onRequest?.({ registry: req.registry.host, method: req.method, status: res.statusCode, seconds: (performance.now() - started) / 1000 })
      const location = res.headers.location
      if (req.followRedirects !== false && [301, 302, 303, 307, 308].includes(res.statusCode) && typeof location === 'string' && hop < MAX_REDIRECTS) {
        await res.body.dump()
        url = new URL(location, url)
        continue
      }
      return { status: res.statusCode, headers: flatten(res.headers), body: res.body, url }
    }
  }

  private async dispatcher (registry: UpstreamConfig): Promise<Agent> {
    let d = this.dispatchers.get(registry.host)
    if (d == null) {
      d = readCertsDir(this.init.certsDir, registry.host).then(tls => createDispatcher(tls, registry.insecure))
      this.dispatchers.set(registry.host, d)
    }
    return d
  }
}

function flatten (headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}
