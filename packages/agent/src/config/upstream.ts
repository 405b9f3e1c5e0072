import { ConfigError } from '../errors.ts'
import { parseDuration, parseRegistryHost } from './values.ts'

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

function registryKey (field: string, value: unknown): string {
  const host = parseRegistryHost(field, value)
  return host === 'registry-1.docker.io' || host === 'index.docker.io' ? 'docker.io' : host
}

/**
 * The mirror endpoints of each registry, in the order given: `REGISTRY=URL` entries (the repeatable
 * flag, the comma-separated variable) or the YAML map `{ REGISTRY: [URL, ...] }`.
 */
export function parseUpstreamEndpoints (field: string, value: unknown, parseEndpoint: (field: string, value: unknown) => UpstreamEndpoint): Map<string, UpstreamEndpoint[]> {
  const out = new Map<string, UpstreamEndpoint[]>()
  const add = (entryField: string, registry: unknown, url: unknown): void => {
    const key = registryKey(entryField, registry)
    const list = out.get(key) ?? []
    list.push(parseEndpoint(entryField, url))
    out.set(key, list)
  }
  if (value != null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [registry, urls] of Object.entries(value as Record<string, unknown>)) {
      const list = Array.isArray(urls) ? urls : [urls]
      list.forEach((url, i) => { add(`${field}.${registry}[${i}]`, registry, url) })
    }
    return out
  }
  const entries = Array.isArray(value) ? value : [value]
  entries.forEach((entry, i) => {
    const text = String(entry)
    const eq = text.indexOf('=')
    if (eq <= 0) throw new ConfigError(`${field}[${i}]: "${text}" must be REGISTRY=URL (example: docker.io=https://harbor-1.example.com)`)
    add(`${field}[${i}]`, text.slice(0, eq).trim(), text.slice(eq + 1).trim())
  })
  return out
}

/** Gives each configured registry its endpoints; an endpoint of a registry that is not mirrored is an error. */
export function attachEndpoints<T extends UpstreamEndpoint & { endpoints?: UpstreamEndpoint[] }> (field: string, upstreams: T[], endpoints: Map<string, UpstreamEndpoint[]>): T[] {
  for (const [registry, list] of endpoints) {
    const upstream = upstreams.find(u => u.host === registry)
    if (upstream == null) throw new ConfigError(`${field}: ${registry} is not a mirrored registry (add it with --upstream ${registry})`)
    const itself = list.find(e => e.baseUrl.origin === upstream.baseUrl.origin)
    if (itself != null) throw new ConfigError(`${field}: ${itself.baseUrl.origin} is ${registry} itself, which is always tried last; list only other endpoints`)
    upstream.endpoints = list
  }
  return upstreams
}
