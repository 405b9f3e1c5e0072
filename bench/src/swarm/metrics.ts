/**
 * Traffic by source, as each agent counts it on /metrics (read from the agent's own host). The
 * origin's egress is not taken from here: the network counts it at the origin's link.
 */
import { quantile } from '../mirror/stats.ts'
import { httpGetAt } from './places.ts'
import type { AgentService } from './services.ts'

export interface AgentTraffic {
  host: string
  /** Blob bytes the agent received from the origin. */
  fromOriginBytes: number
  /** Blob bytes the agent received from peers. */
  fromPeersBytes: number
  /** Piece bytes it sent to peers. */
  toPeersBytes: number
}

export async function readAgentTraffic (agent: AgentService, signal: AbortSignal): Promise<AgentTraffic> {
  const text = await httpGetAt(agent.host, new URL('/metrics', agent.url).href, { signal })
  return {
    host: agent.host.name,
    fromOriginBytes: sample(text, 'shoal_agent_blob_received_bytes_total{source="origin"}'),
    fromPeersBytes: sample(text, 'shoal_agent_blob_received_bytes_total{source="peer"}'),
    toPeersBytes: sample(text, 'shoal_agent_peer_served_bytes_total')
  }
}

/** One series of an agent's /metrics (`shoal_agent_peers_connected`), 0 when absent. */
export async function readAgentSeries (agent: AgentService, series: string, signal: AbortSignal): Promise<number> {
  return sample(await httpGetAt(agent.host, new URL('/metrics', agent.url).href, { signal }), series)
}

/** The value of one exposition line `name{labels} value`; 0 when the series was never touched. */
function sample (text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1))
  }
  return 0
}

export interface Completion {
  p50: number
  p90: number
  max: number
  min: number
  /** Hosts that finished (the quantiles are over these). */
  n: number
}

export function completionOf (seconds: readonly number[]): Completion {
  const sorted = [...seconds].sort((a, b) => a - b)
  return {
    p50: quantile(sorted, 0.5),
    p90: quantile(sorted, 0.9),
    max: sorted[sorted.length - 1] ?? Number.NaN,
    min: sorted[0] ?? Number.NaN,
    n: sorted.length
  }
}
