/**
 * podman, CRI-O, skopeo and buildah (containers/image): `/etc/containers/registries.conf`, version 2
 * format (containers-registries.conf(5)). Each mirrored registry gets a `[[registry]]` whose first
 * `[[registry.mirror]]` is the agent (plain HTTP, so `insecure = true`; with TLS, verified against
 * `/etc/containers/certs.d/<mirror>/ca.crt`, written from `--mirror-ca`); mirrors are tried in order,
 * then the registry's own `location`.
 */
import { stringify, type TomlTable } from 'smol-toml'
import { REGISTRIES_CONF } from './constants.ts'
import { registryPathComponent } from '../upstream/registries.ts'
import { ConfigureError } from './errors.ts'
import { parseTomlFile, tableArray } from './toml.ts'
import type { Endpoint, MirrorEndpoint } from './endpoint.ts'
import type { RegistryOrigin } from './origins.ts'

export interface RegistriesConfOptions {
  registries: readonly Endpoint[]
  mirror: MirrorEndpoint
  /**
   * How the agent reaches each registry (from its settings), by authority: a registry it reaches over
   * plain HTTP or unverified TLS gets `insecure = true`, so podman can reach it too when the agent is down.
   */
  origins?: ReadonlyMap<string, RegistryOrigin>
  /** The file's path, for error messages. */
  file?: string
}

/**
 * The agent as a mirror of one registry: `127.0.0.1:65001/ghcr.io`, so podman's requests
 * (`/v2/ghcr.io/org/app/...`, with no `?ns=` as containerd sends) tell the agent which registry they
 * are for. A repository path cannot hold `:`, so a port is written with `_`
 * (`registry.local:5000` -> `127.0.0.1:65001/registry.local_5000`); the agent reads it back
 * (upstream/registries.ts). An IPv6 literal cannot be written as a path component at all: refused,
 * because a bare agent location would leave the agent to guess the registry.
 */
export function agentLocation (mirror: MirrorEndpoint, registry: Endpoint): string {
  const component = registryPathComponent(registry.authority)
  if (component === undefined) {
    throw new ConfigureError(`podman cannot be pointed at the agent for ${registry.authority}: an IPv6 address cannot be written in the mirror's path, which is how the agent learns the registry of podman's requests; give the registry a host name (/etc/hosts) and use --registry NAME:PORT`)
  }
  return `${mirror.authority}/${component}`
}

/** The `[[registry]]` that governs exactly this prefix (`prefix` defaults to `location`). */
function findRegistry (registries: TomlTable[], prefix: string): TomlTable | undefined {
  return registries.find(entry => (entry.prefix ?? entry.location) === prefix)
}

/**
 * Returns the new registries.conf: every other setting kept (unqualified-search-registries,
 * aliases, other registries, other mirrors), the agent first among each registry's mirrors.
 * When the file already says that, it is returned unchanged (byte for byte).
 */
export function renderRegistriesConf (existing: string | undefined, opts: RegistriesConfOptions): string {
  const file = opts.file ?? REGISTRIES_CONF
  const before = parseTomlFile(existing, file)
  const doc = parseTomlFile(existing, file)
  if (doc.registries !== undefined) {
    throw new ConfigureError(`${file} uses the version 1 format ([registries.search], [registries.insecure]), which cannot be mixed with version 2: convert it to [[registry]] tables (see containers-registries.conf(5)) and run again`)
  }
  const registries = tableArray(doc.registry, 'registry', file)
  for (const registry of opts.registries) {
    let entry = findRegistry(registries, registry.authority)
    if (entry === undefined) {
      entry = { prefix: registry.authority, location: registry.authority }
      registries.push(entry)
    }
    if (opts.origins?.get(registry.authority)?.insecure === true) entry.insecure = true
    const mirrors = tableArray(entry.mirror, 'registry.mirror', file)
    const location = agentLocation(opts.mirror, registry)
    const previous = mirrors.find(mirror => mirror.location === location || mirror.location === opts.mirror.authority)
    const { insecure: _insecure, ...kept } = previous ?? {}
    // An agent with TLS is verified (its CA in /etc/containers/certs.d/<mirror>/ca.crt or the system's).
    const agentMirror: TomlTable = opts.mirror.tls == null ? { ...kept, location, insecure: true } : { ...kept, location }
    entry.mirror = [agentMirror, ...mirrors.filter(mirror => mirror !== previous)]
  }
  doc.registry = registries
  const rendered = stringify(doc)
  if (existing !== undefined && stringify(before) === rendered) return existing
  return rendered
}
