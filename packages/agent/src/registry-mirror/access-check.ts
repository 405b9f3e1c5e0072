import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { OfflineAccessConfig, UpstreamConfig } from '../config/index.ts'
import { ACCESS_CHECK_MAX_ENTRIES, ACCESS_CHECK_TTL_MS, DEFAULT_OFFLINE_ACCESS_WINDOW_MS } from '../constants.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { sendOciError } from './oci-errors.ts'
import type { OciErrorCode } from './oci-errors.ts'
import { publicRepositoryMatcher } from '../public-repositories.ts'

export interface AccessRequest {
  registry: UpstreamConfig
  repository: string
  /** What is about to be served without asking the origin: `/v2/<name>/manifests/<ref>` or `/v2/<name>/blobs/<digest>`. */
  path: string
  /** The client's Accept (a registry may answer a manifest HEAD differently without it). */
  accept?: string
  /** The client's Authorization; without it the origin sees the agent's own identity (or none). */
  authorization?: string
  signal?: AbortSignal
}

/** The origin's refusal: its status and the headers the client needs (the challenge above all). */
export interface AccessDenied {
  status: number
  headers: Record<string, string | undefined>
  /** Why, when it is not the origin's own answer (the origin could not be asked). */
  reason?: string
}

export interface AccessCheckComponents {
  upstream: UpstreamClient
}

export interface AccessCheckInit {
  /** `registry/repository` globs whose content anyone may read: never checked. */
  publicRepositories?: string[]
  ttlMs?: number
  /** Who is served while the origin cannot be asked (default: `recent`, within 24 hours). */
  offline?: OfflineAccessConfig
  now?: () => number
}

/**
 * Serving from the store never widens access: before bytes held here (or being fetched for another
 * client) go to a client, the origin is asked with that client's credentials (a HEAD of the same
 * path), and a yes is reused for a short TTL per path and credentials. A yes is also kept longer
 * per repository and credentials, for when the origin cannot answer (unreachable, 5xx): then the
 * offline policy decides, and by default credentials the origin said yes to (or served) for that
 * repository within the window still get its cached content, so cached images pull with the
 * origin down, and nobody else does.
 */
export class AccessCheck {
  /** Read at each question: a reload of the agent replaces the upstream client. */
  private readonly components: AccessCheckComponents
  private readonly ttlMs: number
  private readonly offline: OfflineAccessConfig
  private readonly now: () => number
  private readonly isPublic: (registry: string, repository: string) => boolean
  /** When the origin last said yes, per hashed (registry, path, accept, credentials). */
  private readonly confirmedAt = new Map<string, number>()
  /** ...and per hashed (registry, repository, credentials), for the offline policy. */
  private readonly repositoryConfirmedAt = new Map<string, number>()
  private readonly inflight = new Map<string, Promise<AccessDenied | undefined>>()

  constructor (components: AccessCheckComponents, init: AccessCheckInit = {}) {
    this.components = components
    this.ttlMs = init.ttlMs ?? ACCESS_CHECK_TTL_MS
    this.offline = init.offline ?? { policy: 'recent', windowMs: DEFAULT_OFFLINE_ACCESS_WINDOW_MS }
    this.now = init.now ?? Date.now
    this.isPublic = publicRepositoryMatcher(init.publicRepositories ?? [])
  }

