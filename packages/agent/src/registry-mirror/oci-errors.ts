import type { ServerResponse } from 'node:http'

/** Error codes of the distribution spec that a read-only mirror answers with. */
export type OciErrorCode =
  | 'BLOB_UNKNOWN' | 'MANIFEST_UNKNOWN' | 'MANIFEST_INVALID' | 'NAME_INVALID' | 'NAME_UNKNOWN' | 'DIGEST_INVALID'
  | 'UNAUTHORIZED' | 'DENIED' | 'UNSUPPORTED' | 'RANGE_INVALID' | 'TOOMANYREQUESTS' | 'UNAVAILABLE'

export function sendOciError (res: ServerResponse, status: number, code: OciErrorCode, message: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy()
    return
  }
  const body = JSON.stringify({ errors: [{ code, message, detail: null }] })
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'docker-distribution-api-version': 'registry/2.0'
  })
  res.end(res.req.method === 'HEAD' ? undefined : body)
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
