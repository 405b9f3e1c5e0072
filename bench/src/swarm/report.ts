/**
 * report.json of `bench swarm`: per scenario, the swarm and the direct pull side by side, each
 * figure with its ratio to the physical limit, and the goals of issue 5 with pass or miss.
 */
import type { SwarmBenchOptions } from './args.ts'
import * as C from './constants.ts'
import type { DirectPhaseResult } from './direct-phase.ts'
import { completionOf } from './metrics.ts'
import type { AgentTraffic, Completion } from './metrics.ts'
import type { Mode } from './network.ts'
import { idleSummary, originLag, switchLoss } from './link-sampler.ts'
import type { IdleSummary, LinkUtilisation, OriginLag, SwitchLoss } from './link-sampler.ts'
import type { PullResult } from './pull.ts'
import type { RelaySpread } from './relay-spread.ts'
import type { Scenario, ScenarioName } from './scenarios.ts'
import type { SwarmPhaseResult } from './swarm-phase.ts'
import type { MachineFacts } from '../machine.ts'

export interface SideReport {
  /** Counted at the origin's link. */
  originEgressBytes: number
  /** originEgressBytes / imageBytes. */
  originEgressRatio: number
  /**
   * TCP segments the origin sent again (netns mode): part of its egress that carried nothing new,
   * mostly after drops at the hosts' full downlink queues.
   */
  originRetransmits?: number
  /** Over the hosts that finished with the right digests, each timed from its own start. */
  completionSeconds: Completion
  /** completionSeconds / physicalLimitSeconds. */
  completionRatio: { p50: number, p90: number, max: number }
  /** From the first start to the last end. */
  wallSeconds: number
  hosts: PullResult[]
  /** Hosts whose pull failed or pulled wrong bytes (killed hosts of churn not counted). */
  failed: string[]
  /** Every link's rates each second of the phase (netns mode only). */
  links?: LinkUtilisation
  /** Per host and for the origin: how much of its pull its link sat idle, and when. */
  idle?: IdleSummary[]
  /** Per host: how far its received bytes trailed the origin's sent bytes (none when the origin sent nothing). */
  lag?: OriginLag[]
  /** What the switch dropped over the phase, all machines together (netns mode only). */
  loss?: SwitchLoss
}

export interface TrafficBySource {
  /** Summed over the agents still running at the end. */
  fromOriginBytes: number
  /**
   * fromOriginBytes / image bytes: what the agents took from the origin, against originEgressRatio,
   * what its link carried (TCP's retransmissions included; docs/dev/origin-hop.md).
   */
  fromOriginRatio: number
  fromPeersBytes: number
  /** fromPeers / (fromOrigin + fromPeers). */
  peerShare: number
  perAgent: AgentTraffic[]
}

export interface Goal {
  what: string
  target: string
  value: number | string
  pass: boolean
}

export interface ScenarioReport {
  scenario: ScenarioName
  description: string
  swarm: SideReport & { trafficBySource: TrafficBySource, killed?: SwarmPhaseResult['killed'], prefetch?: SwarmPhaseResult['prefetch'], warmUp?: SwarmPhaseResult['warmUp'], relay?: RelaySpread }
  direct: SideReport
  /** direct p50 / swarm p50. */
  speedupP50: number
  goals: Goal[]
}

export interface SwarmReport {
  startedAt: string
  finishedAt: string
  mode: Mode
  /** Why this mode ran (auto picks netns when it works). */
  modeReason: string
  egressCountedBy: string
  /** The TCP congestion control of the machines' connections (--tcp-cc, or the machine's default); absent in reports from before it was recorded. */
  tcpCongestionControl?: string
  options: Omit<SwarmBenchOptions, 'outDir'>
  environment: MachineFacts & { loadAverageStart: number[], loadAverageEnd: number[] }
  image: { reference: string, layers: Array<{ digest: string, size: number }>, manifestDigest: string }
  /** Layers, config and manifest: every byte one pull moves. */
  imageBytes: number
  /** Each host link, each direction. */
  linkBytesPerSecond: number
  originLinkBytesPerSecond: number
  /** imageBytes / linkBytesPerSecond: no host can pull the image faster. */
  physicalLimitSeconds: number
  /** The first scenario's (all of them under `scenarios`). */
  scenario: ScenarioName
  swarm: ScenarioReport['swarm']
  direct: ScenarioReport['direct']
  goals: Goal[]
  scenarios: ScenarioReport[]
}

export interface ScenarioMeasures {
  scenario: Scenario
  swarm: SwarmPhaseResult
  direct: DirectPhaseResult
  /** From the agents' debug logs (`--logs`). */
  relay?: RelaySpread
}

