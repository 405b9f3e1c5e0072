import type { AgentConfig } from './index.ts'

/** Fields of AgentConfig a running agent takes over on SIGHUP (see Agent.reload). */
export const RELOADABLE_FIELDS = [
  'upstreams', 'insecureRegistries', 'allowAnyRegistry', 'publicRepositories', 'credentials', 'dockerConfig',
  'certsDir', 'storage', 'limits', 'accessCheckTtlMs', 'offlineAccess', 'drainTimeoutMs',
  // A reload makes a new upstream client, with these timeouts and breakers (its circuits start closed).
  'upstreamTimeouts', 'upstreamBreaker'
] as const satisfies ReadonlyArray<keyof AgentConfig>

/** Not settings: what the agent was told about the config at start. */
const NOT_SETTINGS = new Set<keyof AgentConfig>(['warnings'])

export interface ConfigChanges {
  /** Reloadable fields whose value differs: the new value applies from now on. */
  applied: Array<keyof AgentConfig>
  /** Fields whose value differs but which a running agent cannot change: they apply after a restart. */
  needsRestart: Array<keyof AgentConfig>
}

/**
 * What differs between the running config and a new one, field by field (values compared as JSON,
 * so URLs and nested objects compare by content). Credentials are named, never shown.
 */
export function configChanges (running: AgentConfig, next: AgentConfig): ConfigChanges {
  const reloadable = new Set<keyof AgentConfig>(RELOADABLE_FIELDS)
  const applied: Array<keyof AgentConfig> = []
  const needsRestart: Array<keyof AgentConfig> = []
  const fields = new Set([...Object.keys(running), ...Object.keys(next)] as Array<keyof AgentConfig>)
  for (const field of fields) {
    if (NOT_SETTINGS.has(field) || JSON.stringify(running[field]) === JSON.stringify(next[field])) continue
    if (reloadable.has(field) || (field === 'tls' && tlsSwappable(running, next))) applied.push(field)
    else needsRestart.push(field)
  }
  return { applied, needsRestart }
}

/**
 * New TLS files of a listener that has TLS are taken in place (MirrorServer.setTls); turning TLS on
 * or off, or client certificates on or off, needs a new listener: a restart.
 */
export function tlsSwappable (running: AgentConfig, next: AgentConfig): boolean {
  return running.tls != null && next.tls != null && (running.tls.clientCaFile == null) === (next.tls.clientCaFile == null)
}

/** The names an operator knows a field by (YAML keys; a group for fields made of several keys). */
const SETTING_NAMES: Partial<Record<keyof AgentConfig, string>> = {
  manifestTagTtlMs: 'manifestTtl',
  drainTimeoutMs: 'drainTimeout',
  accessCheckTtlMs: 'accessCheckTtl',
  originFallback: 'noOriginFallback',
  storage: 'storage (storageQuota, gcHighWatermark, gcLowWatermark, gcMaxAge)',
  limits: 'limits (uploadLimit, downloadLimit, originLimit)',
  offlineAccess: 'offlineAccess, offlineAccessWindow',
  upstreamTimeouts: 'upstreamConnectTimeout, upstreamResponseTimeout, upstreamIdleTimeout',
  upstreamBreaker: 'upstreamFailures, upstreamCooldown',
  accessLog: 'noAccessLog',
  tls: 'tlsCert, tlsKey, tlsClientCa',
  p2p: 'peer network (p2pListen, bootstrap, announce, swarmKey, schedulers, site, zone, embeddedScheduler, noP2p)'
}

/** How a field is named in what the operator reads: its YAML key. */
export function settingName (field: keyof AgentConfig): string {
  return SETTING_NAMES[field] ?? field
}
