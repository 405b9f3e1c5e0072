import type { MirrorBenchOptions } from './args.ts'
import type { AgentCounters } from './agent-metrics.ts'
import type { BenchBlob } from './blobs.ts'
import * as C from './constants.ts'
import type { ProfileSummary } from './profile.ts'
import { summarize } from './stats.ts'
import type { Summary } from './stats.ts'
import { markdownTable } from '../harness.ts'
import { describeMachine } from '../machine.ts'
import type { MachineFacts } from '../machine.ts'

/** Measured rounds of one comparison: agent[i] and origin[i] ran back to back. */
export interface PairedSamples {
  agent: number[]
  origin: number[]
  /** agent[i] / origin[i]. */
  ratio: number[]
}

export interface PairedSummary {
  agent: Summary
  origin: Summary
  ratio: Summary
}

export interface ColdResult {
  seconds: PairedSamples
  summary: PairedSummary
  /** Origin bytes each fresh agent fetched, per round (each blob once: K x M). */
  agentUpstreamBytes: number[]
  cpu: ColdCpu
}

/**
 * CPU seconds (user + system, all threads) per round: the agent's during the pull through it, and
 * the bench process's (the client; in (a2) also the link proxy's thread) during each side's pull.
 * Steadier than wall time on a shared machine, and what (a) comes down to on a CPU-bound one.
 */
export interface ColdCpu {
  agent: number[]
  clientViaAgent: number[]
  clientDirect: number[]
}

/** (a2): (a) with the origin behind a shaped link that both sides cross. */
export interface ColdLinkResult extends ColdResult {
  /** The link's rate, shared by all response bodies crossing it. */
  linkMbit: number
  linkBytesPerSecond: number
  /**
   * Origin egress per round as the link proxy counted it: while the client pulled through the
   * agent (the agent's fetches; its untimed primer blob excluded), and while it pulled directly.
   */
  originEgressBytes: { agent: number[], origin: number[] }
}

export interface WarmResult {
  /** MiB/s over all K blobs. */
  throughputMiBps: PairedSamples
  summary: PairedSummary
  /** Origin bytes the warm agent fetched during the measured rounds (0 expected). */
  agentUpstreamBytes: number
}

export interface BigCase {
  state: 'cold' | 'warm'
  /** VmHWM right after the agent was ready, before any request. */
  idleRssBytes: number
  /** VmHWM after the clients finished. */
  peakRssBytes: number
  seconds: number
  /** Throughput each client saw. */
  perClientMiBps: number
  counters: AgentCounters
}

export interface BigResult {
  clients: number
  cases: BigCase[]
  /** The same clients straight from the origin, for scale. */
  originSeconds: number
}

export interface Goal {
  id: string
  what: string
  target: string
  value: number
  pass: boolean | undefined
}

export interface MirrorReport {
  startedAt: string
  finishedAt: string
  options: Omit<MirrorBenchOptions, 'outDir'>
  environment: MachineFacts & { loadAverageStart: number[], loadAverageEnd: number[] }
  origin: { blobs: BenchBlob[], bigBlob?: BenchBlob, pushSeconds: number }
  cold?: ColdResult
  coldLink?: ColdLinkResult
  warm?: WarmResult
  big?: BigResult
  goals: Goal[]
  /** Per agent role (cold, cold-link, warm, big-cold, big-warm) when run with --profile. */
  profiles?: Record<string, ProfileSummary>
}

export function pairedSummary (samples: PairedSamples): PairedSummary {
  return { agent: summarize(samples.agent), origin: summarize(samples.origin), ratio: summarize(samples.ratio) }
}

