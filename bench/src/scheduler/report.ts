import { renderProfile } from '../mirror/report.ts'
import type { ProfileSummary } from '../mirror/profile.ts'
import type { SchedulerBenchOptions } from './args.ts'
import * as C from './constants.ts'
import type { SizeResult } from './load-run.ts'
import { markdownTable } from '../harness.ts'
import { describeMachine } from '../machine.ts'
import type { MachineFacts } from '../machine.ts'

export interface SizeRun {
  result: SizeResult
  /** Whether the size ran pinned to one CPU. */
  pinned: boolean
  profile?: ProfileSummary
}

export interface SchedulerReport {
  startedAt: string
  finishedAt: string
  options: Omit<SchedulerBenchOptions, 'outDir'>
  environment: MachineFacts & { loadAverageEnd: number[] }
  sizes: SizeRun[]
}

const verdict = (pass: boolean): string => pass ? 'PASS' : 'MISS'
const thousands = (n: number): string => Math.round(n).toLocaleString('en')
const mib = (bytes: number): string => `${(bytes / C.MIB).toFixed(0)} MiB`
const ms = (n: number): string => n < 10 ? n.toFixed(2) : n.toFixed(0)
const sizeName = (r: SizeResult): string => `${thousands(r.agents)} agents × ${r.tasks} tasks`

/** The table printed at the end: each size against the four goals. */
export function resultsTable (report: SchedulerReport): string {
  const rows = report.sizes.map(({ result: r }) => {
    const rate = r.report.reportsPerSecond
    const rss = r.memory.peakRssBytes
    return [
      sizeName(r),
      `${thousands(r.report.pieces)} in ${(r.report.wallMs / 1000).toFixed(1)} s`,
      `${thousands(rate)} ${verdict(rate >= C.GOAL_REPORTS_PER_SECOND_MIN && r.report.unfinished === 0)}`,
      `${ms(r.decisions.p50Ms)} / ${ms(r.decisions.p99Ms)} / ${ms(r.decisions.maxMs)} ${verdict(r.decisions.p99Ms <= C.GOAL_P99_DECISION_MS_MAX)}`,
      `${ms(r.ticks.p50Ms)} / ${ms(r.ticks.p99Ms)} / ${ms(r.ticks.maxMs)} ${verdict(r.ticks.p99Ms <= C.GOAL_P99_ROUND_MS_MAX)}`,
      `${mib(rss)} ${verdict(rss <= C.GOAL_PEAK_RSS_MIB_MAX * C.MIB)}`,
      mib(r.memory.peakHeapUsedBytes)
    ]
  })
  return markdownTable([
    'size', 'piece reports', `reports/s (>= ${thousands(C.GOAL_REPORTS_PER_SECOND_MIN)})`, `decision ms p50/p99/max (p99 <= ${C.GOAL_P99_DECISION_MS_MAX})`,
    `round (tick) ms p50/p99/max (p99 <= ${C.GOAL_P99_ROUND_MS_MAX})`, `peak RSS (<= ${C.GOAL_PEAK_RSS_MIB_MAX} MiB)`, 'peak heap'
  ], rows)
}

/** Where the time of the report phase went, and what the swarm looked like, per size. */
export function detailTable (report: SchedulerReport): string {
  const rows = report.sizes.map(({ result: r, pinned }) => {
    const p = r.report
    const other = p.wallMs - p.handleMs - p.tickMs
    return [
      sizeName(r),
      `${thousands(r.downloads)} (max ${thousands(r.maxDownloadersPerTask)} on one task; ${thousands(r.seeds)} seeds)`,
      `${p.rounds}`,
      `${thousands(p.frames.piecesFinished)} / ${thousands(p.frames.pieceTable)} / ${thousands(p.frames.announceTask)}`,
      `${thousands(p.handleMs)} / ${thousands(p.tickMs)} / ${thousands(other)}`,
      `${(p.cpuMs / p.wallMs).toFixed(2)}${pinned ? ' (pinned)' : ''}`,
      `${thousands(r.sent.messages)}, ${(r.sent.bytes / 1e6).toFixed(0)} MB`,
      `${thousands(p.piecesFromOrigin)} (${(p.piecesFromOrigin / r.pieces).toFixed(1)} blobs)`,
      `${thousands(r.registration.messages)} in ${(r.registration.wallMs / 1000).toFixed(1)} s`
    ]
  })
  return markdownTable([
    'size', 'pulls', 'rounds', 'frames in: finished / table / announce', 'ms: decode+handle / tick / agents+encode', 'CPU/wall',
    'frames out', 'pieces from origin', 'registration frames'
  ], rows)
}

export function renderMarkdown (report: SchedulerReport): string {
  const e = report.environment
  const o = report.options
  const lines = [
    '# shoal scheduler load benchmark',
    '',
    `${report.startedAt} – ${report.finishedAt}; ${describeMachine(e)}; load average at end ${e.loadAverageEnd.map(n => n.toFixed(2)).join(' ')}.`,
    '',
    'A real SchedulerService, one process per size' + (o.pin ? ' pinned to one CPU (taskset)' : '') + ', fed by simulated agents in the same ' +
      'process: every agent frame is encoded with the protobuf codec, decoded with `decodeAgentMessage` and handled, as the server ' +
      'does per frame; every answer is encoded as the server encodes it (`encodeSchedulerMessage`, once per message however many agents it goes to) and dropped once the simulated agent has read its ' +
      `origin pieces and parents. Tasks are ${C.TASK_BYTES / C.MIB} MiB blobs of 64 pieces. The mix: each agent holds ${o.heldPerAgent} ` +
      `older tasks (the less popular half) from earlier pulls, announced in full at registration, and pulls ${o.downloadsPerAgent} tasks ` +
      `drawn by popularity (Zipf, exponent ${o.skew}), starting at a random moment within ${o.rolloutMs} ms; the more popular half ` +
      'of the tasks is new (cold: the origin split applies). In every round of ' +
      `${C.ROUND_MS} ms simulated time each pull finishes 1 to ${C.MAX_PIECES_PER_REPORT} pieces (fixed per agent): its origin pieces first, ` +
      'then pieces its parents hold (as the scheduler described them), and reports them as the agent does: one PiecesFinished per ' +
      `source, then ${o.tables ? 'its piece table' : '(tables off)'}; a finished pull is announced in full. After each round the ` +
      'scheduler decides (`tick`).',
    '',
    '**Measures.** Piece reports/s = pieces reported finished / wall time of the pull phase (everything in it: agent frames ' +
      'encoded and decoded, handled, decision rounds, and the simulated agents\' own bookkeeping, so it understates the ' +
      'scheduler\'s rate a little). Decision latency: the `onDecision` event, one per task per round it changed (parents, ' +
      'origin pieces and table for all its downloaders, answers encoded). Tick: one whole round. Peak RSS: VmHWM of the size\'s ' +
      'process; peak heap: the largest used heap seen after a round.',
    '',
    resultsTable(report),
    '',
    detailTable(report),
    ''
  ]
  for (const run of report.sizes) if (run.profile != null) lines.push(renderProfile(sizeName(run.result), run.profile), '')
  return lines.join('\n')
}
