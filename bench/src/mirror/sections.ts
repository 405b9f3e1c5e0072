import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { MirrorBenchOptions } from './args.ts'
import { readAgentCounters } from './agent-metrics.ts'
import type { AgentCounters } from './agent-metrics.ts'
import { startAgentProcess } from './agent-process.ts'
import type { AgentProcess } from './agent-process.ts'
import type { BenchBlob } from './blobs.ts'
import { pullBlobs } from './client.ts'
import { BENCH_REPOSITORY, MIB, PULL_TIMEOUT_MS } from './constants.ts'
import { pairedSummary } from './report.ts'
import type { BigCase, BigResult, ColdResult, PairedSamples, WarmResult } from './report.ts'
import type { Teardown } from './teardown.ts'

export interface BenchContext {
  options: MirrorBenchOptions
  origin: { url: string, host: string }
  /** The K blobs of (a) and (b). */
  blobs: BenchBlob[]
  /** A small blob each fresh agent serves once, untimed, so that (a) does not time its JIT warm-up. */
  primer: BenchBlob
  bigBlob?: BenchBlob
  /** Agent data dirs go here. */
  agentRoot: string
  /** With --profile: each agent writes its CPU profile under <profileRoot>/<role>. */
  profileRoot?: string
  teardown: Teardown
  signal: AbortSignal
  log: (line: string) => void
}

interface RunningAgent {
  process: AgentProcess
  stop: () => Promise<void>
}

async function launchAgent (ctx: BenchContext, dataDir: string, role: string): Promise<RunningAgent> {
  await mkdir(dataDir, { recursive: true })
  const profileDir = ctx.profileRoot == null ? undefined : join(ctx.profileRoot, role)
  const process = await startAgentProcess({ track: child => { ctx.teardown.track(child) } }, {
    upstream: ctx.origin,
    dataDir,
    profileDir,
    signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(30_000)])
  })
  const stop = ctx.teardown.defer(`agent ${process.pid}`, async () => { await process.stop() })
  return { process, stop }
}

function pullSignal (ctx: BenchContext): AbortSignal {
  return AbortSignal.any([ctx.signal, AbortSignal.timeout(PULL_TIMEOUT_MS)])
}

function roundLabel (ctx: BenchContext, round: number): string {
  const { warmup, runs } = ctx.options
  return round < 0 ? `warm-up ${round + warmup + 1}/${warmup}` : `round ${round + 1}/${runs}`
}

function paired (): PairedSamples {
  return { agent: [], origin: [], ratio: [] }
}

/** (a) K blobs through a fresh agent (new process, empty data dir) vs straight from the origin, A B A B... */
export async function runCold (ctx: BenchContext): Promise<ColdResult> {
  const { options, blobs, origin, log } = ctx
  const seconds = paired()
  const agentUpstreamBytes: number[] = []
  for (let round = -options.warmup; round < options.runs; round++) {
    const dataDir = join(ctx.agentRoot, `cold-${round + options.warmup}`)
    const agent = await launchAgent(ctx, dataDir, 'cold')
    await pullBlobs(agent.process.url, BENCH_REPOSITORY, [ctx.primer], { signal: pullSignal(ctx) })
    const primed = await readAgentCounters(agent.process.url, ctx.signal)
    const a = await pullBlobs(agent.process.url, BENCH_REPOSITORY, blobs, { signal: pullSignal(ctx) })
    agent.process.assertRunning()
    const counters = await readAgentCounters(agent.process.url, ctx.signal)
    await agent.stop()
    await rm(dataDir, { recursive: true, force: true })
    const b = await pullBlobs(origin.url, BENCH_REPOSITORY, blobs, { signal: pullSignal(ctx) })
    const fetched = counters.upstreamBytes - primed.upstreamBytes
    log(`(a) cold ${roundLabel(ctx, round)}: agent ${a.seconds.toFixed(2)} s, origin ${b.seconds.toFixed(2)} s, ratio ${(a.seconds / b.seconds).toFixed(2)}; agent fetched ${(fetched / MIB).toFixed(0)} MiB from the origin`)
    if (round < 0) continue
    seconds.agent.push(a.seconds)
    seconds.origin.push(b.seconds)
    seconds.ratio.push(a.seconds / b.seconds)
    agentUpstreamBytes.push(fetched)
  }
  return { seconds, summary: pairedSummary(seconds), agentUpstreamBytes }
}