  /** undefined when the client may have it; the origin's refusal (or the offline policy's) otherwise. */
  async confirm (req: AccessRequest): Promise<AccessDenied | undefined> {
    if (this.isPublic(req.registry.host, req.repository)) return undefined
    const key = keyOf(req)
    const at = this.confirmedAt.get(key)
    if (at != null && this.now() - at < this.ttlMs) return undefined
    let pending = this.inflight.get(key)
    if (pending == null) {
      pending = this.ask(req).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  /** The origin itself just served this client this path: a yes, as good as a confirmed one. */
  granted (req: AccessRequest): void {
    if (!this.isPublic(req.registry.host, req.repository)) this.remember(req)
  }

  /** The offline policy's answer for a client while the origin cannot be asked. */
  whileUnreachable (req: AccessRequest): AccessDenied | undefined {
    if (this.isPublic(req.registry.host, req.repository)) return undefined
    const { policy, windowMs } = this.offline
    if (policy === 'allow') return undefined
    const at = this.repositoryConfirmedAt.get(repositoryKeyOf(req))
    if (policy === 'recent' && at != null && this.now() - at < windowMs) return undefined
    const reason = policy === 'deny'
      ? `${req.registry.host} cannot be reached to confirm this client's access to ${req.repository}, and the offline access policy is deny`
      : `${req.registry.host} cannot be reached to confirm this client's access to ${req.repository}, and it has not confirmed these credentials within ${Math.round(windowMs / 60_000)} minutes (offline access policy: recent)`
    return { status: 503, headers: {}, reason }
  }

  private async ask (req: AccessRequest): Promise<AccessDenied | undefined> {
    let answer
    try {
      answer = await this.components.upstream.send({
        registry: req.registry,
        method: 'HEAD',
        path: req.path,
        repository: req.repository,
        accept: req.accept,
        authorization: req.authorization,
        signal: req.signal,
        retries: 0,
        followRedirects: false
      })
    } catch (err) {
      if ((err as Error).name === 'UpstreamUnavailableError') return this.whileUnreachable(req)
      throw err
    }
    await answer.body.dump()
    if (answer.status >= 500) return this.whileUnreachable(req)
    if (answer.status >= 400) return { status: answer.status, headers: answer.headers }
    this.remember(req)
    return undefined
  }

  private remember (req: AccessRequest): void {
    const now = this.now()
    remember(this.confirmedAt, keyOf(req), now, this.ttlMs)
    remember(this.repositoryConfirmedAt, repositoryKeyOf(req), now, this.offline.windowMs)
  }
}

/** Sets key to now in a bounded map: expired entries go first, then the oldest. */
function remember (times: Map<string, number>, key: string, now: number, keepMs: number): void {
  times.delete(key)
  if (times.size >= ACCESS_CHECK_MAX_ENTRIES) {
    for (const [k, at] of times) if (now - at >= keepMs) times.delete(k)
    // Still full: drop the oldest answers (a Map iterates in insertion order; re-set moves a key last).
    for (const k of times.keys()) {
      if (times.size < ACCESS_CHECK_MAX_ENTRIES) break
      times.delete(k)
    }
  }
  times.set(key, now)
}

/** Hashed, so no credential is kept in memory as a key. */
function keyOf (req: AccessRequest): string {
  return hash([req.registry.host, req.path, req.accept ?? '', req.authorization ?? ''])
}

function repositoryKeyOf (req: AccessRequest): string {
  return hash([req.registry.host, req.repository, req.authorization ?? ''])
}

function hash (parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex')
}

const DENIED_CODES: Record<number, OciErrorCode> = { 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'NAME_UNKNOWN', 429: 'TOOMANYREQUESTS', 503: 'UNAVAILABLE' }

/**
 * Confirms the client's access and, when the origin refuses, answers with the origin's status and
 * challenge; true when the request has been answered so.
 */
export async function refuseUnconfirmed (access: AccessCheck, res: ServerResponse, req: AccessRequest): Promise<boolean> {
  return refuse(res, req, await access.confirm(req))
}

/** The same for content served while the origin is known to be unreachable (a stale tag). */
export function refuseWhileUnreachable (access: AccessCheck, res: ServerResponse, req: AccessRequest): boolean {
  return refuse(res, req, access.whileUnreachable(req))
}

function refuse (res: ServerResponse, req: AccessRequest, denied: AccessDenied | undefined): boolean {
  if (denied == null) return false
  const headers: Record<string, string> = {}
  for (const name of ['www-authenticate', 'retry-after']) {
    const value = denied.headers[name]
    if (value != null) headers[name] = value
  }
  sendOciError(res, denied.status, DENIED_CODES[denied.status] ?? 'DENIED',
    denied.reason ?? `${req.registry.host} did not confirm this client's access to ${req.repository} (${denied.status})`, headers)
  return true
}
