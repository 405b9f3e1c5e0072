import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from '../../../../test/fixtures/index.ts'
import type { CountingProxy, ProxyMode, StartCountingProxyOptions } from '../../../../test/fixtures/index.ts'
import type { Digest } from '@shoal/proto'
import { parseUpstream } from '../../src/config/index.ts'
import { UpstreamClient } from '../../src/upstream/client.ts'

const MiB = 1024 * 1024

export interface TestOrigin {
  upstream: UpstreamClient
  req: { registry: ReturnType<typeof parseUpstream>, repository: string, digest: Digest }
  proxy?: CountingProxy
}

/** A real registry holding `layer`, reached directly or (`proxy`: its mode or options) through a counting proxy in front of it; stopped at the test's end. */
export async function registryOrigin (t: ExecutionContext, layer = layerFixture({ size: 3 * MiB, seed: 11 }), proxy?: ProxyMode | StartCountingProxyOptions): Promise<TestOrigin> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layer] })
  const proxied = proxy == null ? undefined : await startCountingProxy(registry, typeof proxy === 'string' ? { mode: proxy } : proxy)
  if (proxied != null) t.teardown(proxied.stop)
  const upstream = new UpstreamClient({ credentials: new Map(), certsDir: '/nonexistent' })
  t.teardown(async () => { await upstream.stop() })
  const url = proxied?.url ?? registry.url
  const registryConfig = parseUpstream('upstreams[0]', url, [new URL(url).host])
  return { upstream, req: { registry: registryConfig, repository: 'team/app', digest: image.layers[0]!.digest as Digest }, proxy: proxied }
}