export function evaluateGoals (report: Pick<MirrorReport, 'cold' | 'coldLink' | 'warm' | 'big'>): Goal[] {
  const goals: Goal[] = []
  const cold = report.cold?.summary.ratio.median
  goals.push({ id: 'a', what: 'cold pull wall time over loopback, agent / origin (median)', target: `<= ${C.GOAL_COLD_LOOPBACK_TIME_RATIO_MAX.toFixed(2)}`, value: cold ?? Number.NaN, pass: cold == null ? undefined : cold <= C.GOAL_COLD_LOOPBACK_TIME_RATIO_MAX })
  const coldLink = report.coldLink?.summary.ratio.median
  const link = report.coldLink == null ? 'a shaped origin link' : `a ${report.coldLink.linkMbit} Mbit/s origin link`
  goals.push({ id: 'a2', what: `cold pull wall time over ${link}, agent / origin (median)`, target: `<= ${C.GOAL_COLD_TIME_RATIO_MAX.toFixed(2)}`, value: coldLink ?? Number.NaN, pass: coldLink == null ? undefined : coldLink <= C.GOAL_COLD_TIME_RATIO_MAX })
  const warm = report.warm?.summary.ratio.median
  goals.push({ id: 'b', what: 'warm pull throughput, agent / origin (median)', target: `>= ${C.GOAL_WARM_THROUGHPUT_RATIO_MIN.toFixed(2)}`, value: warm ?? Number.NaN, pass: warm == null ? undefined : warm >= C.GOAL_WARM_THROUGHPUT_RATIO_MIN })
  for (const state of ['cold', 'warm'] as const) {
    const peak = report.big?.cases.find(c => c.state === state)?.peakRssBytes
    const mib = peak == null ? Number.NaN : peak / C.MIB
    goals.push({ id: `c-${state}`, what: `agent peak RSS, ${state}`, target: `<= ${C.GOAL_PEAK_RSS_MIB_MAX} MiB`, value: mib, pass: peak == null ? undefined : mib <= C.GOAL_PEAK_RSS_MIB_MAX })
  }
  return goals
}

