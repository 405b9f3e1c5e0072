/**
 * loopback mode, where namespaces cannot be made: every process on 127.0.0.1, the origin behind
 * a shaping, counting proxy (one rate shared by everything it sends), direct clients each behind
 * a proxy at the host rate in front of that one, and agents held to the host rate by their own
 * --upload-limit, --download-limit and --origin-limit.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { freePort } from '@shoal/test/fixtures/index.ts'
import { startLinkProxy } from '../mirror/link-proxy.ts'
import type { LinkProxy } from '../mirror/link-proxy.ts'
import type { Teardown } from '../mirror/teardown.ts'
import type { HostSlot, NetworkInit, SwarmNetwork } from './network.ts'
import { BenchUsageError } from './errors.ts'
import { startOrigin } from './origin.ts'
import type { Place } from './places.ts'

const LOCAL: Place = { name: 'loopback' }

export async function createLoopbackNetwork (components: { teardown: Teardown }, init: NetworkInit): Promise<SwarmNetwork> {
  if (init.originRttMs > 0) throw new BenchUsageError('--origin-rtt-ms needs netns mode (root and iproute2): loopback mode has no origin link to delay')
  if (init.congestionControl != null) throw new BenchUsageError('--tcp-cc needs netns mode (root and iproute2): loopback mode runs on the bench\'s own TCP stack')
  const { teardown } = components
  const origin = await startOrigin({ name: 'origin' }, {
    addr: `127.0.0.1:${await freePort()}`,
    dataDir: init.registryDataDir,
    configDir: join(init.workDir, 'origin-config'),
    track: child => { teardown.track(child) },
    signal: AbortSignal.any([init.signal, AbortSignal.timeout(30_000)])
  })
  const stopOrigin = teardown.defer('origin registry', async () => { await origin.process.stop() })
  const link = await startLinkProxy({ target: { url: origin.url }, bytesPerSecond: init.originBytesPerSecond, signal: AbortSignal.any([init.signal, AbortSignal.timeout(15_000)]) })
  const stopLink = teardown.defer('origin link proxy', link.stop)
  const directLinks = new Map<string, { proxy: LinkProxy, stop: () => Promise<void> }>()
  const rate = String(Math.round(init.hostBytesPerSecond))

  return {
    mode: 'loopback',
    hostBytesPerSecond: init.hostBytesPerSecond,
    origin: { url: link.url, host: link.host },
    congestionControl: (await readFile('/proc/sys/net/ipv4/tcp_congestion_control', 'utf8').catch(() => 'unknown')).trim(),
    egressCountedBy: 'response body bytes of the shaping proxy in front of the origin (its link)',
    originEgressBytes: async () => link.egressBytes(),
    scheduler: async () => ({ ...LOCAL, name: 'scheduler', listen: `/ip4/127.0.0.1/tcp/${await freePort()}`, admin: '127.0.0.1:0' }),
    addHosts: async (kind, count, opts = {}) => {
      const hosts: HostSlot[] = []
      for (let i = 0; i < count; i++) {
        const name = `${kind}${i}`
        let originHost = link.host
        if (kind === 'd') {
          // The client's own link, in front of the origin's.
          const proxy = await startLinkProxy({ target: { url: link.url }, bytesPerSecond: init.hostBytesPerSecond, signal: opts.signal ?? init.signal })
          directLinks.set(name, { proxy, stop: teardown.defer(`link proxy of ${name}`, proxy.stop) })
          originHost = proxy.host
        }
        hosts.push({
          name,
          agentListen: '127.0.0.1:0',
          p2pListen: '/ip4/127.0.0.1/tcp/0',
          agentFlags: ['--upload-limit', rate, '--download-limit', rate, '--origin-limit', rate],
          originHost,
          // Free now and never listened on by the bench.
          closedHost: `127.0.0.1:${await freePort()}`
        })
      }
      return hosts
    },
    removeHosts: async hosts => {
      for (const host of hosts) {
        const direct = directLinks.get(host.name)
        directLinks.delete(host.name)
        await direct?.stop()
      }
    },
    close: async () => {
      for (const { stop } of directLinks.values()) await stop()
      directLinks.clear()
      await stopLink()
      await stopOrigin()
    }
  }
}