/** (b) The same blobs from one agent that already holds them vs the origin, A B A B... */
export async function runWarm (ctx: BenchContext): Promise<WarmResult> {
  const { options, blobs, origin, log } = ctx
  const dataDir = join(ctx.agentRoot, 'warm')
  const agent = await launchAgent(ctx, dataDir, 'warm')
  const fill = await pullBlobs(agent.process.url, BENCH_REPOSITORY, blobs, { signal: pullSignal(ctx) })
  log(`(b) warm: agent filled in ${fill.seconds.toFixed(2)} s`)
  const before = await readAgentCounters(agent.process.url, ctx.signal)
  const throughput = paired()
  const mib = blobs.reduce((n, b) => n + b.size, 0) / MIB
  for (let round = -options.warmup; round < options.runs; round++) {
    const a = await pullBlobs(agent.process.url, BENCH_REPOSITORY, blobs, { signal: pullSignal(ctx) })
    agent.process.assertRunning()
    const b = await pullBlobs(origin.url, BENCH_REPOSITORY, blobs, { signal: pullSignal(ctx) })
    const ta = mib / a.seconds
    const tb = mib / b.seconds
    log(`(b) warm ${roundLabel(ctx, round)}: agent ${ta.toFixed(0)} MiB/s, origin ${tb.toFixed(0)} MiB/s, ratio ${(ta / tb).toFixed(2)}`)
    if (round < 0) continue
    throughput.agent.push(ta)
    throughput.origin.push(tb)
    throughput.ratio.push(ta / tb)
  }
  const after = await readAgentCounters(agent.process.url, ctx.signal)
  await agent.stop()
  await rm(dataDir, { recursive: true, force: true })
  return { throughputMiBps: throughput, summary: pairedSummary(throughput), agentUpstreamBytes: after.upstreamBytes - before.upstreamBytes }
}

/**
 * (c) One big blob to C clients at once: first through an empty agent (it downloads while it
 * serves), then through a new agent process on the same data dir (warm), each with its own VmHWM;
 * then the same clients straight from the origin, for scale.
 */
export async function runBig (ctx: BenchContext): Promise<BigResult> {
  const { options, origin, log } = ctx
  const big = ctx.bigBlob
  if (big == null) throw new Error('the big blob was not pushed')
  const requests = Array.from({ length: options.bigClients }, () => big)
  const dataDir = join(ctx.agentRoot, 'big')
  const cases: BigCase[] = []
  for (const state of ['cold', 'warm'] as const) {
    const agent = await launchAgent(ctx, dataDir, `big-${state}`)
    const idle = await agent.process.memory()
    const pulled = await pullBlobs(agent.process.url, BENCH_REPOSITORY, requests, { signal: pullSignal(ctx) })
    agent.process.assertRunning()
    const memory = await agent.process.memory()
    const counters: AgentCounters = await readAgentCounters(agent.process.url, ctx.signal)
    await agent.stop()
    const perClientMiBps = big.size / MIB / pulled.seconds
    log(`(c) ${state}: ${options.bigClients} clients in ${pulled.seconds.toFixed(2)} s (${perClientMiBps.toFixed(0)} MiB/s each); agent peak RSS ${(memory.peakRssBytes / MIB).toFixed(0)} MiB (idle ${(idle.peakRssBytes / MIB).toFixed(0)} MiB); fetched ${(counters.upstreamBytes / MIB).toFixed(0)} MiB from the origin`)
    cases.push({ state, idleRssBytes: idle.peakRssBytes, peakRssBytes: memory.peakRssBytes, seconds: pulled.seconds, perClientMiBps, counters })
  }
  await rm(dataDir, { recursive: true, force: true })
  const direct = await pullBlobs(origin.url, BENCH_REPOSITORY, requests, { signal: pullSignal(ctx) })
  log(`(c) origin direct: ${options.bigClients} clients in ${direct.seconds.toFixed(2)} s`)
  return { clients: options.bigClients, cases, originSeconds: direct.seconds }
}
