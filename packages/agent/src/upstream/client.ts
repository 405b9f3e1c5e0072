import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import type { Dispatcher } from 'undici'
import type { Agent } from 'undici'
import type { UpstreamConfig, UpstreamEndpoint, UpstreamTimeouts } from '../config/index.ts'
import { DEFAULT_UPSTREAM_COOLDOWN_MS, DEFAULT_UPSTREAM_FAILURE_THRESHOLD, UPSTREAM_RETRIES, UPSTREAM_RETRY_BASE_MS } from '../constants.ts'
import { AbortError, UpstreamUnavailableError } from '../errors.ts'
import { CircuitBreaker } from './breaker.ts'
import type { BreakerState } from './breaker.ts'
import { parseChallenge } from './challenge.ts'
import type { SourcedCredential } from './credentials.ts'
import { discardBody, explainTransportError, isBrokenBody, isTimeout } from './errors.ts'
import { createDispatcher, defaultTimeouts, patientTimeouts, readCertsDir } from './tls.ts'
import type { PatientTimeouts } from './tls.ts'
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
  /**
   * Off for requests whose 401 the client must see: no token flow on the client's behalf.
   * 'if-configured' (the /v2/ ping): on for an endpoint the agent has credentials for, else off.
   */
  useAgentCredentials?: boolean | 'if-configured'
  /** Retries after the first attempt; UPSTREAM_RETRIES by default. */
  retries?: number
  /** Off to return a redirect as the answer instead of following it. */
  followRedirects?: boolean
  /** An endpoint (origin URL) to try last this time: the one whose body just broke off. */
  avoidEndpoint?: string
  /**
   * Bytes of a body the client already has headers for (a piece, the rest of a blob): connecting
   * and the response headers may take as long as a body may stall (`--upstream-idle-timeout`),
   * not the short timeouts that let a runtime fall back soon. Nobody falls back on its failure,
   * and on a slow link that the agent's own uploads fill, a connection waits seconds behind them.
   */
  patient?: boolean
  signal?: AbortSignal
}

export interface UpstreamResponse {
  status: number
  headers: Record<string, string | undefined>
  body: Dispatcher.ResponseData['body']
  /** Where the answer finally came from (after redirects). */
  url: URL
  /** The endpoint that answered (its origin URL): a mirror endpoint or the registry itself. */
  endpoint: string
}

export interface UpstreamClientInit {
  credentials: Map<string, SourcedCredential>
  certsDir: string
  /** Connect, response-header and body-idle timeouts of every endpoint. */
  timeouts?: UpstreamTimeouts
  /** The circuit breaker of each endpoint: consecutive failures that open it, and its cool-down. */
  breaker?: { failureThreshold: number, cooldownMs: number }
  now?: () => number
  /** Observes every request's outcome, for metrics (`endpoint`: the origin URL that was asked). */
  onRequest?: (event: { registry: string, endpoint: string, method: string, status: number | 'error', seconds: number }) => void
  /** An endpoint was skipped because its circuit is open; `failedFast` when no endpoint was left to ask. */
  onSkipped?: (event: { registry: string, endpoint: string }) => void
  onFailedFast?: (event: { registry: string }) => void
  /** An endpoint's circuit changed state. */
  onBreakerState?: (event: { endpoint: string, state: BreakerState, lastError?: Error }) => void
  /** The registry answered 401 to the agent's own Basic credentials (`source`: where they came from). */
  onCredentialsRefused?: (event: { registry: string, source: string }) => void
}

const MAX_REDIRECTS = 5

/** The answer of one endpoint, or why it gave none. */
type Attempt =
  | { kind: 'answer', res: UpstreamResponse }
  | { kind: 'failed', error: Error, res?: UpstreamResponse, retryable: boolean }

/**
 * The origin client: a registry's mirror endpoints in their order and then the registry itself,
 * each with its own pooled dispatcher (its CAs, its credentials, its circuit breaker); the client's
 * Authorization forwarded or the agent's own credentials through the Bearer / Basic flows;
 * redirects followed without leaking credentials to other hosts; and retries with backoff for
 * failures that a retry can fix. A timeout is not retried: a hanging endpoint would hold the
 * client once more per retry, while the runtime waits to fall back to the next host.
 */
export class UpstreamClient {
  private readonly init: UpstreamClientInit
  private readonly timeouts: UpstreamTimeouts
  /** For patient requests: connecting and the headers bounded by the body idle timeout, if longer. */
  readonly #patientTimeouts: PatientTimeouts
  private readonly dispatchers = new Map<string, Promise<Agent>>()
  private readonly tokens = new TokenCache()
  readonly breaker: CircuitBreaker
  /** Registries that asked for Basic auth: the agent's credentials go with the first request there. */
  private readonly basicRegistries = new Set<string>()
  readonly #refusedWarnedAt = new Map<string, number>()

