/**
 * netns mode: the origin, the scheduler and every host in namespaces of their own on one bridge,
 * host and origin links shaped by tbf, origin egress read from the origin's veth.
 */
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Teardown } from '../mirror/teardown.ts'
import { AGENT_HTTP_PORT, AGENT_P2P_PORT, CLOSED_PORT, ORIGIN_DELAY_PORT, ORIGIN_PORT, SCHEDULER_ADMIN_PORT, SCHEDULER_P2P_PORT, SERVICE_READY_TIMEOUT_MS } from './constants.ts'
import { Topology } from './netns.ts'
import type { Machine } from './netns.ts'
import type { HostSlot, NetworkInit, SwarmNetwork } from './network.ts'
import { startOrigin } from './origin.ts'
import { spawnAt, waitForHttp } from './places.ts'

/** Octets of the run's /24: the origin, the scheduler, then swarm hosts and direct clients. */
const ORIGIN_OCTET = 1
const SCHEDULER_OCTET = 2
const FIRST_HOST_OCTET = 10
const FIRST_DIRECT_OCTET = 130

export async function createNetnsNetwork (components: { teardown: Teardown }, init: NetworkInit): Promise<SwarmNetwork> {
  const { teardown } = components
  const topology = await Topology.create({ congestionControl: init.congestionControl, signal: init.signal })
  const removeAll = teardown.defer(`namespaces ${topology.prefix}-*`, async () => { await topology.remove() })
  const originMachine = await topology.addMachine({ name: 'origin', octet: ORIGIN_OCTET, bytesPerSecond: init.originBytesPerSecond }, { signal: init.signal })
  const congestionControl = await topology.congestionControlOf(originMachine, { signal: init.signal })
  const origin = await startOrigin(originMachine, {
    addr: `${originMachine.ip}:${ORIGIN_PORT}`,
    dataDir: init.registryDataDir,
    configDir: join(init.workDir, 'origin-config'),
    track: child => { teardown.track(child) },
    signal: AbortSignal.any([init.signal, AbortSignal.timeout(30_000)])
  })
  const stopOrigin = teardown.defer('origin registry', async () => { await origin.process.stop() })
  const delayed = init.originRttMs > 0 ? await startOriginDelay(originMachine, origin.host, init, teardown) : undefined
  const stopDelay = delayed == null ? async () => {} : teardown.defer('origin delay proxy', delayed.stop)
  const reached = delayed ?? origin

  let schedulerMachine: Machine | undefined
  const machines = new Map<string, Machine>()
  let next = { h: FIRST_HOST_OCTET, d: FIRST_DIRECT_OCTET }

  const slot = (m: Machine): HostSlot => ({
    name: m.name,
    netns: m.netns,
    agentListen: `127.0.0.1:${AGENT_HTTP_PORT}`,
    p2pListen: `/ip4/${m.ip}/tcp/${AGENT_P2P_PORT}`,
    agentFlags: [],
    originHost: reached.host,
    closedHost: `127.0.0.1:${CLOSED_PORT}`
  })

  return {
    mode: 'netns',
    hostBytesPerSecond: init.hostBytesPerSecond,
    origin: { url: reached.url, host: reached.host },
    congestionControl,
    egressCountedBy: `tx bytes of the origin's veth (${originMachine.netns}/eth0, Ethernet/IP/TCP headers included, MTU 9000)`,
    originEgressBytes: async () => topology.txBytes(originMachine),
    originRetransmits: async () => topology.tcpRetransmits(originMachine, { signal: init.signal }),
    linkCounters: async () => topology.linkCounters({ signal: init.signal }),
    scheduler: async () => {
      schedulerMachine ??= await topology.addMachine({ name: 'scheduler', octet: SCHEDULER_OCTET }, { signal: init.signal })
      const m = schedulerMachine
      return { name: m.name, netns: m.netns, listen: `/ip4/${m.ip}/tcp/${SCHEDULER_P2P_PORT}`, admin: `127.0.0.1:${SCHEDULER_ADMIN_PORT}` }
    },
    addHosts: async (kind, count, opts = {}) => {
      const hosts: HostSlot[] = []
      for (let i = 0; i < count; i++) {
        const octet = next[kind]++
        const m = await topology.addMachine({ name: `${kind}${i}`, octet, bytesPerSecond: init.hostBytesPerSecond }, { signal: opts.signal ?? init.signal })
        machines.set(m.name, m)
        hosts.push(slot(m))
      }
      return hosts
    },
    removeHosts: async hosts => {
      for (const host of hosts) {
        const m = machines.get(host.name)
        if (m == null) continue
        machines.delete(host.name)
        await topology.removeMachine(m)
      }
      // The next set of hosts of a kind starts its octets over.
      if (machines.size === 0) next = { h: FIRST_HOST_OCTET, d: FIRST_DIRECT_OCTET }
    },
    close: async () => {
      await stopDelay()
      await stopOrigin()
      await removeAll()
    }
  }
}

/**
 * The origin as hosts reach it across a WAN: a delaying proxy (delay-proxy.ts) in the origin's own
 * namespace, in front of the registry, half the round trip each way. Its egress is the origin
 * link's, so the veth counters still count what the origin sends.
 */
async function startOriginDelay (machine: Machine, registry: string, init: NetworkInit, teardown: Teardown): Promise<{ url: string, host: string, stop: () => Promise<void> }> {
  const host = `${machine.ip}:${ORIGIN_DELAY_PORT}`
  const script = fileURLToPath(new URL('./delay-proxy.ts', import.meta.url))
  const proxy = spawnAt(machine, process.execPath, [script, host, registry, String(init.originRttMs / 2)], { track: child => { teardown.track(child) } })
  const url = `http://${host}`
  try {
    await waitForHttp(machine, `${url}/v2/`, { signal: AbortSignal.any([init.signal, AbortSignal.timeout(SERVICE_READY_TIMEOUT_MS)]), process: proxy, what: `the origin's delay proxy in ${machine.name}` })
  } catch (err) {
    await proxy.stop()
    throw err
  }
  return { url, host, stop: async () => { await proxy.stop() } }
}
