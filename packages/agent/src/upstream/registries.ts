import type { UpstreamConfig } from '../config/index.ts'
import { parseUpstream } from '../config/index.ts'
import { UnknownRegistryError, UnroutableRequestError } from '../errors.ts'

export interface RegistryRouterInit {
  upstreams: UpstreamConfig[]
  insecureRegistries: string[]
  allowAnyRegistry: boolean
}

/** What a request tells about itself beyond its path: containerd's `?ns=`, the client's User-Agent. */
export interface RouteHints {
  ns: string | null
  userAgent?: string
}

const DOCKER_HUB = 'docker.io'

/**
 * A registry as the first component of a repository path, for a client that cannot add `?ns=`
 * (podman, CRI-O, skopeo: a registries.conf mirror location `127.0.0.1:65001/<component>`).
 * The repository-name grammar forbids `:`, so a port is joined with `_`, which no registry host
 * contains (`registry.local:5000` -> `registry.local_5000`); `ghcr.io` and `localhost` stay as they
 * are. An IPv6 literal cannot be written so: undefined.
 */
export function registryPathComponent (host: string): string | undefined {
  const match = /^([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::(\d{1,5}))?$/.exec(host.toLowerCase())
  if (match == null) return undefined
  return match[2] === undefined ? match[1] : `${match[1]}_${match[2]}`
}

/** The registry host a first path component names (`registry.local_5000` -> `registry.local:5000`). */
export function registryFromPathComponent (component: string): string {
  const match = /^(.+)_(\d{1,5})$/.exec(component)
  return match == null ? component : `${match[1]}:${match[2]}`
}

/** dockerd's User-Agent (`docker/24.0.7 go/go1.20.10 ...`): its `registry-mirrors` serve Docker Hub only. */
function isDockerd (userAgent: string | undefined): boolean {
  return userAgent?.startsWith('docker/') === true
}

/**
 * Which registry a request is for. In order:
 * 1. the `?ns=` host containerd adds (matched against the configured upstreams, `docker.io` and
 *    `registry-1.docker.io` alike);
 * 2. a first path component naming a configured registry, `:` written `_` (see registryPathComponent);
 * 3. the default registry, but only where that cannot be a guess: the only upstream when there is
 *    one, or Docker Hub for dockerd, whose mirrors are Docker Hub's by definition.
 * Anything else is refused (UnroutableRequestError, a 404 that makes the runtime fall back to the
 * registry itself): with several upstreams a bare `/v2/test/a/manifests/v1` could be for any of
 * them, and answering from the first once gave podman another registry's image under the same name.
 */
export class RegistryRouter {
  private readonly init: RegistryRouterInit
  private readonly byHost = new Map<string, UpstreamConfig>()

  constructor (init: RegistryRouterInit) {
    this.init = init
    for (const u of init.upstreams) if (!this.byHost.has(u.host)) this.byHost.set(u.host, u)
  }

  /** The first upstream: what `GET /v2/` without `?ns=` pings (it carries no repository to route by). */
  get default (): UpstreamConfig {
    const first = this.init.upstreams[0]
    if (first == null) throw new UnknownRegistryError('no upstream registry is configured')
    return first
  }

  /** The registry and repository of a request (see the class comment for the rules). */
  route (name: string, hints: RouteHints): { registry: UpstreamConfig, name: string } {
    if (hints.ns != null && hints.ns !== '') return { registry: this.resolve(hints.ns), name }
    const slash = name.indexOf('/')
    if (slash > 0) {
      const named = this.byHost.get(registryFromPathComponent(name.slice(0, slash)))
      if (named != null) return { registry: named, name: name.slice(slash + 1) }
    }
    if (this.byHost.size === 1) return { registry: this.default, name }
    const dockerHub = this.byHost.get(DOCKER_HUB)
    if (dockerHub != null && isDockerd(hints.userAgent)) return { registry: dockerHub, name }
    const hosts = [...this.byHost.keys()]
    throw new UnroutableRequestError(`repository ${name.slice(0, 100)} names no registry, and this agent mirrors ${hosts.length} (${hosts.join(', ').slice(0, 300)}): ` +
      'say which with ?ns=<registry> (containerd) or with the registry as the first path component, ":" written "_" ' +
      `(a registries.conf mirror location such as 127.0.0.1:65001/${registryPathComponent(hosts.find(h => h.includes(':')) ?? hosts[0] ?? '') ?? 'ghcr.io'}, which shoal configure podman writes)`)
  }

  /**
   * What `GET /v2/` is answered from: it names no repository, so `?ns=`, else Docker Hub for
   * dockerd, else the first upstream (a ping serves no content, only the registry's auth challenge).
   */
  pingTarget (hints: RouteHints): UpstreamConfig {
    if ((hints.ns == null || hints.ns === '') && isDockerd(hints.userAgent)) {
      const dockerHub = this.byHost.get(DOCKER_HUB)
      if (dockerHub != null) return dockerHub
    }
    return this.resolve(hints.ns)
  }

  resolve (ns: string | null): UpstreamConfig {
    if (ns == null || ns === '') return this.default
    const host = ns.toLowerCase() === 'registry-1.docker.io' || ns.toLowerCase() === 'index.docker.io' ? DOCKER_HUB : ns.toLowerCase()
    const known = this.byHost.get(host)
    if (known != null) return known
    if (!this.init.allowAnyRegistry) {
      throw new UnknownRegistryError(`registry ${host} is not mirrored here (configure it with --upstream, or --allow-any-registry)`)
    }
    try {
      const upstream = parseUpstream('ns', host, this.init.insecureRegistries)
      this.byHost.set(host, upstream)
      return upstream
    } catch (err) {
      throw new UnknownRegistryError(`?ns=${host.slice(0, 100)} is not a registry host`, { cause: err })
    }
  }
}