  constructor (init: UpstreamClientInit) {
    this.init = init
    this.timeouts = init.timeouts ?? defaultTimeouts()
    this.#patientTimeouts = patientTimeouts(this.timeouts)
    this.breaker = new CircuitBreaker({
      failureThreshold: init.breaker?.failureThreshold ?? DEFAULT_UPSTREAM_FAILURE_THRESHOLD,
      cooldownMs: init.breaker?.cooldownMs ?? DEFAULT_UPSTREAM_COOLDOWN_MS,
      now: init.now,
      onStateChange: (endpoint, state, lastError) => { this.init.onBreakerState?.({ endpoint, state, lastError }) }
    })
  }

  async stop (): Promise<void> {
    const all = [...this.dispatchers.values()]
    this.dispatchers.clear()
    await Promise.all(all.map(async d => { await (await d).close() }))
  }

  credentialFor (host: string): SourcedCredential | undefined {
    return this.init.credentials.get(host)
  }

  /**
   * Sends the request to the registry's endpoints in order, skipping those whose circuit is open,
   * and retries transport failures and 5xx/429 answers with exponential backoff. With every
   * endpoint's circuit open it fails at once with an UpstreamUnavailableError that says why.
   */
  async send (req: UpstreamRequest): Promise<UpstreamResponse> {
    for (let attempt = 0; ; attempt++) {
      const outcome = await this.#tryEndpoints(req)
      if (outcome.kind === 'answer') return outcome.res
      if (!outcome.retryable || attempt >= (req.retries ?? UPSTREAM_RETRIES)) {
        if (outcome.res != null) return outcome.res
        throw outcome.error
      }
      await discardBody(outcome.res?.body)
      const delay = UPSTREAM_RETRY_BASE_MS * 2 ** attempt * (0.5 + Math.random())
      await sleep(delay, undefined, { signal: req.signal }).catch(err => { throw new AbortError('upstream request aborted', { cause: err }) })
    }
  }

  /** The registry's mirror endpoints in their order, then the registry; the avoided one last. */
  endpointsOf (req: UpstreamRequest): UpstreamEndpoint[] {
    const all = [...(req.registry.endpoints ?? []), req.registry]
    if (req.avoidEndpoint == null || all.length < 2) return all
    return [...all.filter(e => e.baseUrl.origin !== req.avoidEndpoint), ...all.filter(e => e.baseUrl.origin === req.avoidEndpoint)]
  }

  /**
   * One pass over the endpoints. An endpoint that fails (refused, timed out, 5xx) or answers 429
   * passes the request to the next one; a 404 from a mirror endpoint too (a site mirror need not
   * hold everything). The last endpoint's answer is the request's.
   */
  async #tryEndpoints (req: UpstreamRequest): Promise<Attempt> {
    const endpoints = this.endpointsOf(req)
    let last: Attempt | undefined
    let skipped = 0
    // One endpoint that timed out makes the whole pass not worth repeating: it would time out again.
    let timedOut = false
    for (const [i, endpoint] of endpoints.entries()) {
      const key = endpoint.baseUrl.origin
      const isLast = i === endpoints.length - 1
      if (!this.breaker.allow(key)) {
        skipped++
        this.init.onSkipped?.({ registry: req.registry.host, endpoint: key })
        continue
      }
      if (last?.kind === 'failed') await discardBody(last.res?.body)
      let res: UpstreamResponse
      try {
        res = await this.sendAuthorized(req, endpoint)
      } catch (err) {
        if (req.signal?.aborted === true) throw new AbortError('upstream request aborted', { cause: err })
        const name = (err as Error).name
        // A TLS failure is a setting to fix, not worth a retry; but a mirror endpoint's passes the request on.
        if (name !== 'UpstreamUnavailableError' && !(name === 'UpstreamTlsError' && !isLast)) throw err
        this.breaker.failure(key, err as Error)
        timedOut ||= isTimeout(err)
        last = { kind: 'failed', error: err as Error, retryable: name === 'UpstreamUnavailableError' && !timedOut }
        continue
      }
      if (res.status >= 500 || res.status === 429) {
        const error = new UpstreamUnavailableError(`${key} (for ${req.registry.host}) answered ${res.status}`)
        if (res.status >= 500) this.breaker.failure(key, error)
        last = { kind: 'failed', error, res, retryable: !timedOut }
        continue
      }
      this.breaker.success(key)
      if (res.status === 404 && !isLast) {
        await res.body.dump()
        last = { kind: 'answer', res }
        continue
      }
      return { kind: 'answer', res }
    }
    if (last?.kind === 'answer') {
      // A mirror endpoint's 404, and the endpoints after it skipped: the registry could not be asked.
      last = undefined
    }
    if (last != null) return last
    this.init.onFailedFast?.({ registry: req.registry.host })
    return { kind: 'failed', error: this.#failedFast(req, endpoints, skipped), retryable: false }
  }

