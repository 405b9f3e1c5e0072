import { request } from 'undici'

/** What the agent says it moved, from its Prometheus /metrics. */
export interface AgentCounters {
  /** Blob bytes the agent received from the origin. */
  upstreamBytes: number
  /** Blob bytes the agent received from peers. */
  peerBytes: number
  /** Piece bytes the agent sent to peers. */
  sentToPeersBytes: number
  /** Blob bytes sent to clients from its store. */
  servedLocalBytes: number
  /** Blob bytes sent to clients while they were being downloaded (from the origin or from peers). */
  servedUpstreamBytes: number
}

export async function readAgentCounters (agentUrl: string, signal: AbortSignal): Promise<AgentCounters> {
  const res = await request(new URL('/metrics', agentUrl), { signal })
  const text = await res.body.text()
  if (res.statusCode !== 200) throw new Error(`GET ${agentUrl}/metrics answered ${res.statusCode}`)
  return {
    upstreamBytes: sample(text, 'shoal_agent_blob_received_bytes_total{source="origin"}'),
    peerBytes: sample(text, 'shoal_agent_blob_received_bytes_total{source="peer"}'),
    sentToPeersBytes: sample(text, 'shoal_agent_peer_served_bytes_total'),
    servedLocalBytes: sample(text, 'shoal_agent_served_bytes_total{source="local"}'),
    servedUpstreamBytes: sample(text, 'shoal_agent_served_bytes_total{source="origin"}') + sample(text, 'shoal_agent_served_bytes_total{source="peer"}')
  }
}

/** The value of one exposition line `name{labels} value`; 0 when the series was never touched. */
function sample (text: string, series: string): number {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1))
  }
  return 0
}
