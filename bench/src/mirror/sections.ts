import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { MirrorBenchOptions } from './args.ts'
import { readAgentCounters } from './agent-metrics.ts'
import type { AgentCounters } from './agent-metrics.ts'
import { startAgentProcess } from './agent-process.ts'
import type { AgentProcess } from './agent-process.ts'
import type { BenchBlob } from './blobs.ts'
import { pullBlobs } from './client.ts'
import { BENCH_REPOSITORY, BYTES_PER_SECOND_PER_MBIT, LINK_PROXY_TIMEOUT_MS, MIB, PULL_TIMEOUT_MS } from './constants.ts'
import { startLinkProxy } from './link-proxy.ts'
import { pairedSummary } from './report.ts'
import type { BigCase, BigResult, ColdCpu, ColdLinkResult, ColdResult, PairedSamples, WarmResult } from './report.ts'
import type { Teardown } from './teardown.ts'
import { cpuMeter } from '../process-cpu.ts'

export interface BenchContext {
  options: MirrorBenchOptions
  origin: { url: string, host: string }
  /** The K blobs of (a), (a2) and (b). */
  blobs: BenchBlob[]
  /** A small blob each fresh agent serves once, untimed, so that (a) and (a2) do not time its JIT warm-up. */
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

interface LaunchAgentInit {
  dataDir: string
  /** Names the profile directory. */
  role: string
  /** The agent's upstream; the origin by default. */
  upstream?: { url: string, host: string }
}

async function launchAgent (ctx: BenchContext, { dataDir, role, upstream }: LaunchAgentInit): Promise<RunningAgent> {
  await mkdir(dataDir, { recursive: true })
  const profileDir = ctx.profileRoot == null ? undefined : join(ctx.profileRoot, role)
  const process = await startAgentProcess({ track: child => { ctx.teardown.track(child) } }, {
    upstream: upstream ?? ctx.origin,
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

interface ColdRoundsInit {
  /** What both sides pull from: the agent's upstream, and the registry of the direct client. */
  origin: { url: string, host: string }
  /** Log prefix. */
  label: string
  /** Names the agent data dirs and the profile directory. */
  role: string
  /** Origin egress so far, when the origin is reached through the link proxy. */
  egressBytes?: () => Promise<number>
}

interface ColdRounds {
  seconds: PairedSamples
  /** Origin bytes each fresh agent fetched for the K blobs, by its own count. */
  agentUpstreamBytes: number[]
  /** With `egressBytes`: origin egress while each side pulled. */
  egress: { agent: number[], origin: number[] }
  cpu: ColdCpu
}

/** K blobs through a fresh agent (new process, empty data dir) vs straight from `origin`, A B A B... */
async function coldRounds (ctx: BenchContext, { origin, label, role, egressBytes }: ColdRoundsInit): Promise<ColdRounds> {
  const { options, blobs, log } = ctx
  const seconds = paired()
  const agentUpstreamBytes: number[] = []
  const egress = { agent: [] as number[], origin: [] as number[] }
  const cpu: ColdCpu = { agent: [], clientViaAgent: [], clientDirect: [] }
  const egressNow = async (): Promise<number> => egressBytes == null ? Number.NaN : egressBytes()
  for (let round = -options.warmup; round < options.runs; round++) {
    const dataDir = join(ctx.agentRoot, `${role}-${round + options.warmup}`)
    const agent = await launchAgent(ctx, { dataDir, role, upstream: origin })
    await pullBlobs(agent.process.url, BENCH_REPOSITORY, [ctx.primer], { signal: pullSignal(ctx) })
    const primed = await readAgentCounters(agent.process.url, ctx.signal)
    const e0 = await egressNow()
    const agentCpu = await cpuMeter(agent.process.pid)
    const clientCpu = process.cpuUsage()
    const a = await pullBlobs(agent.process.url, BENCH_REPOSITORY, blobs, { signal: pullSignal(ctx) })
    const clientViaAgent = cpuSeconds(process.cpuUsage(clientCpu))
    const agentSeconds = await agentCpu.stop()
    agent.process.assertRunning()
    const counters = await readAgentCounters(agent.process.url, ctx.signal)
    const e1 = await egressNow()
    await agent.stop()
    await rm(dataDir, { recursive: true, force: true })
    const e2 = await egressNow()
    const directCpu = process.cpuUsage()
    const b = await pullBlobs(origin.url, BENCH_REPOSITORY, blobs, { signal: pullSignal(ctx) })
    const clientDirect = cpuSeconds(process.cpuUsage(directCpu))
    const e3 = await egressNow()
    const fetched = counters.upstreamBytes - primed.upstreamBytes
    const link = egressBytes == null
      ? ''
      : `; origin egress ${((e1 - e0) / MIB).toFixed(2)} MiB agent side, ${((e3 - e2) / MIB).toFixed(2)} MiB direct (${((e3 - e2) / b.seconds / 1e6).toFixed(0)} MB/s)`
    log(`${label} ${roundLabel(ctx, round)}: agent ${a.seconds.toFixed(2)} s, origin ${b.seconds.toFixed(2)} s, ratio ${(a.seconds / b.seconds).toFixed(2)}; agent fetched ${(fetched / MIB).toFixed(0)} MiB from the origin${link}; ` +
      `CPU s: agent ${agentSeconds?.toFixed(2) ?? '?'}, client ${clientViaAgent.toFixed(2)} through it, ${clientDirect.toFixed(2)} direct`)
    if (round < 0) continue
    seconds.agent.push(a.seconds)
    seconds.origin.push(b.seconds)
    seconds.ratio.push(a.seconds / b.seconds)
    agentUpstreamBytes.push(fetched)
    egress.agent.push(e1 - e0)
    egress.origin.push(e3 - e2)
    cpu.agent.push(agentSeconds ?? Number.NaN)
    cpu.clientViaAgent.push(clientViaAgent)
    cpu.clientDirect.push(clientDirect)
  }
  return { seconds, agentUpstreamBytes, egress, cpu }
}

/** process.cpuUsage()'s microseconds (user + system) in seconds. */
function cpuSeconds (usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1e6
}

/** (a) K blobs through a fresh agent vs straight from the origin, on loopback. */
export async function runCold (ctx: BenchContext): Promise<ColdResult> {
  const { seconds, agentUpstreamBytes, cpu } = await coldRounds(ctx, { origin: ctx.origin, label: '(a) cold', role: 'cold' })
  return { seconds, summary: pairedSummary(seconds), agentUpstreamBytes, cpu }
}

/**
 * (a2) As (a), with the origin reached through a link shaped to --origin-link-mbit that both sides
 * cross: the agent has the link proxy as its upstream, the direct client pulls from it too.
 */
export async function runColdLink (ctx: BenchContext): Promise<ColdLinkResult> {
  const linkMbit = ctx.options.originLinkMbit
  const linkBytesPerSecond = linkMbit * BYTES_PER_SECOND_PER_MBIT
  const link = await startLinkProxy({ target: ctx.origin, bytesPerSecond: linkBytesPerSecond, signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(LINK_PROXY_TIMEOUT_MS)]) })
  const stopLink = ctx.teardown.defer(`origin link proxy ${link.url}`, link.stop)
  ctx.log(`(a2) origin link: counting proxy at ${link.url} in front of ${ctx.origin.url}, ${linkMbit} Mbit/s (${(linkBytesPerSecond / 1e6).toFixed(1)} MB/s) shared by all bodies`)
  const { seconds, agentUpstreamBytes, egress, cpu } = await coldRounds(ctx, {
    origin: link,
    label: '(a2) cold, link',
    role: 'cold-link',
    egressBytes: async () => link.egressBytes({ signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(LINK_PROXY_TIMEOUT_MS)]) })
  })
  await stopLink()
  return { seconds, summary: pairedSummary(seconds), agentUpstreamBytes, cpu, linkMbit, linkBytesPerSecond, originEgressBytes: egress }
}

/** (b) The same blobs from one agent that already holds them vs the origin, A B A B... */
export async function runWarm (ctx: BenchContext): Promise<WarmResult> {
  const { options, blobs, origin, log } = ctx
  const dataDir = join(ctx.agentRoot, 'warm')
  const agent = await launchAgent(ctx, { dataDir, role: 'warm' })
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
    const agent = await launchAgent(ctx, { dataDir, role: `big-${state}` })
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
