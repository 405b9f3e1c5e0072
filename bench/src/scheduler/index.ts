/**
 * `bench scheduler`: a load run of the scheduler's real handlers with simulated agents, in-process
 * (no sockets): piece reports per second, decision latency and peak RSS at two or three sizes.
 * Each size runs in a child process of its own (run-size.ts), pinned to one CPU, so that its
 * peak RSS is its own and "one core" means one.
 */
import { spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { benchOptions, elapsedLog, writeReport } from '../harness.ts'
import { fileURLToPath } from 'node:url'
import { summarizeProfiles } from '../mirror/profile.ts'
import { renderProfile } from '../mirror/report.ts'
import { parseSchedulerArgs, SCHEDULER_USAGE } from './args.ts'
import type { SchedulerBenchOptions, Size } from './args.ts'
import * as C from './constants.ts'
import { SizeRunError } from './errors.ts'
import type { SizeInit, SizeResult } from './load-run.ts'
import { detailTable, renderMarkdown, resultsTable } from './report.ts'
import type { SchedulerReport, SizeRun } from './report.ts'
import { machineFacts } from '../machine.ts'

export { SCHEDULER_USAGE } from './args.ts'

const RUN_SIZE = fileURLToPath(new URL('./run-size.ts', import.meta.url))
const TASKSET = '/usr/bin/taskset'

/** Runs the benchmark; resolves to the process exit code (0 even when a goal is missed). */
export async function runSchedulerBench (argv: string[], io: { outRoot: string }): Promise<number> {
  const options = benchOptions<SchedulerBenchOptions>('scheduler', argv, SCHEDULER_USAGE, () => parseSchedulerArgs(argv, io.outRoot))
  if (typeof options === 'number') return options
  const log = elapsedLog()
  const controller = new AbortController()
  const onSignal = (sig: NodeJS.Signals): void => { controller.abort(new Error(`interrupted by ${sig}`)) }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    const startedAt = new Date().toISOString()
    const pin = options.pin && existsSync(TASKSET)
    const sizes: SizeRun[] = []
    for (const size of options.sizes) {
      log(`${size.agents} agents × ${size.tasks} tasks${pin ? ', pinned to CPU 0' : ''}…`)
      const profileDir = options.profile ? join(options.outDir, 'profiles', `${size.agents}x${size.tasks}`) : undefined
      const result = await runSizeProcess(size, options, { pin, profileDir, signal: controller.signal })
      log(`  ${Math.round(result.report.reportsPerSecond)} reports/s, decision p99 ${result.decisions.p99Ms.toFixed(2)} ms, peak RSS ${(result.memory.peakRssBytes / C.MIB).toFixed(0)} MiB`)
      const profile = profileDir == null ? undefined : await summarizeProfiles(profileDir, { topFunctions: C.PROFILE_TOP_FUNCTIONS, topFiles: C.PROFILE_TOP_FILES })
      sizes.push({ result, pinned: pin, profile })
    }
    const { outDir: _outDir, ...reported } = options
    const report: SchedulerReport = {
      startedAt,
      finishedAt: new Date().toISOString(),
      options: reported,
      environment: { ...machineFacts(), loadAverageEnd: loadavg() },
      sizes
    }
    await writeReport(options.outDir, report, renderMarkdown(report))
    console.log(`\n${resultsTable(report)}\n\n${detailTable(report)}`)
    for (const run of sizes) if (run.profile != null) console.log(`\n${renderProfile(`CPU profile, ${run.result.agents} agents × ${run.result.tasks} tasks`, run.profile)}`)
    console.log(`\nreport: ${join(options.outDir, 'report.md')} and report.json`)
    return 0
  } catch (err) {
    if (controller.signal.aborted) return 130
    throw err
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
  }
}

/** One size in a child process; resolves to the SizeResult it prints. */
async function runSizeProcess (size: Size, options: SchedulerBenchOptions, run: { pin: boolean, profileDir?: string, signal: AbortSignal }): Promise<SizeResult> {
  const init: SizeInit = {
    agents: size.agents,
    tasks: size.tasks,
    downloadsPerAgent: options.downloadsPerAgent,
    heldPerAgent: options.heldPerAgent,
    skew: options.skew,
    rolloutRounds: Math.max(1, Math.round(options.rolloutMs / C.ROUND_MS)),
    seed: options.seed,
    tables: options.tables
  }
  // No V8 flag: `shoal scheduler` runs on V8's defaults (only `shoal agent` adds its own, cli/src/node-flags.ts).
  const nodeArgs = [...(run.profileDir == null ? [] : ['--cpu-prof', '--cpu-prof-dir', run.profileDir]), RUN_SIZE, JSON.stringify(init)]
  const [command, args] = run.pin ? [TASKSET, ['-c', '0', process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs]
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'inherit'], signal: AbortSignal.any([run.signal, AbortSignal.timeout(C.SIZE_TIMEOUT_MS)]) })
  let stdout = ''
  child.stdout.setEncoding('utf8')
  child.stdout.on('data', (chunk: string) => { stdout += chunk })
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', resolve)
  }).catch((err: Error) => { throw new SizeRunError(`the run of ${size.agents}x${size.tasks} failed: ${err.message}`, { cause: err }) })
  const line = stdout.trim().split('\n').at(-1)
  if (code !== 0 || line == null || line === '') throw new SizeRunError(`the run of ${size.agents}x${size.tasks} exited with ${code} and printed no result`)
  return JSON.parse(line) as SizeResult
}
