/**
 * `bench swarm`: N simulated hosts pull one cold image through their agents (the swarm pull), then
 * N clients with the same links pull it straight from the origin (the direct pull), in one run on
 * one machine, per scenario. In netns mode every host has its own network namespace and tbf-shaped
 * link; in loopback mode the agents' own limits and shaping proxies stand in. Writes report.json,
 * report.md and a chart per scenario, and prints the tables with the goals.
 */
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { benchOptions, elapsedLog, withTeardown, writeReport } from '../harness.ts'
import type { Teardown } from '../mirror/teardown.ts'
import { parseSwarmRuns, SWARM_USAGE } from './args.ts'
import type { SwarmBenchOptions } from './args.ts'
import { writeChart, writeLinkChart } from './chart.ts'
import { BYTES_PER_SECOND_PER_MBIT, MIB } from './constants.ts'
import { runDirectPhase } from './direct-phase.ts'
import { generateImage, registryDataDirOf } from './image.ts'
import { goalsTable, renderLinesMarkdown, renderMarkdown, scenarioTable } from './markdown.ts'
import { netnsAvailable } from './netns.ts'
import type { Mode, NetworkInit, SwarmNetwork } from './network.ts'
import { createLoopbackNetwork } from './network-loopback.ts'
import { createNetnsNetwork } from './network-netns.ts'
import { scenarioReport } from './report.ts'
import type { ScenarioReport, SwarmReport } from './report.ts'
import { readRelaySpread } from './relay-spread.ts'
import { scenarioOf } from './scenarios.ts'
import { runSwarmPhase } from './swarm-phase.ts'
import { machineFacts } from '../machine.ts'

export { SWARM_USAGE } from './args.ts'

export interface SwarmBenchIo {
  /** Where bench/out is. */
  outRoot: string
}

/** Runs the benchmark; resolves to the process exit code (0 even when a goal is missed, 1 when a host pulled wrong bytes). */
export async function runSwarmBench (argv: string[], io: SwarmBenchIo): Promise<number> {
  const runs = benchOptions<SwarmBenchOptions[]>('swarm', argv, SWARM_USAGE, () => parseSwarmRuns(argv, io.outRoot))
  if (typeof runs === 'number') return runs
  const log = elapsedLog()
  return withTeardown('swarm', async (teardown, signal) => {
    const reports: SwarmReport[] = []
    for (const options of runs) {
      const report = await measure(options, { teardown, signal, log })
      reports.push(report)
      await writeReport(options.outDir, report, renderMarkdown(report))
      for (const r of report.scenarios) {
        await writeChart(join(options.outDir, `chart-${r.scenario}.svg`), r, report.physicalLimitSeconds)
        await writeLinkChart(join(options.outDir, `links-${r.scenario}.svg`), r)
        if (r === report.scenarios[0]) await writeChart(join(options.outDir, 'chart.svg'), r, report.physicalLimitSeconds)
        console.log(`\n${r.scenario} at ${options.linkMbit} Mbit (mode ${report.mode}, physical limit ${report.physicalLimitSeconds.toFixed(1)} s)\n${scenarioTable(r)}\n\n${goalsTable(r)}`)
      }
      console.log(`\nreport: ${join(options.outDir, 'report.md')}, report.json, chart.svg`)
    }
    if (runs.length > 1) {
      const outDir = dirname(runs[0]?.outDir ?? '.')
      await writeReport(outDir, { lines: reports.map((r, i) => ({ dir: basename(runs[i]?.outDir ?? ''), linkMbit: r.options.linkMbit, layerBytes: r.options.layerBytes, goals: r.goals })) }, renderLinesMarkdown(reports, runs.map(r => basename(r.outDir))))
      console.log(`\nsummary of the ${runs.length} runs: ${join(outDir, 'report.md')}`)
    }
    const wrong = reports.some(report => report.scenarios.some(r => r.swarm.failed.length > 0 || r.direct.failed.length > 0))
    return wrong ? 1 : 0
  })
}

interface MeasureComponents {
  teardown: Teardown
  signal: AbortSignal
  log: (line: string) => void
}

