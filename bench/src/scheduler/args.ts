import { integerFlag, parseFlags } from '../flags.ts'
import { outDirOf } from '../harness.ts'
import { BenchUsageError } from '../mirror/errors.ts'
import * as C from './constants.ts'

export interface Size {
  agents: number
  tasks: number
}

export interface SchedulerBenchOptions {
  sizes: Size[]
  downloadsPerAgent: number
  heldPerAgent: number
  /** Zipf exponent of task popularity (0: uniform). */
  skew: number
  rolloutMs: number
  /** Agents send their piece table after every report, as they do (default on). */
  tables: boolean
  /** Pin each size's process to one CPU with taskset (when it exists). */
  pin: boolean
  seed: number
  /** Run each size with --cpu-prof and summarize where its time goes. */
  profile: boolean
  outDir: string
}

export const SCHEDULER_USAGE = `usage: pnpm bench scheduler [options]
  --sizes LIST      sizes to run, agents x tasks, comma-separated (default ${C.DEFAULT_SIZES})
  --downloads N     tasks each agent pulls during the run (default ${C.DEFAULT_DOWNLOADS_PER_AGENT})
  --held N          tasks each agent holds from earlier pulls, announced at registration (default ${C.DEFAULT_HELD_PER_AGENT})
  --skew S          Zipf exponent of task popularity; 0 is uniform (default ${C.DEFAULT_POPULARITY_SKEW})
  --rollout-ms MS   agents start their pulls within this much simulated time (default ${C.DEFAULT_ROLLOUT_MS})
  --no-tables       agents send no piece table (they do, after origin pieces and at the end)
  --no-pin          do not pin each size's process to one CPU (taskset -c 0)
  --seed N          seed of the simulated swarm (default ${C.DEFAULT_SEED})
  --profile         run each size with --cpu-prof; the report lists where its CPU time goes
  --out DIR         where report.json and report.md go (default bench/out/scheduler-<timestamp>)
A real SchedulerService in a process of its own per size, fed by simulated agents: every agent message is
encoded with the protobuf codec and decoded with decodeAgentMessage, then handled; every answer is encoded.
Tasks are ${C.TASK_BYTES / C.MIB} MiB blobs (64 pieces). Decision rounds (tick) every ${C.ROUND_MS} ms of simulated time, each
agent reporting once per pull per round. Goals: >= ${C.GOAL_REPORTS_PER_SECOND_MIN.toLocaleString('en')} piece reports/s on one core,
p99 decision latency <= ${C.GOAL_P99_DECISION_MS_MAX} ms, p99 round <= ${C.GOAL_P99_ROUND_MS_MAX} ms, peak RSS <= ${C.GOAL_PEAK_RSS_MIB_MAX} MiB.`

export function parseSchedulerArgs (argv: string[], defaultOutRoot: string, now = new Date()): SchedulerBenchOptions {
  const values = parseFlags(argv, {
    sizes: { type: 'string' },
    downloads: { type: 'string' },
    held: { type: 'string' },
    skew: { type: 'string' },
    'rollout-ms': { type: 'string' },
    'no-tables': { type: 'boolean' },
    'no-pin': { type: 'boolean' },
    seed: { type: 'string' },
    profile: { type: 'boolean' },
    out: { type: 'string' }
  })
  const skew = typeof values.skew === 'string' ? Number(values.skew) : C.DEFAULT_POPULARITY_SKEW
  if (!Number.isFinite(skew) || skew < 0) throw new BenchUsageError(`--skew must be a number >= 0, not ${JSON.stringify(values.skew)}`)
  return {
    sizes: sizes(typeof values.sizes === 'string' ? values.sizes : C.DEFAULT_SIZES),
    downloadsPerAgent: integerFlag(values.downloads, '--downloads', C.DEFAULT_DOWNLOADS_PER_AGENT),
    heldPerAgent: integerFlag(values.held, '--held', C.DEFAULT_HELD_PER_AGENT, 0),
    skew,
    rolloutMs: integerFlag(values['rollout-ms'], '--rollout-ms', C.DEFAULT_ROLLOUT_MS, C.ROUND_MS),
    tables: values['no-tables'] !== true,
    pin: values['no-pin'] !== true,
    seed: integerFlag(values.seed, '--seed', C.DEFAULT_SEED, 0),
    profile: values.profile === true,
    outDir: outDirOf('scheduler', values.out, defaultOutRoot, now)
  }
}

function sizes (raw: string): Size[] {
  const out: Size[] = []
  for (const part of raw.split(',').map(s => s.trim()).filter(s => s !== '')) {
    const match = /^(\d+)x(\d+)$/.exec(part)
    if (match == null || Number(match[1]) < 2 || Number(match[2]) < 1) throw new BenchUsageError(`--sizes: ${JSON.stringify(part)} is not AGENTSxTASKS (at least 2 agents and 1 task)`)
    out.push({ agents: Number(match[1]), tasks: Number(match[2]) })
  }
  if (out.length === 0) throw new BenchUsageError('--sizes names no size')
  return out
}
