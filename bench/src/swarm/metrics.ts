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
  /** Seconds its downloads waited, by cause (shoal_agent_piece_wait_seconds_total). */
  waitSeconds: Record<string, number>
  /** Piece latency quantiles by source (peer, origin), from its histograms. */
  pieceLatency: Record<string, { pieces: number, firstByte: LatencyQuantiles, transfer: LatencyQuantiles }>
  /** The agent process's CPU (user and system, its hashing thread included) and V8's collections. */
  cpu: AgentCpu
}

export interface AgentCpu {
  seconds: number
  /** Seconds of V8's collection pauses, by kind (minor, major, incremental), from Node's GC observer: wall time, so on a busy machine also time waiting for a core. */
  gcSeconds: Record<string, number>
  /** Full (mark-compact) collections. */
  majorGcs: number
}

const GC_KINDS = ['minor', 'major', 'incremental']

export interface LatencyQuantiles {
  p50: number
  p90: number
  p99: number
}

const WAIT_CAUSES = ['no-holder', 'holder-busy', 'download-limit', 'origin-slot', 'scheduler-answer', 'stream-head']

/**
 * The agent's figures between two readings of its /metrics (`before`: read at the phase's start;
 * empty: since the agent started). Everything is counted from then: a prefetch or a warm-up before
 * the phase (its origin bytes, waits, pieces and CPU) is not the phase's.
 */
export function agentTraffic (host: string, now: string, before = ''): AgentTraffic {
  const delta = (series: string): number => sample(now, series) - sample(before, series)
  return {
    host,
    fromOriginBytes: delta('shoal_agent_blob_received_bytes_total{source="origin"}'),
    fromPeersBytes: delta('shoal_agent_blob_received_bytes_total{source="peer"}'),
    toPeersBytes: delta('shoal_agent_peer_served_bytes_total'),
    waitSeconds: Object.fromEntries(WAIT_CAUSES.map(cause => [cause, delta(`shoal_agent_piece_wait_seconds_total{cause="${cause}"}`)])),
    pieceLatency: Object.fromEntries(['peer', 'origin'].map(source => [source, {
      pieces: delta(`shoal_agent_piece_first_byte_seconds_count{source="${source}"}`),
      firstByte: histogramQuantiles(now, 'shoal_agent_piece_first_byte_seconds', source, before),
      transfer: histogramQuantiles(now, 'shoal_agent_piece_transfer_seconds', source, before)
    }])),
    cpu: {
      seconds: delta('shoal_agent_process_cpu_user_seconds_total') + delta('shoal_agent_process_cpu_system_seconds_total'),
      gcSeconds: Object.fromEntries(GC_KINDS.map(kind => [kind, delta(`shoal_agent_nodejs_gc_duration_seconds_sum{kind="${kind}"}`)])),
      majorGcs: delta('shoal_agent_nodejs_gc_duration_seconds_count{kind="major"}')
    }
  }
}

/** p50, p90 and p99 of one histogram series (less what it held in `before`), interpolated within buckets as Prometheus's histogram_quantile does. */
export function histogramQuantiles (text: string, name: string, source: string, before = ''): LatencyQuantiles {
  const earlier = new Map(buckets(before, name, source).map(b => [b.le, b.count]))
  const counts = buckets(text, name, source).map(b => ({ le: b.le, count: b.count - (earlier.get(b.le) ?? 0) }))
  return { p50: bucketQuantile(counts, 0.5), p90: bucketQuantile(counts, 0.9), p99: bucketQuantile(counts, 0.99) }
}

function buckets (text: string, name: string, source: string): Array<{ le: number, count: number }> {
  const found: Array<{ le: number, count: number }> = []
  const pattern = new RegExp(`^${name}_bucket\\{le="([^"]+)",source="${source}"\\} (\\S+)$`)
  for (const line of text.split('\n')) {
    const m = pattern.exec(line)
    if (m != null) found.push({ le: m[1] === '+Inf' ? Infinity : Number(m[1]), count: Number(m[2]) })
  }
  return found
}

export function bucketQuantile (buckets: ReadonlyArray<{ le: number, count: number }>, q: number): number {
  const total = buckets[buckets.length - 1]?.count ?? 0
  if (total === 0) return Number.NaN
  const rank = q * total
  let lower = 0
  let below = 0
  for (const b of buckets) {
    if (b.count >= rank) {
      // The last finite bound stands for the +Inf bucket, as Prometheus does.
      if (!Number.isFinite(b.le)) return lower
      return lower + (b.le - lower) * (rank - below) / Math.max(1, b.count - below)
    }
    lower = b.le
    below = b.count
  }
  return lower
}

/** One series of an agent's /metrics (`shoal_agent_peers_connected`), 0 when absent. */
export async function readAgentSeries (agent: AgentService, series: string, signal: AbortSignal): Promise<number> {
  return sample(await metricsOf(agent, signal), series)
}

/** The agent's /metrics text, read from its own host. */
export async function metricsOf (agent: AgentService, signal: AbortSignal): Promise<string> {
  return httpGetAt(agent.host, new URL('/metrics', agent.url).href, { signal })
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
