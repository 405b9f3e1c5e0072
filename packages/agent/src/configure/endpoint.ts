import { isIPv4, isIPv6 } from 'node:net'
import { UsageError } from './errors.ts'

/** A validated `host[:port]`. `authority` is how it is written in config files (`[::1]:65001`). */
export interface Endpoint {
  readonly host: string
  readonly port?: number
  readonly authority: string
}

/** The agent's address: a port is required. */
export interface MirrorEndpoint extends Endpoint {
  readonly port: number
  /** The agent serves HTTPS (`--tls-cert`); absent: plain HTTP. */
  readonly tls?: MirrorTls
}

export interface MirrorTls {
  /** The CA that signed the agent's certificate (`--mirror-ca`); absent: the system CAs verify it. */
  readonly caFile?: string
}

/** `https://<mirror>` for an agent with TLS, else `http://<mirror>`. */
export function mirrorUrl (mirror: MirrorEndpoint): string {
  return `${mirror.tls == null ? 'http' : 'https'}://${mirror.authority}`
}

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/
/** Names that mean Docker Hub; image references always say `docker.io`. */
const DOCKER_HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

function isHostname (host: string): boolean {
  return host.length <= 253 && host.split('.').every(label => LABEL.test(label))
}

/** Parses `host[:port]` (IPv6 in brackets); returns undefined when it is not one. */
function parseHostPort (value: string): { host: string, port?: number } | undefined {
  const match = /^(\[[^\]]+\]|[^:[\]]+)(?::(\d{1,5}))?$/.exec(value)
  if (match == null) return undefined
  const rawHost = (match[1] ?? '').toLowerCase()
  const bracketed = rawHost.startsWith('[')
  const host = bracketed ? rawHost.slice(1, -1) : rawHost
  const valid = bracketed ? isIPv6(host) : isIPv4(host) || isHostname(host)
  if (!valid) return undefined
  if (match[2] === undefined) return { host }
  const port = Number(match[2])
  if (port < 1 || port > 65535) return undefined
  return { host, port }
}

function authorityOf (host: string, port?: number): string {
  const h = isIPv6(host) ? `[${host}]` : host
  return port === undefined ? h : `${h}:${port}`
}

/** `--mirror HOST:PORT`: the agent's address as runtimes reach it. */
export function parseMirror (value: string): MirrorEndpoint {
  const parsed = parseHostPort(value)
  if (parsed?.port === undefined) {
    throw new UsageError(`--mirror ${JSON.stringify(value)} is not HOST:PORT; give the agent's address without a scheme, e.g. --mirror 127.0.0.1:65001`)
  }
  return { host: parsed.host, port: parsed.port, authority: authorityOf(parsed.host, parsed.port) }
}

/** `--registry HOST[:PORT]`: a registry whose pulls go through the agent; Docker Hub is `docker.io`. */
export function parseRegistry (value: string): Endpoint {
  const parsed = parseHostPort(value)
  if (parsed === undefined) {
    throw new UsageError(`--registry ${JSON.stringify(value)} is not HOST[:PORT]; give the registry host as image names use it, without a scheme or path, e.g. --registry ghcr.io or --registry registry.local:5000`)
  }
  if (parsed.port === undefined && DOCKER_HUB_ALIASES.has(parsed.host)) {
    return { host: 'docker.io', authority: 'docker.io' }
  }
  return { ...parsed, authority: authorityOf(parsed.host, parsed.port) }
}

/** Loopback for dockerd's purposes: its default insecure range is 127.0.0.0/8 (and `localhost` resolves into it). */
export function isDockerDefaultInsecure (endpoint: Endpoint): boolean {
  return endpoint.host === 'localhost' || (isIPv4(endpoint.host) && endpoint.host.startsWith('127.'))
}
