import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { DEFAULT_MIRROR, DEFAULT_REGISTRY } from './constants.ts'
import { parseMirror, parseRegistry, type Endpoint, type MirrorEndpoint } from './endpoint.ts'
import { UsageError } from './errors.ts'
import { hasAgentSettings, type AgentSettings } from './origins.ts'
import { TOML_COMMENTS_NOTE } from './toml.ts'

export const RUNTIMES = ['containerd', 'podman', 'docker'] as const
export type Runtime = typeof RUNTIMES[number]

export interface ConfigureOptions {
  runtime: Runtime
  mirror: MirrorEndpoint
  /** Deduplicated, Docker Hub spelled `docker.io`; empty when they are to be the agent's upstreams. */
  registries: Endpoint[]
  /** The agent's settings, where the command learns each registry's scheme (all empty: none given). */
  agent: AgentSettings
  /** Absolute; every system path is written under it. */
  root: string
  dryRun: boolean
}

export const USAGE = `Usage: shoal configure containerd|podman|docker [options]

Points a container runtime at the shoal agent: writes its registry mirror configuration,
merged with what is there, and keeps a backup <file>.shoal-backup-<timestamp> of a file it changes.
  containerd  /etc/containerd/certs.d/<registry>/hosts.toml (one per registry)
  podman      /etc/containers/registries.conf (podman, CRI-O, skopeo, buildah)
  docker      /etc/docker/daemon.json (registry-mirrors; dockerd mirrors docker.io only)

Options:
  --mirror HOST:PORT     the agent's address (default ${DEFAULT_MIRROR})
  --registry HOST[:PORT] a registry whose pulls go through the agent; repeatable (default: the agent's
                         upstreams when its settings are given below, else ${DEFAULT_REGISTRY})
  --mirror-ca FILE       the agent serves HTTPS (--tls-cert) with a certificate this CA signed: the runtime
                         reaches it over https and verifies it with FILE (containerd: ca = FILE)
  --config FILE          the agent's YAML config (with tlsCert: the agent is reached over https): its upstreams and insecureRegistries tell how the
                         runtime reaches each registry itself when the agent is down (http or https)
  --upstream URL         an upstream of the agent, as shoal agent --upstream; repeatable
  --insecure-registry HOST[:PORT]  a registry the agent reaches over plain HTTP (or unverified TLS),
                         as shoal agent --insecure-registry; repeatable
  --root DIR             write under DIR instead of / (staging roots, image builds)
  --dry-run              print each file that would be written, with its path; write nothing
  --help                 show this help

Running it again changes nothing. For TOML files, ${TOML_COMMENTS_NOTE}.`

/** Parses the arguments after `configure`; returns 'help' for --help. Throws UsageError. */
export function parseConfigureArgs (args: string[]): ConfigureOptions | 'help' {
  let parsed
  try {
    parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        mirror: { type: 'string', default: DEFAULT_MIRROR },
        registry: { type: 'string', multiple: true },
        config: { type: 'string' },
        'mirror-ca': { type: 'string' },
        upstream: { type: 'string', multiple: true },
        'insecure-registry': { type: 'string', multiple: true },
        root: { type: 'string', default: '/' },
        'dry-run': { type: 'boolean', default: false },
        help: { type: 'boolean', default: false }
      }
    })
  } catch (err) {
    throw new UsageError((err as Error).message, { cause: err })
  }
  const { values, positionals } = parsed
  if (values.help) return 'help'
  if (positionals.length !== 1) {
    throw new UsageError(positionals.length === 0
      ? 'name the runtime to configure: containerd, podman or docker'
      : `configure one runtime at a time (got ${positionals.join(' ')})`)
  }
  const runtime = RUNTIMES.find(name => name === positionals[0])
  if (runtime === undefined) {
    throw new UsageError(`unknown runtime ${JSON.stringify(positionals[0])}: use containerd, podman or docker`)
  }
  if (values.root === '') throw new UsageError('--root needs a directory')
  if (values.config === '') throw new UsageError('--config needs the agent\'s config file')
  if (values['mirror-ca'] === '') throw new UsageError('--mirror-ca needs the CA file that signed the agent\'s certificate')
  const agent: AgentSettings = { configFile: values.config, upstreams: values.upstream ?? [], insecureRegistries: values['insecure-registry'] ?? [] }
  const fromAgent = values.registry === undefined && hasAgentSettings(agent)
  const registries = new Map<string, Endpoint>()
  for (const value of values.registry ?? (fromAgent ? [] : [DEFAULT_REGISTRY])) {
    const registry = parseRegistry(value)
    registries.set(registry.authority, registry)
  }
  return {
    runtime,
    mirror: values['mirror-ca'] === undefined ? parseMirror(values.mirror) : { ...parseMirror(values.mirror), tls: { caFile: resolve(values['mirror-ca']) } },
    registries: [...registries.values()],
    agent,
    root: resolve(values.root),
    dryRun: values['dry-run']
  }
}
