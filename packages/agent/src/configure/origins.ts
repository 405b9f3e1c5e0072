/**
 * Where each registry really is, as the agent sees it: the runtime falls back to the registry itself
 * when the agent is down, and must then use the scheme the agent uses (plain HTTP for a registry
 * listed as insecure, TLS without verification for an insecure https one). The command learns it
 * from the agent's own settings: `--config FILE` (the agent's YAML), `--upstream URL` and
 * `--insecure-registry HOST[:PORT]`, parsed by the agent's own code so both read them alike.
 */
import { resolveAgentConfig, type UpstreamConfig } from '../config/index.ts'
import { parseUpstream } from '../config/index.ts'
import { ConfigureError, UsageError } from './errors.ts'
import type { Endpoint } from './endpoint.ts'

/** The agent settings given to `shoal configure`; all empty means none. */
export interface AgentSettings {
  configFile?: string
  upstreams: string[]
  insecureRegistries: string[]
}

/** What the agent's settings say about the registries. */
export interface AgentRegistries {
  upstreams: UpstreamConfig[]
  insecureRegistries: string[]
  allowAnyRegistry: boolean
  /** The agent serves its mirror over HTTPS (tlsCert in its config). */
  tls: boolean
}

/** How the runtime reaches a registry itself. */
export interface RegistryOrigin {
  /** `http://127.0.0.1:5000`, `https://registry-1.docker.io`: scheme, host and port, no path. */
  server: string
  /** Listed as insecure: plain HTTP, or TLS without verification when `server` is https. */
  insecure: boolean
}

export function hasAgentSettings (settings: AgentSettings): boolean {
  return settings.configFile !== undefined || settings.upstreams.length > 0 || settings.insecureRegistries.length > 0
}

/** Reads the agent's settings as `shoal agent` would (flags over the file); errors name the field. */
export async function loadAgentRegistries (settings: AgentSettings): Promise<AgentRegistries> {
  const argv = [
    ...(settings.configFile === undefined ? [] : ['--config', settings.configFile]),
    ...settings.upstreams.flatMap(url => ['--upstream', url]),
    ...settings.insecureRegistries.flatMap(host => ['--insecure-registry', host])
  ]
  try {
    // The agent's key is for the agent: a host that only configures its runtime need not read it.
    const config = await resolveAgentConfig({ argv, env: {}, checkTlsFiles: false })
    return { upstreams: config.upstreams, insecureRegistries: config.insecureRegistries, allowAnyRegistry: config.allowAnyRegistry, tls: config.tls != null }
  } catch (err) {
    if ((err as Error).name !== 'ConfigError') throw err
    const message = (err as Error).message.split('\n')[0] ?? ''
    // A file that cannot be read or parsed is a file problem; a bad value is a usage problem.
    if (message.startsWith('--config')) throw new ConfigureError(`the agent's settings: ${message}`, { cause: err })
    throw new UsageError(`the agent's settings: ${message}`, { cause: err })
  }
}

/**
 * The registry's origin as the agent reaches it: an upstream's base URL, else what the agent would
 * use for it after `?ns=` (`http://` when listed as insecure, `https://` otherwise).
 */
export function registryOrigin (registry: Endpoint, agent: AgentRegistries): RegistryOrigin {
  const upstream = agent.upstreams.find(u => u.host === registry.authority) ??
    parseUpstream(`--registry ${registry.authority}`, registry.authority, agent.insecureRegistries)
  return { server: upstream.baseUrl.origin, insecure: upstream.insecure }
}

/** Whether the agent serves this registry's pulls for requests that name it. */
export function isMirrored (registry: Endpoint, agent: AgentRegistries): boolean {
  return agent.upstreams.some(u => u.host === registry.authority)
}
