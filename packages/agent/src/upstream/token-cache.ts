import { request } from 'undici'
import type { Dispatcher } from 'undici'
import { DEFAULT_TOKEN_TTL_S, TOKEN_EXPIRY_MARGIN_MS } from '../constants.ts'
import { UpstreamUnauthorizedError, UpstreamUnavailableError } from '../errors.ts'
import type { Challenge } from './challenge.ts'
import type { SourcedCredential } from './credentials.ts'

interface CachedToken { token: string, expiresAt: number }

export interface TokenRequest {
  registryHost: string
  challenge: Challenge
  /** The scope to ask for when the challenge names none (`repository:NAME:pull`). */
  scope?: string
  credential?: SourcedCredential
  dispatcher: Dispatcher
  signal?: AbortSignal
}

/**
 * Bearer tokens of the agent's own (or anonymous) identity, per registry, service and scope,
 * fetched from the challenge's realm the way Docker Hub's token flow works, reused until shortly
 * before they expire. Tokens are never logged.
 */
export class TokenCache {
  private readonly tokens = new Map<string, CachedToken>()
  private readonly inflight = new Map<string, Promise<string>>()
  private readonly now: () => number

  constructor (init: { now?: () => number } = {}) {
    this.now = init.now ?? Date.now
  }

  cached (registryHost: string, scope: string | undefined): string | undefined {
    const hit = this.tokens.get(`${registryHost}|${scope ?? ''}`)
    return hit != null && hit.expiresAt > this.now() ? hit.token : undefined
  }

  async fetch (req: TokenRequest): Promise<string> {
    const scope = req.challenge.params.scope ?? req.scope
    const key = `${req.registryHost}|${scope ?? ''}`
    let pending = this.inflight.get(key)
    if (pending == null) {
      pending = this.fetchToken(req, scope).then(t => {
        this.tokens.set(key, t)
        return t.token
      }).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private async fetchToken (req: TokenRequest, scope: string | undefined): Promise<CachedToken> {
    const realm = req.challenge.params.realm
    if (realm == null) throw new UpstreamUnauthorizedError(`${req.registryHost} asked for a Bearer token without naming a realm`)
    const url = new URL(realm)
    if (req.challenge.params.service != null) url.searchParams.set('service', req.challenge.params.service)
    if (scope != null) url.searchParams.set('scope', scope)
    const headers: Record<string, string> = {}
    if (req.credential != null) {
      headers.authorization = `Basic ${Buffer.from(`${req.credential.username}:${req.credential.password}`).toString('base64')}`
    }
    let res: Dispatcher.ResponseData
    try {
      res = await request(url, { headers, dispatcher: req.dispatcher, signal: req.signal })
    } catch (err) {
      throw new UpstreamUnavailableError(`token service ${url.origin} for ${req.registryHost} is unreachable: ${(err as Error).message}`, { cause: err })
    }
    if (res.statusCode === 401 || res.statusCode === 403) {
      await res.body.dump()
      throw new UpstreamUnauthorizedError(req.credential != null
        ? `${req.registryHost} refused the agent's credentials from ${req.credential.source}: check the user name and password (docker login ${req.registryHost})`
        : `${req.registryHost}'s token service refused an anonymous token: configure credentials for ${req.registryHost}`)
    }
    if (res.statusCode !== 200) {
      await res.body.dump()
      throw new UpstreamUnavailableError(`token service ${url.origin} for ${req.registryHost} answered ${res.statusCode}`)
    }
    const body = await res.body.json() as { token?: string, access_token?: string, expires_in?: number }
    const token = body.token ?? body.access_token
    if (typeof token !== 'string' || token === '') throw new UpstreamUnauthorizedError(`token service ${url.origin} for ${req.registryHost} returned no token`)
    const ttlMs = (typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : DEFAULT_TOKEN_TTL_S) * 1000
    return { token, expiresAt: this.now() + Math.max(0, ttlMs - TOKEN_EXPIRY_MARGIN_MS) }
  }
}
