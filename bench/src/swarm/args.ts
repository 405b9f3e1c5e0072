import { dirFlag, integerFlag, namesFlag, parseFlags } from '../flags.ts'
import type { FlagValue } from '../flags.ts'
import { join } from 'node:path'
import { outDirOf } from '../harness.ts'
import * as C from './constants.ts'
import { BenchUsageError } from './errors.ts'
import { SCENARIOS } from './scenarios.ts'
import type { ScenarioName } from './scenarios.ts'

export type ModeChoice = 'auto' | 'netns' | 'loopback'

export interface SwarmBenchOptions {
  hosts: number
  layers: number
  layerBytes: number
  /** Every host link, each direction, in Mbit/s (10^6 bits per second). */
  linkMbit: number
  /** The origin's link; the host rate unless given. */
  originLinkMbit: number
  /** Round trip added between the origin and everyone (a registry across a WAN), in ms; 0: none. */
  originRttMs: number
  scenarios: ScenarioName[]
  mode: ModeChoice
  outDir: string
  /** Where agent data and pulled images go (the OS temp dir by default). */
  workRoot?: string
  /** Agents and the scheduler log at debug level into <out>/logs/ (every piece, with its timings). */
  logs: boolean
  /** Only the swarm pull: no direct baseline (for quick comparisons while working on the swarm). */
  skipDirect: boolean
  /** How the prefetched scenario's `shoal prefetch` places the image (undefined: the scheduler's default, pieces). */
  prefetchSpread?: 'pieces' | 'blobs'
  /** Before the timed pull every agent pulls a small image of other bytes through the swarm, as agents that have run before. */
  warmAgents: boolean
  /** `net.ipv4.tcp_congestion_control` in every machine's namespace (netns mode); unset: the machine's own. */
  tcpCongestionControl?: string
}

export const SWARM_USAGE = `usage: pnpm bench swarm [options]
  --hosts N            simulated hosts, each with its own agent (default ${C.DEFAULT_HOSTS})
  --layers K           layers of the generated image (default ${C.DEFAULT_LAYERS})
  --layer-mb M         size of each layer in MiB, random bytes (default ${C.DEFAULT_LAYER_MIB}; see --link-mbit)
  --link-mbit R        rate of every host link, each direction, in Mbit/s (default: two runs, ${C.DEFAULT_LINES.map(l => `${l.linkMbit} Mbit with ${l.layerMiB} MiB layers`).join(' and ')})
  --origin-link-mbit R rate of the origin's link (default: the host rate)
  --origin-rtt-ms T    round trip between the origin and every host, swarm and direct alike (a registry
                       across a WAN; netns mode, by a delaying proxy in the origin's namespace) (default 0)
  --scenario NAME      ${SCENARIOS.join(', ')}, or all (in that order) (default fresh)
  --mode MODE          netns (namespaces, veth, tc tbf: needs root and iproute2), loopback (agents'
                       own bandwidth limits and shaping proxies), or auto: netns when it works (default)
  --work-dir DIR       where agent data and pulled images go, e.g. /dev/shm (default: OS temp dir)
  --logs               agents and the scheduler log at debug level (every piece with its timings) into <out>/logs/
  --skip-direct        only the swarm pull, no direct baseline (quick comparisons; no speedup figure)
  --prefetch-spread S  prefetched scenario: shoal prefetch --spread pieces (the default: a stripe of every
                       layer on every agent) or blobs (whole layers on single agents)
  --warm-agents        before the timed pull every agent pulls a small image of other bytes through the
                       swarm (untimed), as on a fleet whose agents have run before; by default the agents
                       start just before the pull, and their first seconds cost CPU (docs/dev/ramp.md)
  --tcp-cc NAME        TCP congestion control in every machine's namespace, e.g. reno (netns mode; default:
                       the machine's own, named in the report). What the hosts lose at the switch depends
                       on it: with this VM's bbr far more than with reno (docs/dev/relay-latency.md)
  --out DIR            where report.json, report.md and chart.svg go (default bench/out/swarm-<timestamp>)
Each scenario runs the swarm pull (N hosts through their agents) and then the direct pull (N clients
with the same links straight from the origin), same image, back to back.`

/**
 * The runs `bench swarm` makes: with neither --link-mbit nor --layer-mb, the two lines the goals
 * name, 100 Mbit with layers of 64 MiB and 25 Mbit with layers of 16 MiB (a quarter of the bytes at a
 * quarter of the rate: the same physical limit), each in a folder of its own under --out; else one.
 */