const verdict = (pass: boolean | undefined): string => pass == null ? 'not run' : pass ? 'pass' : '**miss**'
const spread = (s: Summary, fmt: (n: number) => string): string => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`
const secs = (n: number): string => `${n.toFixed(2)} s`
const mibps = (n: number): string => `${n.toFixed(0)} MiB/s`
const ratio = (n: number): string => n.toFixed(2)
const mib = (bytes: number): string => `${(bytes / C.MIB).toFixed(0)} MiB`
/** Two decimals: a few KiB of API traffic on top of the blobs stay visible. */
const mib2 = (bytes: number): string => `${(bytes / C.MIB).toFixed(2)} MiB`

/** The results table with goals (what goes to stdout), then context and profiles for report.md. */
export function resultsTable (report: MirrorReport): string {
  const o = report.options
  const goal = (id: string): Goal | undefined => report.goals.find(g => g.id === id)
  const rows: string[][] = []
  const blobs = `${o.blobCount} × ${o.blobBytes / C.MIB} MiB`
  if (report.cold != null) {
    const s = report.cold.summary
    rows.push([`(a) cold pull ${blobs} over loopback, wall time`, spread(s.agent, secs), spread(s.origin, secs), spread(s.ratio, ratio), goal('a')?.target ?? '', verdict(goal('a')?.pass)])
  } else {
    rows.push(['(a) cold pull over loopback, wall time', '–', '–', '–', goal('a')?.target ?? '', 'not run'])
  }
  if (report.coldLink != null) {
    const s = report.coldLink.summary
    rows.push([`(a2) cold pull ${blobs} over a ${report.coldLink.linkMbit} Mbit/s origin link, wall time`, spread(s.agent, secs), spread(s.origin, secs), spread(s.ratio, ratio), goal('a2')?.target ?? '', verdict(goal('a2')?.pass)])
  } else {
    rows.push(['(a2) cold pull over a shaped origin link, wall time', '–', '–', '–', goal('a2')?.target ?? '', 'not run'])
  }
  if (report.warm != null) {
    const s = report.warm.summary
    rows.push([`(b) warm pull ${blobs}, throughput`, spread(s.agent, mibps), spread(s.origin, mibps), spread(s.ratio, ratio), goal('b')?.target ?? '', verdict(goal('b')?.pass)])
  } else {
    rows.push(['(b) warm pull, throughput', '–', '–', '–', goal('b')?.target ?? '', 'not run'])
  }
  for (const state of ['cold', 'warm'] as const) {
    const c = report.big?.cases.find(x => x.state === state)
    const g = goal(`c-${state}`)
    const label = `(c) agent peak RSS, ${state}, ${o.bigBlobBytes / C.MIB} MiB blob to ${o.bigClients} clients`
    rows.push([label, c == null ? '–' : mib(c.peakRssBytes), '–', '–', g?.target ?? '', verdict(g?.pass)])
  }
  return markdownTable(['measure', 'agent: median (min–max)', 'origin: median (min–max)', 'agent/origin: median (min–max)', 'goal', 'result'], rows)
}

export function renderMarkdown (report: MirrorReport): string {
  const o = report.options
  const e = report.environment
  const lines = [
    '# shoal mirror benchmark',
    '',
    `${report.startedAt} – ${report.finishedAt}; ${describeMachine(e)}; ` +
      `load average ${e.loadAverageStart.map(n => n.toFixed(2)).join(' ')} at start, ${e.loadAverageEnd.map(n => n.toFixed(2)).join(' ')} at end.`,
    `${o.runs} measured rounds (after ${o.warmup} warm-up) of agent then origin, interleaved; the ratio spread is over per-round pairs. ` +
      'Every byte is read and sha256-verified by the same client code on both sides; agents are separate processes ' +
      `with data dirs under ${o.agentDataRoot ?? 'the OS temp dir'}; each fresh agent of (a) and (a2) first serves one 1 MiB blob, untimed (JIT warm-up).`,
    '',
    resultsTable(report),
    '',
    coldMeasures(report),
    '',
    ...coldCpu(report)
  ]
  if (report.cold != null || report.coldLink != null || report.warm != null) {
    lines.push('## Rounds', '')
    const rows: string[][] = []
    const coldRows = (label: string, cold: ColdResult, egress?: ColdLinkResult['originEgressBytes']): void => {
      cold.seconds.agent.forEach((a, i) => {
        rows.push([label, String(i + 1), secs(a), secs(cold.seconds.origin[i] ?? Number.NaN), ratio(cold.seconds.ratio[i] ?? Number.NaN), mib(cold.agentUpstreamBytes[i] ?? Number.NaN),
          egress == null ? '–' : `${mib2(egress.agent[i] ?? Number.NaN)} / ${mib2(egress.origin[i] ?? Number.NaN)}`,
          `${secs(cold.cpu.agent[i] ?? Number.NaN)}; ${secs(cold.cpu.clientViaAgent[i] ?? Number.NaN)} / ${secs(cold.cpu.clientDirect[i] ?? Number.NaN)}`])
      })
    }
    if (report.cold != null) coldRows('(a) cold', report.cold)
    if (report.coldLink != null) coldRows('(a2) cold, link', report.coldLink, report.coldLink.originEgressBytes)
    const warm = report.warm
    if (warm != null) {
      warm.throughputMiBps.agent.forEach((a, i) => {
        rows.push(['(b) warm', String(i + 1), mibps(a), mibps(warm.throughputMiBps.origin[i] ?? Number.NaN), ratio(warm.throughputMiBps.ratio[i] ?? Number.NaN), i === 0 ? `${mib(warm.agentUpstreamBytes)} (all rounds)` : '', '–', '–'])
      })
    }
    lines.push(markdownTable(['section', 'round', 'agent', 'origin', 'agent/origin', 'agent fetched from origin', 'origin egress via link: agent side / direct', 'CPU: agent; client through it / direct'], rows), '')
  }
  if (report.big != null) {
    const big = report.big
    lines.push(`## (c) ${o.bigBlobBytes / C.MIB} MiB blob to ${big.clients} clients at once`, '')
    const rows = big.cases.map(c => [c.state, secs(c.seconds), mibps(c.perClientMiBps), mib(c.idleRssBytes), mib(c.peakRssBytes), mib(c.counters.upstreamBytes), mib(c.counters.servedUpstreamBytes + c.counters.servedLocalBytes)])
    rows.push(['origin direct', secs(big.originSeconds), mibps(o.bigBlobBytes / C.MIB / big.originSeconds), '–', '–', '–', '–'])
    lines.push(markdownTable(['agent', 'wall time', 'per client', 'RSS when idle', 'peak RSS (VmHWM)', 'fetched from origin', 'served'], rows), '')
  }
  if (report.profiles != null) {
    lines.push('## CPU profiles of the agent processes', '')
    for (const [role, p] of Object.entries(report.profiles)) lines.push(renderProfile(role, p), '')
  }
  return lines.join('\n')
}