  #failedFast (req: UpstreamRequest, endpoints: UpstreamEndpoint[], skipped: number): UpstreamUnavailableError {
    const reasons = endpoints.map(e => {
      const d = this.breaker.describe(e.baseUrl.origin)
      const why = d.lastError != null ? `: ${d.lastError.message}` : ''
      return `${e.baseUrl.origin} failed ${d.failures} times in a row${why} (tried again in ${Math.ceil(d.retryInMs / 1000)}s)`
    })
    const what = skipped === endpoints.length ? 'every endpoint' : 'the endpoints that could serve it'
    return new UpstreamUnavailableError(`upstream ${req.registry.host} is failing fast, ${what} having failed recently: ${reasons.join('; ')}`)
  }

  private async sendAuthorized (req: UpstreamRequest, endpoint: UpstreamEndpoint): Promise<UpstreamResponse> {
    const dispatcher = await this.dispatcher(endpoint, req.patient === true)
    const agentCredentials = req.useAgentCredentials === 'if-configured' ? this.credentialFor(endpoint.host) != null : req.useAgentCredentials !== false
    if (req.authorization != null || !agentCredentials) return this.sendOnce(req, endpoint, dispatcher, req.authorization)

    const host = endpoint.host
    const scope = req.repository != null ? `repository:${req.repository}:pull` : undefined
    const credential = this.credentialFor(host)
    const basic = credential != null ? `Basic ${Buffer.from(`${credential.username}:${credential.password}`).toString('base64')}` : undefined
    if (basic != null && credential != null && this.basicRegistries.has(host)) return this.#warnIfRefused(await this.sendOnce(req, endpoint, dispatcher, basic), host, credential)
    const token = this.tokens.cached(host, scope)
    const first = await this.sendOnce(req, endpoint, dispatcher, token != null ? `Bearer ${token}` : undefined)
    if (first.status !== 401) return first
    const challenge = parseChallenge(first.headers['www-authenticate'])
    if (challenge?.scheme === 'bearer') {
      // Anonymous tokens too: that is how public images on Docker Hub are pulled.
      let fresh: string
      try {
        fresh = await this.tokens.fetch({ registryHost: host, challenge, scope, credential, dispatcher, signal: req.signal })
      } catch (err) {
        // Without credentials of its own, the agent hands the origin's challenge to the client.
        if (credential == null && (err as Error).name === 'UpstreamUnauthorizedError') return first
        await first.body.dump()
        throw err
      }
      await first.body.dump()
      return this.sendOnce(req, endpoint, dispatcher, `Bearer ${fresh}`)
    }
    if (challenge?.scheme === 'basic' && basic != null) {
      await first.body.dump()
      this.basicRegistries.add(host)
      return this.#warnIfRefused(await this.sendOnce(req, endpoint, dispatcher, basic), host, credential)
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

  private async sendOnce (req: UpstreamRequest, endpoint: UpstreamEndpoint, dispatcher: Agent, authorization: string | undefined): Promise<UpstreamResponse> {
    let url = new URL(req.path, endpoint.baseUrl)
    const origin = url.origin
    const event = { registry: req.registry.host, endpoint: origin, method: req.method }
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
        this.init.onRequest?.({ ...event, status: 'error', seconds: (performance.now() - started) / 1000 })
        if (req.signal?.aborted === true) throw new AbortError('upstream request aborted', { cause: err })
        throw explainTransportError(err, { host: endpoint.host, origin: url.origin, registry: req.registry.host }, this.init.certsDir, this.#timeoutsOf(req))
      }
      this.init.onRequest?.({ ...event, status: res.statusCode, seconds: (performance.now() - started) / 1000 })
      const location = res.headers.location
      if (req.followRedirects !== false && [301, 302, 303, 307, 308].includes(res.statusCode) && typeof location === 'string' && hop < MAX_REDIRECTS) {
        await res.body.dump()
        url = new URL(location, url)
        continue
      }
      // A body that breaks off (the endpoint died or stalled mid-blob) counts against the endpoint.
      res.body.once('error', err => {
        if (req.signal?.aborted !== true && isBrokenBody(err)) this.breaker.failure(origin, explainTransportError(err, { host: endpoint.host, origin: url.origin, registry: req.registry.host }, this.init.certsDir, this.#timeoutsOf(req)))
      })
      return { status: res.statusCode, headers: flatten(res.headers), body: res.body, url, endpoint: origin }
    }
  }

  #timeoutsOf (req: UpstreamRequest): UpstreamTimeouts | PatientTimeouts {
    return req.patient === true ? this.#patientTimeouts : this.timeouts
  }

  /** The endpoint's pool: one for the short timeouts, one for patient requests. */
  private async dispatcher (endpoint: UpstreamEndpoint, patient: boolean): Promise<Agent> {
    const key = `${endpoint.host} ${endpoint.baseUrl.origin}${patient ? ' patient' : ''}`
    let d = this.dispatchers.get(key)
    if (d == null) {
      const timeouts = patient ? this.#patientTimeouts : this.timeouts
      d = readCertsDir(this.init.certsDir, endpoint.host).then(tls => createDispatcher(tls, endpoint.insecure, timeouts))
      this.dispatchers.set(key, d)
    }
    return d
  }
}

function flatten (headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}
