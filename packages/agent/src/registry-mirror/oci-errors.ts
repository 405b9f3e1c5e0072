import { STATUS_CODES } from 'node:http'
import type { ServerResponse } from 'node:http'

/** Error codes of the distribution spec that a read-only mirror answers with. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'MANIFEST_INVALID' | 'NAME_INVALID' | 'NAME_UNKNOWN' | 'DIGEST_INVALID'
  | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' | 'RANGE_INVALID' | 'TOOMANYREQUESTS' | 'UNAVAILABLE'

/** The longest reason phrase the agent sends (a status line is no place for an essay). */
const MAX_REASON_CHARS = 400

/**
 * The status line's reason phrase for a server error: the standard text and then the sentence.
 * Clients print a 5xx's status line and ignore its body (containers/image: "received unexpected
 * HTTP status: 503 Service Unavailable: ..."), so the useful sentence goes there too, reduced to
 * printable ASCII.
 */
export function reasonPhrase (status: number, message: string): string | undefined {
  if (status < 500) return undefined
  const text = message.replace(/[^\x20-\x7e]+/g, ' ').replace(/\s+/g, ' ').trim()
  const phrase = `${STATUS_CODES[status] ?? 'Error'}: ${text}`
  return phrase.length > MAX_REASON_CHARS ? `${phrase.slice(0, MAX_REASON_CHARS - 3)}...` : phrase
}

/**
 * An OCI error body: `message` is the sentence that says what happened and what to do, `detail`
 * what else a client may show (the error's name and cause). For a 5xx the sentence is in the status
 * line too. Never put credentials or tokens in either.
 */
export function sendOciError (res: ServerResponse, status: number, code: OciErrorCode, message: string, headers: Record<string, string> = {}, detail: unknown = null): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify({ errors: [{ code, message, detail }] })
  const reason = reasonPhrase(status, message)
  if (reason != null) res.statusMessage = reason
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0'
  })
  res.end(res.req.method === 'HEAD' ? undefined : body)
}

/** The detail of an error's OCI body: its name and the messages of its causes. */
export function errorDetail (err: Error): { error: string, causes?: string[] } {
  const causes: string[] = []
  let cause = err.cause as Error | undefined
  for (let depth = 0; cause != null && depth < 3; depth++) {
    if (typeof cause.message === 'string' && cause.message !== '') causes.push(cause.message.slice(0, 300))
    cause = cause.cause as Error | undefined
  }
  return causes.length > 0 ? { error: err.name, causes } : { error: err.name }
}

/** Maps the agent's named errors to an HTTP status and OCI code; unknown errors are 500s. */
export function errorResponse (err: Error): { status: number, code: OciErrorCode } {
  switch (err.name) {
    case 'InvalidNameError': return { status: 400, code: 'NAME_INVALID' }
    case 'InvalidDigestError': return { status: 400, code: 'DIGEST_INVALID' }
    case 'DigestMismatchError': return { status: 502, code: 'DIGEST_INVALID' }
    case 'RangeNotSatisfiableError': return { status: 416, code: 'RANGE_INVALID' }
    case 'UnknownRegistryError':
    case 'UnroutableRequestError': return { status: 404, code: 'NAME_UNKNOWN' }
    case 'UpstreamUnauthorizedError': return { status: 401, code: 'UNAUTHORIZED' }
    case 'UpstreamTlsError': return { status: 502, code: 'UNAVAILABLE' }
    case 'UpstreamUnavailableError':
    case 'UnacceptableCachedManifestError':
    case 'NoPeerSourceError': return { status: 503, code: 'UNAVAILABLE' }
    case 'UpstreamProtocolError': return { status: 502, code: 'UNAVAILABLE' }
    case 'StorageFullError': return { status: 507, code: 'UNAVAILABLE' }
    default: return { status: 500, code: 'UNAVAILABLE' }
  }
}