/** Per cold section: the CPU the agent and the client spent per GiB pulled (medians over the rounds). */
function coldCpu (report: MirrorReport): string[] {
  const gib = report.options.blobCount * report.options.blobBytes / (1024 * C.MIB)
  const perGib = (xs: number[]): string => `${(summarize(xs).median / gib).toFixed(2)} s`
  const line = (label: string, cold: ColdResult | undefined): string[] => cold == null
    ? []
    : [`**CPU per GiB pulled, ${label}** (medians; all threads, user + system): the agent ${perGib(cold.cpu.agent)}; the client ` +
        `${perGib(cold.cpu.clientViaAgent)} through the agent, ${perGib(cold.cpu.clientDirect)} direct.`, '']
  return [...line('(a) cold', report.cold), ...line('(a2) cold over the link (the client side includes the link proxy)', report.coldLink)]
}

/** The paragraph on what (a) and (a2) each measure. */
function coldMeasures (report: MirrorReport): string {
  const o = report.options
  const link = `${o.originLinkMbit} Mbit/s (${(o.originLinkMbit * C.BYTES_PER_SECOND_PER_MBIT / 1e6).toFixed(1)} MB/s)`
  return '**Two cold measures.** Both time one client pulling the same K blobs through a fresh agent (new process, empty ' +
    'data dir) against the same client pulling them from the origin itself. In (a) the origin is on loopback with nothing ' +
    `in between: client, origin and agent compete for ${report.environment.cpus} CPUs, so the pull is CPU-bound and the ratio ` +
    'is mostly the CPU the agent spends per byte on its extra hop (receive, hash, write, serve); it says little about a real ' +
    `network. In (a2) the origin sits behind a link shaped to ${link}, one rate shared by every body crossing it (the test ` +
    "fixtures' counting proxy, in a thread of its own), and both sides cross it: the agent as its upstream, the direct client " +
    'as its registry. With the link as the bottleneck, as with a registry across a network, the ratio is the time the agent adds ' +
    'to a cold pull, i.e. whether it passes bytes on as they arrive. The egress column of (a2) shows what each side drew across ' +
    'the link (each blob once is K × M, plus a little API traffic).'
}

export function renderProfile (role: string, p: ProfileSummary): string {
  const pct = (n: number): string => `${(n * 100).toFixed(1)}%`
  return [
    `### ${role}: ${(p.busyMs / 1000).toFixed(2)} s busy, ${(p.idleMs / 1000).toFixed(2)} s idle (${p.files.length} profile${p.files.length === 1 ? '' : 's'})`,
    '',
    markdownTable(['self time', 'share of busy', 'function', 'where'], p.topFunctions.map(f => [`${f.selfMs.toFixed(0)} ms`, pct(f.selfShare), `\`${f.name}\``, f.where])),
    '',
    markdownTable(['self time', 'share of busy', 'file'], p.topFiles.map(f => [`${f.selfMs.toFixed(0)} ms`, pct(f.selfShare), f.where]))
  ].join('\n')
}
