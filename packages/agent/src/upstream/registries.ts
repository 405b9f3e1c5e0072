import type { UpstreamConfig } from '../config/index.ts'
import { parseUpstream } from '../config/index.ts'
import { UnknownRegistryError } from '../errors.ts'

export interface RegistryRouterInit {
  upstreams: UpstreamConfig[]
  insecureRegistries: string[]
  allowAnyRegistry: boolean
}

/**
 * Which registry a request is for: the `?ns=` host containerd adds (matched against the configured
 * upstreams, `docker.io` and `registry-1.docker.io` alike), or the default (the first upstream).
 */
export class RegistryRouter {
  private readonly init: RegistryRouterInit
  private readonly byHost = new Map<string, UpstreamConfig>()

  constructor (init: RegistryRouterInit) {
    this.init = init
    for (const u of init.upstreams) if (!this.byHost.has(u.host)) this.byHost.set(u.host, u)
  }

  get default (): UpstreamConfig {
    const first = this.init.upstreams[0]
    if (first == null) throw new UnknownRegistryError('no upstream registry is configured')
    return first
  }

  /**
   * The registry and repository of a request. Without `?ns=`, a first path component naming a
   * configured registry selects it (`/v2/ghcr.io/org/app/...`): that is how a registries.conf
   * mirror location `127.0.0.1:65001/ghcr.io` tells the agent which registry podman meant.
   */
  route (name: string, ns: string | null): { registry: UpstreamConfig, name: string } {
    if (ns == null || ns === '') {
      const slash = name.indexOf('/')
      const first = slash > 0 ? name.slice(0, slash) : ''
      const named = first.includes('.') ? this.byHost.get(first) : undefined
      if (named != null) return { registry: named, name: name.slice(slash + 1) }
    }
    return { registry: this.resolve(ns), name }
  }

  resolve (ns: string | null): UpstreamConfig {
    if (ns == null || ns === '') return this.default
    const host = ns.toLowerCase() === 'registry-1.docker.io' || ns.toLowerCase() === 'index.docker.io' ? 'docker.io' : ns.toLowerCase()
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
