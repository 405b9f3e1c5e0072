import { createHash } from 'node:crypto'
import type { ServerResponse } from 'node:http'
import type { UpstreamConfig } from '../config/index.ts'
import { ACCESS_CHECK_MAX_ENTRIES, ACCESS_CHECK_TTL_MS } from '../constants.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { sendOciError } from './oci-errors.ts'
import type { OciErrorCode } from './oci-errors.ts'

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
}

export interface AccessCheckComponents {
  upstream: UpstreamClient
}

export interface AccessCheckInit {
  /** `registry/repository` globs whose content anyone may read: never checked. */
  publicRepositories?: string[]
  ttlMs?: number
  now?: () => number
}

/**
 * Serving from the store never widens access: before bytes held here (or being fetched for another
 * client) go to a client, the origin is asked with that client's credentials (a HEAD of the same
 * path), and a yes is remembered briefly per path and credentials. When the origin cannot answer
 * (unreachable, 5xx) the store serves anyway, so cached images pull with the origin down.
 */
export class AccessCheck {
  private readonly upstream: UpstreamClient
  private readonly ttlMs: number
  private readonly now: () => number
  private readonly isPublic: (registry: string, repository: string) => boolean
  private readonly allowed = new Map<string, number>()
  private readonly inflight = new Map<string, Promise<AccessDenied | undefined>>()

  constructor (components: AccessCheckComponents, init: AccessCheckInit = {}) {
    this.upstream = components.upstream
    this.ttlMs = init.ttlMs ?? ACCESS_CHECK_TTL_MS
    this.now = init.now ?? Date.now
    const patterns = (init.publicRepositories ?? []).map(globToRegExp)
    this.isPublic = (registry, repository) => patterns.some(p => p.test(`${registry}/${repository}`))
  }

  /** undefined when the client may have it; the origin's refusal otherwise. */
  async confirm (req: AccessRequest): Promise<AccessDenied | undefined> {
    if (this.isPublic(req.registry.host, req.repository)) return undefined
    // Hashed, so no credential is kept in memory as a key.
    const key = createHash('sha256').update([req.registry.host, req.path, req.accept ?? '', req.authorization ?? ''].join('\n')).digest('hex')
    const until = this.allowed.get(key)
    if (until != null && until > this.now()) return undefined
    let pending = this.inflight.get(key)
    if (pending == null) {
      pending = this.ask(req, key).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private async ask (req: AccessRequest, key: string): Promise<AccessDenied | undefined> {
    let answer
    try {
      answer = await this.upstream.send({
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
      if ((err as Error).name === 'UpstreamUnavailableError') return undefined
      throw err
    }
    await answer.body.dump()
    if (answer.status >= 500) return undefined
    if (answer.status >= 400) return { status: answer.status, headers: answer.headers }
    this.remember(key)
    return undefined
  }

  private remember (key: string): void {
    const now = this.now()
    if (this.allowed.size >= ACCESS_CHECK_MAX_ENTRIES) {
      for (const [k, until] of this.allowed) if (until <= now) this.allowed.delete(k)
      // Still full: drop the oldest answers (a Map iterates in insertion order).
      for (const k of this.allowed.keys()) {
        if (this.allowed.size < ACCESS_CHECK_MAX_ENTRIES) break
        this.allowed.delete(k)
      }
    }
    this.allowed.set(key, now + this.ttlMs)
  }
}

function globToRegExp (glob: string): RegExp {
  return new RegExp(`^${glob.split('*').map(part => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
}

const DENIED_CODES: Record<number, OciErrorCode> = { 401: 'UNAUTHORIZED', 403: 'DENIED', 404: 'NAME_UNKNOWN', 429: 'TOOMANYREQUESTS' }

/**
 * Confirms the client's access and, when the origin refuses, answers with the origin's status and
 * challenge; true when the request has been answered so.
 */
export async function refuseUnconfirmed (access: AccessCheck, res: ServerResponse, req: AccessRequest): Promise<boolean> {
  const denied = await access.confirm(req)
  if (denied == null) return false
  const headers: Record<string, string> = {}
  for (const name of ['www-authenticate', 'retry-after']) {
    const value = denied.headers[name]
    if (value != null) headers[name] = value
  }
  sendOciError(res, denied.status, DENIED_CODES[denied.status] ?? 'DENIED',
    `${req.registry.host} did not confirm this client's access to ${req.repository} (${denied.status})`, headers)
  return true
}
