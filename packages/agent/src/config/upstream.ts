import { ConfigError } from '../errors.ts'
import { parseDuration } from './values.ts'

/** One address that serves a registry: a mirror endpoint, or the registry itself. */
export interface UpstreamEndpoint {
  /** The host as credentials and `certs.d/<host>` are keyed (`docker.io` for the registry itself). */
  host: string
  /** Where its API lives. */
  baseUrl: URL
  /** Listed as insecure: plain HTTP allowed, or TLS without verification. */
  insecure: boolean
}

/** How long an upstream request may wait (milliseconds). */
export interface UpstreamTimeouts {
  /** To open a connection (TCP and TLS). */
  connectMs: number
  /** From the request sent to the response headers. */
  responseMs: number
  /** With no byte of a body arriving. */
  bodyIdleMs: number
}

/** Each endpoint's circuit breaker. */
export interface UpstreamBreakerConfig {
  /** Consecutive failures that open it. */
  failureThreshold: number
  /** How long it stays open before one probe goes through. */
  cooldownMs: number
}

/** A timeout: a duration of more than 0 ms. */
export function parseTimeout (field: string, value: unknown): number {
  const ms = parseDuration(field, value)
  if (ms <= 0) throw new ConfigError(`${field}: a timeout must be more than 0 (examples: 500ms, 3s)`)
  return ms
}

/** A whole number of at least 1. */
export function parseCount (field: string, value: unknown): number {
  const n = Number(value)
  if (String(value).trim() === '' || !Number.isSafeInteger(n) || n < 1) throw new ConfigError(`${field}: "${String(value)}" must be a whole number of at least 1`)
  return n
}