export function parseSwarmRuns (argv: string[], defaultOutRoot: string, now = new Date()): SwarmBenchOptions[] {
  const values = parseFlags(argv, FLAGS)
  const options = swarmOptions(values, defaultOutRoot, now)
  if (values['link-mbit'] != null || values['layer-mb'] != null) return [options]
  return C.DEFAULT_LINES.map(line => ({
    ...options,
    linkMbit: line.linkMbit,
    originLinkMbit: values['origin-link-mbit'] == null ? line.linkMbit : options.originLinkMbit,
    layerBytes: line.layerMiB * C.MIB,
    outDir: join(options.outDir, `${line.linkMbit}mbit`)
  }))
}

const FLAGS = {
  hosts: { type: 'string' },
  layers: { type: 'string' },
  'layer-mb': { type: 'string' },
  'link-mbit': { type: 'string' },
  'origin-link-mbit': { type: 'string' },
  'origin-rtt-ms': { type: 'string' },
  scenario: { type: 'string' },
  mode: { type: 'string' },
  'work-dir': { type: 'string' },
  out: { type: 'string' },
  logs: { type: 'boolean' },
  'skip-direct': { type: 'boolean' },
  'prefetch-spread': { type: 'string' },
  'warm-agents': { type: 'boolean' },
  'tcp-cc': { type: 'string' }
} as const

/** The options of one run from parsed `bench swarm` flags; errors name the flag. `defaultOutRoot` is where bench/out lives. */
function swarmOptions (values: Record<string, FlagValue>, defaultOutRoot: string, now: Date): SwarmBenchOptions {
  const linkMbit = positive(values['link-mbit'], '--link-mbit', C.DEFAULT_LINK_MBIT)
  return {
    hosts: integerFlag(values.hosts, '--hosts', C.DEFAULT_HOSTS, 2),
    layers: integerFlag(values.layers, '--layers', C.DEFAULT_LAYERS, 1),
    layerBytes: Math.round(positive(values['layer-mb'], '--layer-mb', C.DEFAULT_LAYER_MIB) * C.MIB),
    linkMbit,
    originLinkMbit: positive(values['origin-link-mbit'], '--origin-link-mbit', linkMbit),
    originRttMs: integerFlag(values['origin-rtt-ms'], '--origin-rtt-ms', 0, 0),
    scenarios: parseScenarios(values.scenario),
    mode: parseMode(values.mode),
    outDir: outDirOf('swarm', values.out, defaultOutRoot, now),
    workRoot: dirFlag(values['work-dir']),
    logs: values.logs === true,
    skipDirect: values['skip-direct'] === true,
    prefetchSpread: parseSpread(values['prefetch-spread']),
    warmAgents: values['warm-agents'] === true,
    tcpCongestionControl: parseCongestionControl(values['tcp-cc'])
  }
}

/** A congestion control's name as the kernel lists it (reno, bbr, cubic); whether it may be set is the kernel's answer. */
function parseCongestionControl (raw: FlagValue): string | undefined {
  if (raw == null || typeof raw === 'boolean') return undefined
  if (/^[a-z][a-z0-9_]{0,15}$/.test(raw)) return raw
  throw new BenchUsageError(`--tcp-cc must name a TCP congestion control such as reno or bbr, not ${JSON.stringify(raw)}`)
}

/** A positive decimal (a layer of 0.5 MiB, a 2.5 Mbit/s link). */
function positive (raw: FlagValue, flag: string, fallback: number): number {
  if (raw == null || typeof raw === 'boolean') return fallback
  if (!/^\d+(\.\d+)?$/.test(raw) || Number(raw) <= 0) throw new BenchUsageError(`${flag} must be a number > 0, not ${JSON.stringify(raw)}`)
  return Number(raw)
}

function parseSpread (raw: FlagValue): SwarmBenchOptions['prefetchSpread'] {
  if (raw == null || typeof raw === 'boolean') return undefined
  if (raw === 'pieces' || raw === 'blobs') return raw
  throw new BenchUsageError(`--prefetch-spread must be pieces or blobs, not ${JSON.stringify(raw)}`)
}

function parseScenarios (raw: FlagValue): ScenarioName[] {
  if (raw == null || typeof raw === 'boolean') return ['fresh']
  if (raw === 'all') return [...SCENARIOS]
  return namesFlag(raw, '--scenario', SCENARIOS, 'scenario', ['all'])
}

function parseMode (raw: FlagValue): ModeChoice {
  if (raw == null || typeof raw === 'boolean') return 'auto'
  if (raw === 'auto' || raw === 'netns' || raw === 'loopback') return raw
  throw new BenchUsageError(`--mode must be auto, netns or loopback, not ${JSON.stringify(raw)}`)
}
