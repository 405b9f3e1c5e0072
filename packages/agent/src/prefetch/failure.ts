import { MirrorAnswerError } from './errors.ts'
import type { PrefetchFailure, PrefetchFailureReason } from './types.ts'

/** Error codes of undici and the OS that mean the mirror could not be reached or stopped answering. */
const UNAVAILABLE_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN',
  'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CLOSED',
  'UND_ERR_DESTROYED', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH'
])

/** Names of errors that say an answer or an input was malformed. */
const INVALID_NAMES = new Set([
  'InvalidReferenceError', 'InvalidTagFilterError', 'InvalidManifestError', 'InvalidDigestError', 'InvalidNameError', 'DigestMismatchError'
])

/** The reason an HTTP status of the mirror stands for. */
export function reasonForStatus (status: number): PrefetchFailureReason {
  if (status === 401 || status === 403) return 'unauthorized'
  if (status === 404) return 'not-found'
  if (status >= 500 || status === 429) return 'unavailable'
  if (status === 400) return 'invalid'
  return 'failed'
}

/** Why a signal aborted: the job's deadline (a TimeoutError reason) or a cancel. */
export function abortFailure (signal: AbortSignal): PrefetchFailure {
  const reason = signal.reason as { name?: string } | undefined
  return reason?.name === 'TimeoutError'
    ? { reason: 'timeout', message: 'the deadline passed before it was done' }
    : { reason: 'cancelled', message: 'cancelled' }
}

/**
 * The failure an error stands for, as resolveImages and fetchLayers report it. An aborted signal
 * wins over whatever error the abort caused.
 */
export function failureOf (err: unknown, signal: AbortSignal | undefined, what: string): PrefetchFailure {
  if (signal?.aborted === true) return abortFailure(signal)
  const e = err as Error
  if (e instanceof MirrorAnswerError || e?.name === 'MirrorAnswerError') return { reason: (e as MirrorAnswerError).reason, message: e.message }
  if (INVALID_NAMES.has(e?.name)) return { reason: 'invalid', message: e.message.includes(what) ? e.message : `${what}: ${e.message}` }
  const code = codeOf(err)
  if (code != null && UNAVAILABLE_CODES.has(code)) return { reason: 'unavailable', message: `${what}: the mirror could not be reached or stopped answering (${code}: ${e.message})` }
  return { reason: 'failed', message: `${what}: ${e?.message ?? String(err)}` }
}

function codeOf (err: unknown): string | undefined {
  let e = err as { code?: unknown, cause?: unknown } | undefined
  for (let depth = 0; e != null && depth < 5; depth++) {
    if (typeof e.code === 'string') return e.code
    e = e.cause as typeof e
  }
  return undefined
}
