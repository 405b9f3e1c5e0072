/**
 * `bench mirror`: the agent as a pull-through cache against the origin it fronts, measured as
 * ratios in one run against one origin and one blob set, agent and origin runs interleaved:
 * (a) cold pull time on loopback, (a2) the same across a shaped origin link, (b) warm pull
 * throughput, (c) the agent's peak RSS serving one big blob to several clients. Writes report.json and report.md and prints the table with the goals.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { benchOptions, elapsedLog, withTeardown, writeReport } from '../harness.ts'
import { startRegistry } from '@shoal/test/fixtures/index.ts'
import { MIRROR_USAGE, parseMirrorArgs } from './args.ts'
import type { MirrorBenchOptions } from './args.ts'
import { pushGeneratedBlob } from './blobs.ts'
import type { BenchBlob } from './blobs.ts'
import { BENCH_REPOSITORY, MIB, PROFILE_TOP_FILES, PROFILE_TOP_FUNCTIONS, PUSH_TIMEOUT_MS } from './constants.ts'
import { summarizeProfiles } from './profile.ts'
import type { ProfileSummary } from './profile.ts'
import { evaluateGoals, renderMarkdown, renderProfile, resultsTable } from './report.ts'
import type { MirrorReport } from './report.ts'
import { runBig, runCold, runColdLink, runWarm } from './sections.ts'
import type { BenchContext } from './sections.ts'
import type { Teardown } from './teardown.ts'
import { machineFacts } from '../machine.ts'

export { MIRROR_USAGE } from './args.ts'

const PRIMER_BYTES = MIB
const PRIMER_SEED = 999
const BIG_SEED = 1000

export interface MirrorBenchIo {
  /** Where bench/out is. */
  outRoot: string
}

/** Runs the benchmark; resolves to the process exit code (0 even when a goal is missed). */
export async function runMirrorBench (argv: string[], io: MirrorBenchIo): Promise<number> {
  const options = benchOptions<MirrorBenchOptions>('mirror', argv, MIRROR_USAGE, () => parseMirrorArgs(argv, io.outRoot))
  if (typeof options === 'number') return options

  const log = elapsedLog()
  return withTeardown('mirror', async (teardown, signal) => {
    const report = await measure(options, { teardown, signal, log })
    await writeReport(options.outDir, report, renderMarkdown(report))
    console.log('')
    console.log(resultsTable(report))
    for (const [role, p] of Object.entries(report.profiles ?? {})) console.log(`\n${renderProfile(`agent CPU profile, ${role}`, p)}`)
    console.log(`\nreport: ${join(options.outDir, 'report.md')} and report.json`)
    return 0
  })
}

interface MeasureComponents {
  teardown: Teardown
  signal: AbortSignal
  log: (line: string) => void
}

async function measure (options: MirrorBenchOptions, { teardown, signal, log }: MeasureComponents): Promise<MirrorReport> {
  const startedAt = new Date().toISOString()
  const loadAverageStart = loadavg()
  const sections = options.sections
  log(`bench mirror: ${options.blobCount} × ${options.blobBytes / MIB} MiB blobs, ${options.runs} rounds + ${options.warmup} warm-up; ` +
    `big blob ${options.bigBlobBytes / MIB} MiB to ${options.bigClients} clients; origin link ${options.originLinkMbit} Mbit/s; sections ${sections.join(', ')}; agent data under ${options.agentDataRoot ?? tmpdir()}; out ${options.outDir}`)

  const workDir = await mkdtemp(join(tmpdir(), 'shoal-bench-'))
  teardown.defer(`work dir ${workDir}`, async () => { await rm(workDir, { recursive: true, force: true }) })
  let agentRoot = workDir
  if (options.agentDataRoot != null) {
    const dir = await mkdtemp(join(options.agentDataRoot, 'shoal-bench-agents-'))
    teardown.defer(`agent dirs ${dir}`, async () => { await rm(dir, { recursive: true, force: true }) })
    agentRoot = dir
  }
  const registry = await startRegistry({ dataDir: join(workDir, 'origin'), track: child => { teardown.track(child) }, signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) })
  teardown.defer('origin registry', registry.stop)
  log(`origin: docker-registry at ${registry.url}`)

  const pushStarted = performance.now()
  const push = async (size: number, seed: number): Promise<BenchBlob> => {
    const t = performance.now()
    const blob = await pushGeneratedBlob(registry.url, BENCH_REPOSITORY, { size, seed }, { signal: AbortSignal.any([signal, AbortSignal.timeout(PUSH_TIMEOUT_MS)]) })
    log(`pushed ${(size / MIB).toFixed(0)} MiB blob ${blob.digest.slice(0, 19)}… in ${((performance.now() - t) / 1000).toFixed(1)} s`)
    return blob
  }
  const blobs: BenchBlob[] = []
  if (sections.includes('cold') || sections.includes('cold-link') || sections.includes('warm')) {
    for (let i = 0; i < options.blobCount; i++) blobs.push(await push(options.blobBytes, i + 1))
  }
  const primer = await push(PRIMER_BYTES, PRIMER_SEED)
  const bigBlob = sections.includes('big') ? await push(options.bigBlobBytes, BIG_SEED) : undefined
  const pushSeconds = (performance.now() - pushStarted) / 1000

  const ctx: BenchContext = {
    options,
    origin: { url: registry.url, host: registry.host },
    blobs,
    primer,
    bigBlob,
    agentRoot,
    profileRoot: options.profile ? join(options.outDir, 'profiles') : undefined,
    teardown,
    signal,
    log
  }
  const cold = sections.includes('cold') ? await runCold(ctx) : undefined
  const coldLink = sections.includes('cold-link') ? await runColdLink(ctx) : undefined
  const warm = sections.includes('warm') ? await runWarm(ctx) : undefined
  const big = sections.includes('big') ? await runBig(ctx) : undefined

  let profiles: Record<string, ProfileSummary> | undefined
  if (ctx.profileRoot != null) {
    profiles = {}
    for (const role of ['cold', 'cold-link', 'warm', 'big-cold', 'big-warm']) {
      const summary = await summarizeProfiles(join(ctx.profileRoot, role), { topFunctions: PROFILE_TOP_FUNCTIONS, topFiles: PROFILE_TOP_FILES })
      if (summary != null) profiles[role] = summary
    }
  }

  const { outDir: _outDir, ...reportedOptions } = options
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    options: reportedOptions,
    environment: { ...machineFacts(), loadAverageStart, loadAverageEnd: loadavg() },
    origin: { blobs, bigBlob, pushSeconds },
    cold,
    coldLink,
    warm,
    big,
    goals: evaluateGoals({ cold, coldLink, warm, big }),
    profiles
  }
}