export function scenarioReport (m: ScenarioMeasures, facts: { imageBytes: number, physicalLimitSeconds: number }): ScenarioReport {
  const killed = new Set(m.swarm.killed?.hosts ?? [])
  const swarmSide = side(m.swarm, facts, killed, 'h')
  const direct = side(m.direct, facts, new Set(), 'd')
  const fromOriginBytes = sum(m.swarm.traffic.map(t => t.fromOriginBytes))
  const fromPeersBytes = sum(m.swarm.traffic.map(t => t.fromPeersBytes))
  const report: ScenarioReport = {
    scenario: m.scenario.name,
    description: m.scenario.description,
    swarm: {
      ...swarmSide,
      trafficBySource: { fromOriginBytes, fromOriginRatio: fromOriginBytes / facts.imageBytes, fromPeersBytes, peerShare: fromPeersBytes / Math.max(1, fromOriginBytes + fromPeersBytes), perAgent: m.swarm.traffic },
      killed: m.swarm.killed,
      prefetch: m.swarm.prefetch,
      warmUp: m.swarm.warmUp,
      relay: m.relay
    },
    direct,
    speedupP50: direct.completionSeconds.p50 / swarmSide.completionSeconds.p50,
    goals: []
  }
  report.goals = goalsOf(report)
  return report
}

function side (phase: { results: PullResult[], wallSeconds: number, originEgressBytes: number, originRetransmits?: number, links?: LinkUtilisation }, facts: { imageBytes: number, physicalLimitSeconds: number }, killed: Set<string>, kind: 'h' | 'd'): SideReport {
  const finished = phase.results.filter(r => r.verified && r.seconds != null).map(r => r.seconds as number)
  const completionSeconds = completionOf(finished)
  const limit = facts.physicalLimitSeconds
  const isHost = (name: string): boolean => /^\d+$/.test(name.slice(1)) && name.startsWith(kind)
  return {
    originEgressBytes: phase.originEgressBytes,
    originEgressRatio: phase.originEgressBytes / facts.imageBytes,
    originRetransmits: phase.originRetransmits,
    completionSeconds,
    completionRatio: { p50: completionSeconds.p50 / limit, p90: completionSeconds.p90 / limit, max: completionSeconds.max / limit },
    wallSeconds: phase.wallSeconds,
    hosts: phase.results,
    failed: phase.results.filter(r => !r.verified && !killed.has(r.host)).map(r => r.host),
    links: phase.links,
    idle: phase.links == null ? undefined : idleSummary(phase.links, isHost),
    lag: phase.links == null ? undefined : originLag(phase.links, isHost),
    loss: phase.links == null ? undefined : switchLoss(phase.links)
  }
}

function goalsOf (r: ScenarioReport): Goal[] {
  const s = r.swarm
  const everyone: Goal = {
    what: r.scenario === 'churn' ? 'every surviving host finishes with the right digests' : 'every host finishes with the right digests',
    target: 'all',
    value: `${s.completionSeconds.n} of ${s.hosts.length - (s.killed?.hosts.length ?? 0)}`,
    pass: s.failed.length === 0 && s.completionSeconds.n === s.hosts.length - (s.killed?.hosts.length ?? 0)
  }
  // The direct pull's goals, when one ran (not --skip-direct). A baseline that fails is no
  // baseline: every direct pull must finish too.
  const d = r.direct
  const direct: Goal[] = d.hosts.length === 0
    ? []
    : [
        { what: 'direct p50 / swarm p50', target: `>= ${C.GOAL_FRESH_SPEEDUP_P50_MIN}`, value: r.speedupP50, pass: r.speedupP50 >= C.GOAL_FRESH_SPEEDUP_P50_MIN },
        { what: 'every direct pull finishes with the right digests', target: 'all', value: `${d.completionSeconds.n} of ${d.hosts.length}`, pass: d.failed.length === 0 && d.completionSeconds.n === d.hosts.length }
      ]
  switch (r.scenario) {
    case 'fresh':
      return [
        atMost('origin egress / image bytes', s.originEgressRatio, C.GOAL_FRESH_ORIGIN_EGRESS_RATIO_MAX),
        atMost('p50 completion / physical limit', s.completionRatio.p50, C.GOAL_FRESH_P50_LIMIT_RATIO_MAX),
        atMost('max completion / physical limit', s.completionRatio.max, C.GOAL_FRESH_MAX_LIMIT_RATIO_MAX),
        everyone,
        ...direct
      ]
    case 'no-scheduler':
      return [atMost('origin egress / image bytes', s.originEgressRatio, C.GOAL_NO_SCHEDULER_ORIGIN_EGRESS_RATIO_MAX), everyone]
    case 'prefetched':
      return [atMost('p50 completion / physical limit', s.completionRatio.p50, C.GOAL_PREFETCHED_P50_LIMIT_RATIO_MAX), everyone]
    default:
      return [everyone]
  }
}

function atMost (what: string, value: number, max: number): Goal {
  return { what, target: `<= ${max}`, value, pass: value <= max }
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0)
