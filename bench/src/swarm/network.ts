/**
 * The simulated network a scenario runs on, in either mode: where the origin is and how its egress
 * is counted, where the scheduler and each host run, and what each host's link is.
 */
import type { Place } from './places.ts'

export type Mode = 'netns' | 'loopback'

export interface HostSlot extends Place {
  /** --listen of the host's agent (its registry mirror), as seen from the host. */
  agentListen: string
  /** --p2p-listen of the host's agent. */
  p2pListen: string
  /** More agent flags: in loopback mode, the agent's own bandwidth limits standing in for the link. */
  agentFlags: string[]
  /** host:port of the origin as this host reaches it without an agent (the direct pull). */
  originHost: string
  /** host:port of a registry nothing serves, as seen from this host: the reference pulled through the agent. */
  closedHost: string
}

export interface SchedulerSlot extends Place {
  /** --listen of the scheduler. */
  listen: string
  /** --admin of the scheduler. */
  admin: string
}

export interface SwarmNetwork {
  readonly mode: Mode
  /** Each host link's rate, each direction. */
  readonly hostBytesPerSecond: number
  /** The origin as agents reach it. */
  readonly origin: { url: string, host: string }
  /** What the origin has sent over its link so far (netns: its veth's tx bytes; loopback: the shaping proxy's response bytes). */
  originEgressBytes: () => Promise<number>
  /**
   * TCP segments the origin has sent again so far (netns: its namespace's RetransSegs); absent in
   * loopback mode, where the origin shares the bench's own TCP stack.
   */
  originRetransmits?: () => Promise<number>
  /**
   * Every link's bytes so far, by machine name (h0, d3, origin), each direction as the machine
   * sees it; absent in loopback mode, where hosts share one interface.
   */
  linkCounters?: () => Promise<Map<string, { inBytes: number, outBytes: number }>>
  /** One line for the report on how egress is counted. */
  readonly egressCountedBy: string
  /** The TCP congestion control the machines' connections use (netns: each machine's namespace; loopback: the bench's own). */
  readonly congestionControl: string
  scheduler: () => Promise<SchedulerSlot>
  /** `count` hosts with the host link rate; `kind` h for swarm hosts, d for direct clients. */
  addHosts: (kind: 'h' | 'd', count: number, opts?: { signal?: AbortSignal }) => Promise<HostSlot[]>
  /** Removes hosts whose processes have stopped. */
  removeHosts: (hosts: HostSlot[]) => Promise<void>
  /** Stops the origin and removes everything (also done by the teardown it was given). */
  close: () => Promise<void>
}

/** Starts counting the origin's TCP retransmissions; what it returns gives the count since (undefined in loopback mode). */
export async function countOriginRetransmits (network: SwarmNetwork): Promise<() => Promise<number | undefined>> {
  const read = network.originRetransmits
  if (read == null) return async () => undefined
  const before = await read()
  return async () => (await read()) - before
}

export interface NetworkInit {
  /** Registry storage holding the pushed image. */
  registryDataDir: string
  workDir: string
  hostBytesPerSecond: number
  originBytesPerSecond: number
  /** Round trip added between the origin and everyone else (netns mode only); 0: none. */
  originRttMs: number
  /** TCP congestion control in every machine's namespace (netns mode only); unset: the machine's default. */
  congestionControl?: string
  signal: AbortSignal
}
