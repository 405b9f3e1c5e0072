import { Agent, request } from 'undici'
import type { Dispatcher } from 'undici'
import { PREFETCH_USER_AGENT } from '../constants.ts'
import { MAX_ERROR_BODY_BYTES, MIRROR_BODY_IDLE_TIMEOUT_MS, MIRROR_CONNECT_TIMEOUT_MS, MIRROR_HEADERS_TIMEOUT_MS } from './constants.ts'
import { InvalidMirrorError, MirrorAnswerError } from './errors.ts'
import { reasonForStatus } from './failure.ts'
import { formatRepository } from './reference.ts'

/** An agent's mirror (`http://127.0.0.1:65001`), spoken to through the OCI pull API only. */
export interface MirrorTarget {
  url: string
  /**
   * A job's own Authorization (a registry pull token from a Harbor preheat): sent with every request,
   * and the mirror forwards it to the origin instead of the agent's credentials. Never logged.
   */
  authorization?: string
}

export interface MirrorClientInit {
  /** Connections to the mirror at most. */
  connections: number
}

export interface MirrorGet {
  /** `/v2/...`, built from validated names */
  path: string
  /** `?ns=` value; '' for the default upstream */
  registry: string
  repository: string
  /** Other query parameters (tag list paging). */
  query?: URLSearchParams
  accept?: string
  /** What is asked for, for messages: `manifest team/app:v1` */
  what: string
  signal: AbortSignal
}

export interface MirrorResponse {
  headers: Record<string, string | undefined>
  body: Dispatcher.ResponseData['body']
  url: URL
}

/**
 * GETs from one mirror on a dispatcher of its own (bounded connections, connect, header and body
 * idle timeouts), closed by whoever made it. Anything but a 200 becomes a MirrorAnswerError whose
 * reason follows the status and whose message carries the OCI error body's message.
 */
export class MirrorClient {
  readonly #base: URL
  readonly #dispatcher: Agent
  readonly #authorization: string | undefined

  constructor (target: MirrorTarget, init: MirrorClientInit) {
    let base: URL
    try {
      base = new URL(target.url)
    } catch (err) {
      throw new InvalidMirrorError(`mirror URL "${String(target.url).slice(0, 100)}" does not parse`, { cause: err })
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new InvalidMirrorError(`mirror URL ${base.origin} is not http:// or https://`)
    this.#base = base
    this.#authorization = target.authorization
    this.#dispatcher = new Agent({
      connections: init.connections,
      connectTimeout: MIRROR_CONNECT_TIMEOUT_MS,
      headersTimeout: MIRROR_HEADERS_TIMEOUT_MS,
      bodyTimeout: MIRROR_BODY_IDLE_TIMEOUT_MS
    })
  }

  /** The mirror's host, for messages (never its userinfo). */
  get name (): string {
    return this.#base.host
  }

  url (path: string, registry: string, query?: URLSearchParams): URL {
    const url = new URL(path, this.#base.origin)
    for (const [key, value] of query ?? []) if (key !== 'ns') url.searchParams.append(key, value)
    if (registry !== '') url.searchParams.set('ns', registry)
    return url
  }

  async get (req: MirrorGet): Promise<MirrorResponse> {
    const url = this.url(req.path, req.registry, req.query)
    const headers: Record<string, string> = { 'user-agent': PREFETCH_USER_AGENT }
    if (req.accept != null) headers.accept = req.accept
    if (this.#authorization != null) headers.authorization = this.#authorization
    const res = await request(url, { method: 'GET', headers, dispatcher: this.#dispatcher, signal: req.signal })
    const flat = flatten(res.headers)
    if (res.statusCode === 200) return { headers: flat, body: res.body, url }
    const detail = await errorDetail(res.body, flat['content-type'])
    throw answerError(res.statusCode, detail, req, this.#authorization != null)
  }

  async close (): Promise<void> {
    // Every body has been read or dropped by now; destroy ends whatever an abort left behind.
    await this.#dispatcher.destroy()
  }
}

function answerError (status: number, detail: string | undefined, req: MirrorGet, jobCredential: boolean): MirrorAnswerError {
  const reason = reasonForStatus(status)
  const answered = `the mirror answered ${status}${detail != null ? `: ${detail}` : ''}`
  if (reason === 'unauthorized' && jobCredential) {
    return new MirrorAnswerError(reason, `the origin refused the job's own credentials (the Authorization the job was created with) for ${formatRepository(req)}; ` +
      `the token may be wrong, expired or not scoped for pull of this repository (${req.what}: ${answered})`, { status })
  }
  if (reason === 'unauthorized') {
    return new MirrorAnswerError(reason, `the origin refused the agent's credentials for ${formatRepository(req)} (or the agent has none for it); ` +
      `configure them with --docker-config or the config file's credentials (${req.what}: ${answered})`, { status })
  }
  if (reason === 'not-found') return new MirrorAnswerError(reason, `${req.what}: not found (${answered})`, { status })
  return new MirrorAnswerError(reason, `${req.what}: ${answered}`, { status })
}

/** The messages of an OCI error body (`{ errors: [{ code, message }] }`), when the body is one. */
async function errorDetail (body: Dispatcher.ResponseData['body'], contentType: string | undefined): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let total = 0
  try {
    for await (const chunk of body) {
      chunks.push(chunk as Buffer)
      total += (chunk as Buffer).byteLength
      if (total >= MAX_ERROR_BODY_BYTES) break
    }
  } catch {
    return undefined
  } finally {
    body.destroy()
  }
  if (!/\bjson\b/i.test(contentType ?? '')) return undefined
  try {
    const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { errors?: Array<{ code?: unknown, message?: unknown }> }
    const messages = (parsed.errors ?? [])
      .map(e => [e.code, e.message].filter(part => typeof part === 'string' && part !== '').join(': '))
      .filter(text => text !== '')
    return messages.length > 0 ? messages.join('; ').replace(/\s+/g, ' ').slice(0, 500) : undefined
  } catch {
    return undefined
  }
}

function flatten (headers: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {}
  for (const [k, v] of Object.entries(headers)) out[k] = Array.isArray(v) ? v.join(', ') : v
  return out
}
