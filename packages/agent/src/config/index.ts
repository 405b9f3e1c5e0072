import { readFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import * as C from '../constants.ts'
import { ConfigError } from '../errors.ts'
import { dnsTargetText } from './dns-target.ts'
import { loadListenerTls, parseListenerSettings } from './listener.ts'
import { checkMetricsListen } from './metrics-listen.ts'
import type { ListenerTlsConfig } from './listener.ts'
import { AGENT_USAGE, OPTIONS, YAML_KEYS } from './options.ts'
import type { OptionName } from './options.ts'
import { parseP2pConfig } from './p2p.ts'
import { checkStorageQuota } from './storage.ts'
import type { P2pConfig } from './p2p.ts'
import { attachEndpoints, parseCount, parseTimeout, parseUpstreamEndpoints } from './upstream.ts'
import type { UpstreamBreakerConfig, UpstreamEndpoint, UpstreamTimeouts } from './upstream.ts'
import { parseBool, parseBytes, parseDuration, parseHostPort, parseRatio, parseRegistryHost } from './values.ts'
import type { HostPort } from './values.ts'

export type { HostPort } from './values.ts'
export { hostPortText } from './values.ts'
export { AGENT_USAGE } from './options.ts'
export type { ListenerTlsConfig, ListenerTlsMaterial } from './listener.ts'
export type { MembershipConfig, P2pConfig } from './p2p.ts'
export type { DnsTarget } from './dns-target.ts'
export { dnsTargetText } from './dns-target.ts'
export type { UpstreamBreakerConfig, UpstreamEndpoint, UpstreamTimeouts } from './upstream.ts'

export interface Credential { username: string, password: string }

export interface UpstreamConfig extends UpstreamEndpoint {
  /** The registry as runtimes name it (`docker.io`, `ghcr.io`, `127.0.0.1:5000`): what `?ns=` carries. */
  host: string
  /** Where its API lives (`https://registry-1.docker.io`). */
  baseUrl: URL
  /** Listed as insecure: plain HTTP allowed, or TLS without verification. */
  insecure: boolean
  /** Mirror endpoints tried in this order before the registry itself (`--upstream-endpoint`). */
  endpoints?: UpstreamEndpoint[]
}

export interface StorageConfig {
  /** Bytes the store may use; undefined means the data dir's file system size. */
  quotaBytes?: number
  highWatermark: number
  lowWatermark: number
  maxAgeMs: number
}

export interface AgentConfig {
  listen: HostPort
  /** HTTPS on the mirror listener (`--tls-cert`, `--tls-key`, `--tls-client-ca`); undefined: plain HTTP. */
  tls?: ListenerTlsConfig
  /** `--insecure-listen`: a listener other hosts reach may run without TLS (with a warning). */
  insecureListen: boolean
  /** `--metrics-listen`: a plain-HTTP listener with only /metrics, /healthz and /readyz; undefined: none. */
  metricsListen?: HostPort
  dataDir: string
  /**
   * A request is routed by `?ns=` or a registry path component; one that names neither goes to the
   * only upstream when there is one (see upstream/registries.ts). The first answers `GET /v2/` pings.
   */
  upstreams: UpstreamConfig[]
  insecureRegistries: string[]
  /** Follow `?ns=` to registries that are not configured (only for a listener nobody else reaches). */
  allowAnyRegistry: boolean
  /**
   * Repositories anyone may read (`registry/repository` globs, `*` for any characters): cached
   * content of these is served without asking the origin whether the client may read it.
   */
  publicRepositories: string[]
  /** The agent's own credentials per registry host (from the config file). */
  credentials: Record<string, Credential>
  /** A docker `config.json` whose `auths` add credentials. */
  dockerConfig?: string
  certsDir: string
  manifestTagTtlMs: number
  /** On SIGTERM/SIGINT, how long pulls in flight may go on before the agent stops anyway. */
  drainTimeoutMs: number
  storage: StorageConfig
  /** The peer network; undefined (off: mirror and origin only) with `--no-p2p`. */
  p2p?: P2pConfig
  /** Fetch from the origin what no peer gives (`--no-origin-fallback` turns it off). */
  originFallback: boolean
  limits: BandwidthLimits
  /** How long the origin's yes to a client is reused before it is asked again. */
  accessCheckTtlMs: number
  offlineAccess: OfflineAccessConfig
  /** Accepted but implausible values, each naming its field: the agent tells the operator at start. */
  warnings: string[]
  upstreamTimeouts: UpstreamTimeouts
  upstreamBreaker: UpstreamBreakerConfig
  /** One info line per blob and manifest request (`--no-access-log` turns it off). */
  accessLog: boolean
  /** Open connections to the mirror listener per client address, and in all (past them: 503 and Retry-After). */
  maxClientConnections: number
  maxConnections: number
  /** A client that accepts no byte of a blob body for this long is cut off (it stopped reading). */
  clientIdleTimeoutMs: number
}

/** Bytes per second; undefined is no limit. */
export interface BandwidthLimits {
  /** Piece bytes sent to peers. */
  uploadBytesPerS?: number
  /** Piece bytes received from peers. */
  downloadBytesPerS?: number
  /** Blob bytes received from origin registries. */
  originBytesPerS?: number
}

/**
 * Who gets cached content of a non-public repository while the origin cannot be asked: nobody
 * (`deny`), a client whose same credentials the origin said yes to within `windowMs` (`recent`),
 * or anyone (`allow`: for sites whose every image may be read by everyone on the host).
 */
export interface OfflineAccessConfig {
  policy: 'deny' | 'recent' | 'allow'
  windowMs: number
}

const DOCKER_HUB = 'docker.io'
const DOCKER_HUB_API = 'https://registry-1.docker.io'

export interface ResolveOptions {
  argv: string[]
  env?: NodeJS.ProcessEnv
  /** Read and check the TLS files (default true); `shoal configure` only needs to know that TLS is on. */
  checkTlsFiles?: boolean
}

/** Flags over environment over the YAML file over defaults, validated; errors name the field. */
export async function resolveAgentConfig (options: ResolveOptions): Promise<AgentConfig> {
  const env = options.env ?? {}
  let flags: Record<string, unknown>
  try {
    flags = parseArgs({ args: options.argv, options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${AGENT_USAGE}`, { cause: err })
  }
  const configFile = (flags.config ?? env.SHOAL_CONFIG) as string | undefined
  const file = configFile == null ? {} : await readYaml(configFile)

  const pick = (name: OptionName): { field: string, value: unknown } | undefined => {
    if (flags[name] != null) return { field: `--${name}`, value: flags[name] }
    const envName = `SHOAL_${name.toUpperCase().replaceAll('-', '_')}`
    const fromEnv = env[envName]
    if (fromEnv != null && fromEnv !== '') {
      const multiple = 'multiple' in OPTIONS[name]
      return { field: envName, value: multiple ? fromEnv.split(',').map(s => s.trim()).filter(Boolean) : fromEnv }
    }
    const key = YAML_KEYS[name]
    if (file[key] != null) return { field: `${configFile ?? 'config'}: ${key}`, value: file[key] }
    return undefined
  }
  const get = <T>(name: OptionName, parse: (field: string, value: unknown) => T, fallback: T): T => {
    const found = pick(name)
    return found == null ? fallback : parse(found.field, found.value)
  }

  const insecureRegistries = get('insecure-registry', (field, value) =>
    asList(field, value).map((v, i) => parseRegistryHost(`${field}[${i}]`, v)), [] as string[])
  const upstreams = get('upstream', (field, value) =>
    asList(field, value).map((v, i) => parseUpstream(`${field}[${i}]`, v, insecureRegistries)),
  [parseUpstream('upstreams', DOCKER_HUB, insecureRegistries)])
  if (upstreams.length === 0) throw new ConfigError('upstreams: at least one registry is needed')
  const endpoints = pick('upstream-endpoint')
  if (endpoints != null) {
    attachEndpoints(endpoints.field, upstreams, parseUpstreamEndpoints(endpoints.field, endpoints.value, (field, value) => parseUpstream(field, value, insecureRegistries)))
  }

  const storage: StorageConfig = {
    quotaBytes: get('storage-quota', parseBytes, undefined as number | undefined),
    highWatermark: get('gc-high-watermark', parseRatio, C.DEFAULT_GC_HIGH_WATERMARK),
    lowWatermark: get('gc-low-watermark', parseRatio, C.DEFAULT_GC_LOW_WATERMARK),
    maxAgeMs: get('gc-max-age', parseDuration, C.DEFAULT_GC_MAX_AGE_MS)
  }
  const warnings: string[] = []
  const quotaWarning = storage.quotaBytes == null ? undefined : checkStorageQuota(pick('storage-quota')?.field ?? 'storageQuota', storage.quotaBytes)
  if (quotaWarning != null) warnings.push(quotaWarning)
  if (storage.lowWatermark >= storage.highWatermark) {
    throw new ConfigError(`gcLowWatermark: ${storage.lowWatermark} must be below gcHighWatermark ${storage.highWatermark}`)
  }

  const listed = (name: 'p2p-listen' | 'bootstrap' | 'announce' | 'scheduler'): Array<{ field: string, value: unknown }> =>
    get(name, (field, value) => asList(field, value).map((v, i) => ({ field: `${field}[${i}]`, value: v })), [] as Array<{ field: string, value: unknown }>)
  const p2p = parseP2pConfig({
    off: (() => { const found = pick('no-p2p'); return found == null ? undefined : { field: found.field, value: parseBool(found.field, found.value) } })(),
    listen: listed('p2p-listen'),
    bootstrap: listed('bootstrap'),
    announce: listed('announce'),
    swarmKey: get('swarm-key', (field, value) => ({ field, value: asString(field, value) }), undefined as { field: string, value: string } | undefined),
    joinToken: get('join-token', (field, value) => ({ field, value: asString(field, value) }), undefined as { field: string, value: string } | undefined),
    members: get('members', (field, value) => ({ field, value: asString(field, value) }), undefined as { field: string, value: string } | undefined),
    sharePrivate: pick('share-private'),
    schedulers: listed('scheduler'),
    site: pick('site'),
    zone: pick('zone'),
    embeddedScheduler: (() => { const found = pick('embedded-scheduler'); return found == null ? undefined : { field: found.field, value: parseBool(found.field, found.value) } })()
  })

  if (p2p != null) checkSchedulerDnsKey(p2p)
  for (const target of [...p2p?.bootstrapDns ?? [], ...p2p?.schedulerDns ?? []]) {
    if (!target.name.includes('.')) warnings.push(`${dnsTargetText(target)}: the name is asked of the DNS servers as it is (no search domain of /etc/resolv.conf is added, /etc/hosts is not read): give the full name, like shoal-scheduler.shoal.svc.cluster.local`)
  }

  const listenFound = pick('listen')
  const listen = listenFound == null ? parseHostPort('listen', C.DEFAULT_LISTEN) : parseHostPort(listenFound.field, listenFound.value)
  const tlsFile = (name: 'tls-cert' | 'tls-key' | 'tls-client-ca'): { field: string, value: string } | undefined =>
    get(name, (field, value) => ({ field, value: asString(field, value) }), undefined as { field: string, value: string } | undefined)
  const listener = parseListenerSettings({
    listen,
    listenField: listenFound?.field,
    cert: tlsFile('tls-cert'),
    key: tlsFile('tls-key'),
    clientCa: tlsFile('tls-client-ca'),
    insecureListen: (() => { const found = pick('insecure-listen'); return found == null ? undefined : { field: found.field, value: parseBool(found.field, found.value) } })()
  })
  // Read and checked now: a bad PEM or a key of another certificate is a ConfigError naming the file.
  if (listener.tls != null && options.checkTlsFiles !== false) await loadListenerTls(listener.tls)
  if (listener.warning != null) warnings.push(listener.warning)
  const metricsListen = get('metrics-listen', (field, value) =>
    checkMetricsListen({ field, value: parseHostPort(field, value) }, { listen, listenField: listenFound?.field, p2pListen: p2p?.listen ?? [] }), undefined as HostPort | undefined)

  const originFallback = !get('no-origin-fallback', parseBool, false)
  if (!originFallback && p2p == null) throw new ConfigError('noOriginFallback: with the peer network off (--no-p2p) every blob comes from the origin')

  return {
    listen,
    tls: listener.tls,
    insecureListen: listener.insecureListen,
    metricsListen,
    dataDir: resolve(get('data-dir', asString, C.DEFAULT_DATA_DIR)),
    upstreams,
    insecureRegistries,
    allowAnyRegistry: get('allow-any-registry', parseBool, false),
    publicRepositories: get('public-repository', (field, value) => asList(field, value).map((v, i) => parsePublicRepository(`${field}[${i}]`, v)), [] as string[]),
    credentials: parseCredentials(file.credentials),
    dockerConfig: get('docker-config', asString, defaultDockerConfig(env)),
    certsDir: get('certs-dir', asString, C.DEFAULT_CERTS_DIR),
    manifestTagTtlMs: get('manifest-ttl', parseDuration, C.DEFAULT_MANIFEST_TAG_TTL_MS),
    drainTimeoutMs: get('drain-timeout', parseDuration, C.DEFAULT_DRAIN_TIMEOUT_MS),
    storage,
    p2p,
    originFallback,
    limits: {
      uploadBytesPerS: get('upload-limit', parseRate, undefined as number | undefined),
      downloadBytesPerS: get('download-limit', parseRate, undefined as number | undefined),
      originBytesPerS: get('origin-limit', parseRate, undefined as number | undefined)
    },
    accessCheckTtlMs: get('access-check-ttl', parseDuration, C.ACCESS_CHECK_TTL_MS),
    offlineAccess: {
      policy: get('offline-access', parseOfflinePolicy, 'recent'),
      windowMs: get('offline-access-window', parseDuration, C.DEFAULT_OFFLINE_ACCESS_WINDOW_MS)
    },
    warnings,
    upstreamTimeouts: {
      connectMs: get('upstream-connect-timeout', parseTimeout, C.DEFAULT_UPSTREAM_CONNECT_TIMEOUT_MS),
      responseMs: get('upstream-response-timeout', parseTimeout, C.DEFAULT_UPSTREAM_RESPONSE_TIMEOUT_MS),
      bodyIdleMs: get('upstream-idle-timeout', parseTimeout, C.DEFAULT_UPSTREAM_BODY_IDLE_TIMEOUT_MS)
    },
    upstreamBreaker: {
      failureThreshold: get('upstream-failures', parseCount, C.DEFAULT_UPSTREAM_FAILURE_THRESHOLD),
      cooldownMs: get('upstream-cooldown', parseTimeout, C.DEFAULT_UPSTREAM_COOLDOWN_MS)
    },
    accessLog: !get('no-access-log', parseBool, false),
    maxClientConnections: get('max-client-connections', parseCount, C.MIRROR_MAX_CONNECTIONS_PER_CLIENT),
    maxConnections: get('max-connections', parseCount, C.MIRROR_MAX_CONNECTIONS),
    clientIdleTimeoutMs: get('client-idle-timeout', parseTimeout, C.MIRROR_STALLED_CONNECTION_MS)
  }
}

/** A rate in bytes per second: `100MB`, `1GiB/s`, `500000`; more than 0. */
function parseRate (field: string, value: unknown): number {
  const bytes = parseBytes(field, String(value).trim().replace(/\/s$/i, ''))
  if (bytes <= 0) throw new ConfigError(`${field}: a rate must be more than 0 bytes per second`)
  return bytes
}

function parseOfflinePolicy (field: string, value: unknown): OfflineAccessConfig['policy'] {
  const text = String(value).trim().toLowerCase()
  if (text === 'deny' || text === 'recent' || text === 'allow') return text
  throw new ConfigError(`${field}: "${String(value)}" must be deny, recent or allow`)
}

/** `docker.io`, `ghcr.io`, `https://host:5000`, `http://127.0.0.1:5000` -> an upstream. */
export function parseUpstream (field: string, value: unknown, insecureRegistries: string[]): UpstreamConfig {
  const text = String(value).trim()
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `https://${text}`
  let url: URL
  try {
    url = new URL(withScheme)
  } catch (err) {
    throw new ConfigError(`${field}: "${text}" is not a registry URL (examples: docker.io, https://ghcr.io, http://127.0.0.1:5000)`, { cause: err })
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.pathname.replace(/\/+$/, '') !== '' || url.search !== '' || url.username !== '') {
    throw new ConfigError(`${field}: "${text}" must be http(s)://host[:port] with no path, query or user`)
  }
  const host = url.host === 'registry-1.docker.io' || url.host === 'index.docker.io' ? DOCKER_HUB : url.host
  const insecure = insecureRegistries.includes(host)
  if (url.protocol === 'http:' && !insecure) {
    throw new ConfigError(`${field}: "${text}" is plain HTTP; list ${host} under insecureRegistries (--insecure-registry) to allow it`)
  }
  if (host === DOCKER_HUB) return { host, baseUrl: new URL(DOCKER_HUB_API), insecure }
  // A bare host listed as insecure is spoken to over plain HTTP, as dockerd does for such registries.
  if (!/^[a-z]+:\/\//i.test(text) && insecure) url.protocol = 'http:'
  return { host, baseUrl: new URL(url.origin), insecure }
}

/** `docker.io/library/*`, `ghcr.io/org/app`, `*`: a registry host, a slash, a repository glob. */
function parsePublicRepository (field: string, value: unknown): string {
  const text = String(value).trim()
  if (text !== '*' && !/^[a-z0-9.:*\[\]-]+\/[a-z0-9._/*-]+$/.test(text)) {
    throw new ConfigError(`${field}: "${text}" must be REGISTRY/REPOSITORY with * as a wildcard (examples: docker.io/library/*, ghcr.io/org/*)`)
  }
  return text
}

function parseCredentials (value: unknown): Record<string, Credential> {
  if (value == null) return {}
  if (typeof value !== 'object' || Array.isArray(value)) throw new ConfigError('credentials: must map registry hosts to { username, password }')
  const out: Record<string, Credential> = {}
  for (const [host, entry] of Object.entries(value as Record<string, unknown>)) {
    const e = entry as Partial<Credential> | null
    if (typeof e?.username !== 'string' || typeof e.password !== 'string') {
      throw new ConfigError(`credentials.${host}: needs string username and password`)
    }
    out[parseRegistryHost(`credentials.${host}`, host)] = { username: e.username, password: e.password }
  }
  return out
}

async function readYaml (path: string): Promise<Record<string, unknown>> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    throw new ConfigError(`--config: cannot read ${path}: ${(err as Error).message}`, { cause: err })
  }
  let parsed: unknown
  try {
    // Loaded only for a config file: most agents run on flags and never pay for the YAML parser.
    const { parse: parseYaml } = await import('yaml')
    parsed = parseYaml(text)
  } catch (err) {
    throw new ConfigError(`--config: ${path} is not valid YAML: ${(err as Error).message}`, { cause: err })
  }
  if (parsed == null) return {}
  if (typeof parsed !== 'object' || Array.isArray(parsed)) throw new ConfigError(`--config: ${path} must be a YAML mapping`)
  const known = new Set([...Object.values(YAML_KEYS), 'credentials'])
  for (const key of Object.keys(parsed)) {
    if (!known.has(key)) throw new ConfigError(`${path}: unknown key "${key}" (known: ${[...known].join(', ')})`)
  }
  return parsed as Record<string, unknown>
}

function asList (field: string, value: unknown): unknown[] {
  if (Array.isArray(value)) return value
  if (typeof value === 'string') return [value]
  throw new ConfigError(`${field}: must be a list`)
}

function asString (field: string, value: unknown): string {
  if (typeof value !== 'string' || value === '') throw new ConfigError(`${field}: must be a non-empty string`)
  return value
}

function defaultDockerConfig (env: NodeJS.ProcessEnv): string | undefined {
  if (env.DOCKER_CONFIG != null) return join(env.DOCKER_CONFIG, 'config.json')
  return join(env.HOME ?? homedir(), '.docker', 'config.json')
}

/**
 * `--scheduler dns:` needs `--swarm-key`: the scheduler's peer id is learned from whoever answers at
 * the name's addresses, and it gets the join token, pushes members and directs downloads. The
 * swarm key is what an impostor lacks (it cannot complete the handshake).
 */
function checkSchedulerDnsKey (p2p: P2pConfig): void {
  const target = p2p.schedulerDns[0]
  if (target == null || p2p.swarmKeyFile != null) return
  throw new ConfigError(`--scheduler ${dnsTargetText(target)}: a scheduler found by name is whoever answers at its addresses; give --swarm-key too (a host without the key cannot complete the handshake), or the scheduler's multiaddr with /p2p/<peer id> (docs/membership.md)`)
}
