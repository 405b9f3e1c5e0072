import type { UpstreamTimeouts } from '../config/index.ts'
import { UpstreamTlsError, UpstreamUnavailableError } from '../errors.ts'

const TLS_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID', 'CERT_SIGNATURE_FAILURE', 'CERT_NOT_YET_VALID'
])

function codeOf (err: unknown): string | undefined {
  let e = err as { code?: string, cause?: unknown } | undefined
  for (let depth = 0; e != null && depth < 5; depth++) {
    if (typeof e.code === 'string' && e.code !== 'UND_ERR_SOCKET') return e.code
    e = e.cause as typeof e
  }
  return undefined
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])

/** Whether a failure (or its cause) is a timeout: not worth a retry on the same endpoint. */
export function isTimeout (err: unknown): boolean {
  return TIMEOUT_CODES.has(codeOf(err) ?? '')
}

/**
 * Whether a body's error says the endpoint failed (the connection broke or stalled), rather than
 * that the agent stopped reading it (dumped it, or left it after the bytes it wanted).
 */
export function isBrokenBody (err: unknown): boolean {
  const e = err as { name?: string, code?: string } | undefined
  return e?.name !== 'AbortError' && e?.code !== 'UND_ERR_ABORTED' && e?.code !== 'ERR_STREAM_PREMATURE_CLOSE'
}

function timeoutText (code: string, timeouts: (UpstreamTimeouts & { patient?: true }) | undefined): string {
  if (timeouts == null) return code
  // A patient request (a piece, the rest of a blob) waits as long as a body may stall.
  const patient = timeouts.patient === true ? ' (for bytes of a blob under way), --upstream-idle-timeout' : undefined
  if (code === 'UND_ERR_CONNECT_TIMEOUT') return `no connection within ${timeouts.connectMs} ms${patient ?? ', --upstream-connect-timeout'}`
  if (code === 'UND_ERR_HEADERS_TIMEOUT') return `no response within ${timeouts.responseMs} ms${patient ?? ', --upstream-response-timeout'}`
  if (code === 'UND_ERR_BODY_TIMEOUT') return `the body stalled for ${timeouts.bodyIdleMs} ms, --upstream-idle-timeout`
  return code
}

/**
 * Turns a transport failure into an error that says which registry (and which of its endpoints)
 * and what to do, after the seed's troubleshooting table (x509 / timeout / unreachable).
 */
export function explainTransportError (err: unknown, registry: { host: string, origin: string, registry?: string }, certsDir: string, timeouts?: UpstreamTimeouts & { patient?: true }): Error {
  const code = codeOf(err)
  const what = (err as Error).message
  const mirrorOf = registry.registry != null && registry.registry !== registry.host ? ` (an endpoint of ${registry.registry})` : ''
  if (code != null && TLS_CODES.has(code)) {
    return new UpstreamTlsError(
      `x509: the TLS certificate of ${registry.origin} could not be verified (${code}). ` +
      `Put the registry's CA certificate in ${certsDir}/${registry.host}/ca.crt, ` +
      `or, for a test registry only, list ${registry.host} as insecure (--insecure-registry)`, { cause: err })
  }
  if (code != null && TIMEOUT_CODES.has(code)) {
    return new UpstreamUnavailableError(`network timeout talking to ${registry.origin}${mirrorOf} (${timeoutText(code, timeouts)}): check the network path and proxy to ${registry.host}, or configure another upstream`, { cause: err })
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'ECONNRESET' || code === 'EHOSTUNREACH' || code === 'UND_ERR_SOCKET') {
    return new UpstreamUnavailableError(`cannot reach ${registry.origin}${mirrorOf} (${code}): is the registry up and the address right?`, { cause: err })
  }
  if (code === 'EPROTO' || /wrong version number|packet length too long/i.test(what)) {
    return new UpstreamTlsError(`TLS handshake with ${registry.origin} failed: the registry may speak plain HTTP; if so list ${registry.host} as insecure and use http://`, { cause: err })
  }
  return new UpstreamUnavailableError(`request to ${registry.origin}${mirrorOf} failed: ${what}`, { cause: err })
}

/**
 * Reads what is left of a response nobody wants (an error answer, a stream given up on), so that its
 * connection can be reused. A failure only means the connection is closed instead: nothing is lost.
 */
export async function discardBody (body: { dump: () => Promise<void> } | undefined): Promise<void> {
  await body?.dump().catch(() => {})
}