async function measure (options: SwarmBenchOptions, { teardown, signal, log }: MeasureComponents): Promise<SwarmReport> {
  const startedAt = new Date().toISOString()
  const loadAverageStart = loadavg()
  const { mode, reason } = await chooseMode(options.mode)
  const hostRate = options.linkMbit * BYTES_PER_SECOND_PER_MBIT
  const originRate = options.originLinkMbit * BYTES_PER_SECOND_PER_MBIT
  log(`bench swarm: ${options.hosts} hosts, ${options.layers} × ${(options.layerBytes / MIB).toFixed(1)} MiB layers, links ${options.linkMbit} Mbit/s ` +
    `(origin ${options.originLinkMbit}${options.originRttMs > 0 ? `, ${options.originRttMs} ms away` : ''}), scenarios ${options.scenarios.join(', ')}; mode ${mode} (${reason}); out ${options.outDir}`)

  const workDir = await mkdtemp(join(options.workRoot ?? tmpdir(), 'shoal-bench-swarm-'))
  teardown.defer(`work dir ${workDir}`, async () => { await rm(workDir, { recursive: true, force: true }) })
  const registryDataDir = registryDataDirOf(workDir)
  const pushStarted = performance.now()
  const { image, warmUp } = await generateImage({ layers: options.layers, layerBytes: options.layerBytes, warmUp: options.warmAgents, registryDataDir, track: child => { teardown.track(child) }, signal })
  log(`image ${image.reference}: ${(image.bytes / 1e6).toFixed(1)} MB pushed in ${((performance.now() - pushStarted) / 1000).toFixed(1)} s` +
    (warmUp == null ? '' : `; warm-up image ${warmUp.reference}: ${(warmUp.bytes / 1e6).toFixed(1)} MB`))

  const init: NetworkInit = {
    registryDataDir, workDir, hostBytesPerSecond: hostRate, originBytesPerSecond: originRate, originRttMs: options.originRttMs, congestionControl: options.tcpCongestionControl, signal
  }
  const network: SwarmNetwork = mode === 'netns' ? await createNetnsNetwork({ teardown }, init) : await createLoopbackNetwork({ teardown }, init)
  log(`origin: docker-registry at ${network.origin.url} (${mode})`)
  const physicalLimitSeconds = image.bytes / hostRate
  // Always kept: warnings and errors are few, and a pull that fails must be explainable afterwards.
  const logDir = join(options.outDir, 'logs')
  const logLevel = options.logs ? 'debug' : 'warn'
  await mkdir(logDir, { recursive: true })
  const scenarios: ScenarioReport[] = []
  try {
    for (const name of options.scenarios) {
      const scenario = scenarioOf(name)
      const phaseInit = { scenario, image, hosts: options.hosts, physicalSeconds: physicalLimitSeconds, workDir, logDir, logLevel, prefetchSpread: options.prefetchSpread, warmUp } as const
      log(`${name}: swarm pull, ${options.hosts} hosts — ${scenario.description}`)
      const swarm = await runSwarmPhase({ network, teardown, log, signal }, phaseInit)
      if (!options.skipDirect) log(`${name}: direct pull, ${options.hosts} clients`)
      const direct = options.skipDirect ? { results: [], wallSeconds: 0, originEgressBytes: 0 } : await runDirectPhase({ network, teardown, log, signal }, phaseInit)
      // The agents' debug lines (--logs) say how fast each piece spread from host to host.
      const relay = options.logs ? await readRelaySpread(swarm.results.map(p => ({ host: p.host, file: join(logDir, `${name}-${p.host}.log`) })), options.hosts) : undefined
      const r = scenarioReport({ scenario, swarm, direct, relay }, { imageBytes: image.bytes, physicalLimitSeconds })
      scenarios.push(r)
      log(`${name}: swarm p50 ${r.swarm.completionSeconds.p50.toFixed(1)} s, max ${r.swarm.completionSeconds.max.toFixed(1)} s, origin ${r.swarm.originEgressRatio.toFixed(2)}× image; ` +
        `direct p50 ${r.direct.completionSeconds.p50.toFixed(1)} s, origin ${r.direct.originEgressRatio.toFixed(2)}×`)
    }
  } finally {
    await network.close()
  }

  const { outDir: _outDir, ...reportedOptions } = options
  const first = scenarios[0] as ScenarioReport
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    mode,
    modeReason: reason,
    egressCountedBy: network.egressCountedBy,
    tcpCongestionControl: network.congestionControl,
    options: reportedOptions,
    environment: { ...machineFacts(), loadAverageStart, loadAverageEnd: loadavg() },
    image: { reference: image.reference, layers: image.layers, manifestDigest: image.pushed.manifestDigest },
    imageBytes: image.bytes,
    linkBytesPerSecond: hostRate,
    originLinkBytesPerSecond: originRate,
    physicalLimitSeconds,
    scenario: first.scenario,
    swarm: first.swarm,
    direct: first.direct,
    goals: first.goals,
    scenarios
  }
}

async function chooseMode (choice: SwarmBenchOptions['mode']): Promise<{ mode: Mode, reason: string }> {
  if (choice === 'loopback') return { mode: 'loopback', reason: 'chosen with --mode loopback' }
  const available = await netnsAvailable()
  if (available.ok) return { mode: 'netns', reason: choice === 'netns' ? 'chosen with --mode netns' : 'auto: root with iproute2' }
  if (choice === 'netns') throw new Error(`--mode netns cannot run here: ${available.why}`)
  return { mode: 'loopback', reason: `auto: netns unavailable (${available.why})` }
}
