import { writeFile } from 'node:fs/promises'
import { assertFromPeers, counters, p2pAddressOf, pull, startPeerAgent } from './agents.ts'
import type { PeerAgent, PeerLinkContext } from './agents.ts'
import { MIB, RSS_SAMPLE_INTERVAL_MS } from './constants.ts'
import { cpuMeter } from '../process-cpu.ts'
import { PeerPathError } from './errors.ts'

/** Agent A: a fresh agent that pulls the blobs from the origin, so that it holds and announces them. */
export async function seedAgent (ctx: PeerLinkContext, label: string, swarmKeyFile: string | undefined): Promise<PeerAgent> {
  const a = await startPeerAgent(ctx, { name: `a-${label}`, role: `a-${label}`, swarmKeyFile })
  const t = performance.now()
  await pull(ctx, a, [ctx.primer, ctx.blob])
  const c = await counters(ctx, a)
  if (c.upstreamBytes !== ctx.primer.size + ctx.blob.size) throw new PeerPathError(`agent A fetched ${c.upstreamBytes} bytes from the origin, expected ${ctx.primer.size + ctx.blob.size}`)
  ctx.log(`${label}: agent A (pid ${a.process.pid}) holds the blobs (seeded from the origin in ${((performance.now() - t) / 1000).toFixed(1)} s)`)
  return a
}

export interface ShoalRound {
  seconds: number
  /** CPU seconds agents A and B used during the timed pull; undefined where /proc cannot be read. */
  cpuSecondsA?: number
  cpuSecondsB?: number
}

/**
 * One shoal run: a fresh agent B joins A, pulls the primer (untimed: JIT, connection, DHT), then
 * the big blob through its mirror port, timed from request to last verified byte. Every byte must
 * have come from the peer.
 */
export async function shoalRound (ctx: PeerLinkContext, a: PeerAgent, label: string, round: number, swarmKeyFile: string | undefined): Promise<ShoalRound> {
  const b = await startPeerAgent(ctx, { name: `b-${label}-${round}`, role: `b-${label}`, swarmKeyFile, bootstrap: p2pAddressOf(a) })
  try {
    const c0 = await counters(ctx, b)
    await pull(ctx, b, [ctx.primer])
    const c1 = await counters(ctx, b)
    assertFromPeers('primer', c0, c1, ctx.primer.size)
    const cpuA = await cpuMeter(a.process.pid)
    const cpuB = await cpuMeter(b.process.pid)
    const result = await pull(ctx, b, [ctx.blob])
    const cpuSecondsA = await cpuA.stop()
    const cpuSecondsB = await cpuB.stop()
    assertFromPeers('blob', c1, await counters(ctx, b), ctx.blob.size)
    return { seconds: result.seconds, cpuSecondsA, cpuSecondsB }
  } finally {
    await b.stop()
  }
}

export interface RssCase {
  peers: number
  /** A's VmHWM reset just before the peers pulled, then read after: its peak while uploading. */
  peakRssBytes: number
  /** Whether the reset worked (else peakRssBytes is A's lifetime peak, seeding included). */
  peakReset: boolean
  /** A's RSS at the reset, before the peers pulled: what the upload's peak starts from. */
  startRssBytes: number
  /** The highest VmRSS sampled while uploading. */
  sampledMaxRssBytes: number
  seconds: number
  /** Each peer's throughput, MB/s (10^6 bytes). */
  perPeerMBps: number[]
}

/** (c): `peers` fresh agents join A and pull the big blob from it at once; A's peak RSS meanwhile. */
export async function rssCase (ctx: PeerLinkContext, a: PeerAgent, label: string, peers: number, swarmKeyFile: string | undefined): Promise<RssCase> {
  const bs: PeerAgent[] = []
  try {
    for (let i = 0; i < peers; i++) bs.push(await startPeerAgent(ctx, { name: `rss-${label}-${i}`, role: `rss-b-${label}`, swarmKeyFile, bootstrap: p2pAddressOf(a) }))
    const before = await Promise.all(bs.map(async b => counters(ctx, b)))
    const peakReset = await resetPeakRss(a.process.pid)
    const start = await a.process.memory()
    let sampledMax = 0
    const sampler = setInterval(() => {
      a.process.memory().then(m => { sampledMax = Math.max(sampledMax, m.rssBytes) }, () => {})
    }, RSS_SAMPLE_INTERVAL_MS)
    let results
    try {
      results = await Promise.all(bs.map(async b => pull(ctx, b, [ctx.blob])))
    } finally {
      clearInterval(sampler)
    }
    const memory = await a.process.memory()
    for (const [i, b] of bs.entries()) assertFromPeers(`peer ${i + 1}`, before[i]!, await counters(ctx, b), ctx.blob.size)
    return {
      peers,
      peakRssBytes: memory.peakRssBytes,
      peakReset,
      startRssBytes: start.rssBytes,
      sampledMaxRssBytes: Math.max(sampledMax, memory.rssBytes),
      seconds: Math.max(...results.map(r => r.seconds)),
      perPeerMBps: results.map(r => ctx.blob.size / r.seconds / 1e6)
    }
  } finally {
    await Promise.all(bs.map(async b => { await b.stop() }))
  }
}

/** Resets the process's VmHWM to its current RSS (Linux: `5` to /proc/<pid>/clear_refs); false when not allowed. */
async function resetPeakRss (pid: number): Promise<boolean> {
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5')
    return true
  } catch {
    return false
  }
}

export const mbps = (bytes: number, seconds: number): number => bytes / seconds / 1e6
export const mib = (bytes: number): string => `${(bytes / MIB).toFixed(0)} MiB`
