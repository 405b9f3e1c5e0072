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
