/**
 * `bench stall`: what clients and peers that stop reading cost the agent. One agent process holds a
 * cached blob; HTTP clients read its headers and stop, piece streams ask for pieces and never read;
 * meanwhile another client GETs a manifest. Reported: the agent's RSS before, at its highest while
 * stalled and after the stallers close, and the manifest GET's latency percentiles.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { loadSwarmKey } from '@shoal/p2p'
import { parseDigest, pieceCountFor } from '@shoal/proto'
import { layerFixture, pushImage, startRegistry } from '@shoal/test/fixtures/index.ts'
import { request } from 'undici'
import { benchOptions, elapsedLog, markdownTable, withTeardown, writeReport } from '../harness.ts'
import { startAgentProcess } from '../mirror/agent-process.ts'
import type { AgentProcess } from '../mirror/agent-process.ts'
import { parseStallArgs, STALL_USAGE } from './args.ts'
import type { StallOptions } from './args.ts'
import { probe, stallHttpClients, stallPieceStreams } from './stallers.ts'

export { STALL_USAGE } from './args.ts'

const MIB = 1024 * 1024
const PROBE_INTERVAL_MS = 50
const RSS_SAMPLE_MS = 250
const GOAL_RSS_GROWTH_MIB = 100
const GOAL_PROBE_P99_MS = 50
const GOAL_ROUND_DRIFT_MIB = 25
const MANIFEST_ACCEPT = 'application/vnd.docker.distribution.manifest.v2+json'

export interface CycleReport {
  httpStatuses: Record<number, number>
  pieceStreams: number
  pieceStreamsReset: number
  peakMiB: number
  afterMiB: number
  probeMs: Percentiles
}

export interface StallReport {
  startedAt: string
  machine: { cpus: number, loadavg: number[] }
  options: Omit<StallOptions, 'outDir'>
  rssBeforeMiB: number
  probeBeforeMs: Percentiles
  cycles: CycleReport[]
  goals: Array<{ name: string, target: string, value: string, pass: boolean }>
}

interface Percentiles { n: number, p50: number, p99: number, max: number, failed: number }

export async function runStallBench (argv: string[], io: { outRoot: string }): Promise<number> {
  const options = benchOptions<StallOptions>('stall', argv, STALL_USAGE, () => parseStallArgs(argv, io.outRoot))
  if (typeof options === 'number') return options
  const log = elapsedLog()
  return withTeardown('stall', async (teardown, signal) => {
    const startedAt = new Date().toISOString()
    const work = await mkdtemp(join('/tmp', 'stall-bench-'))
    teardown.defer(`work dir ${work}`, async () => { await rm(work, { recursive: true, force: true }) })
    const registry = await startRegistry({ dataDir: join(work, 'origin'), track: child => { teardown.track(child) }, signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) })
    teardown.defer('origin registry', registry.stop)
    const image = await pushImage(registry, { name: 'bench/stall', tag: 'v1', format: 'docker', layers: [layerFixture({ size: options.blobBytes, seed: 7 })] })
    const digest = parseDigest(image.layers[0]?.digest ?? '')
    log(`pushed bench/stall:v1 with a ${options.blobBytes / MIB} MiB layer`)
    const keyFile = join(work, 'swarm.key')
    await writeFile(keyFile, `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`)
    const agent = await startAgentProcess({ track: child => { teardown.track(child) } }, {
      upstream: { url: registry.url, host: registry.host },
      dataDir: join(work, 'agent'),
      args: ['--p2p-listen', '/ip4/127.0.0.1/tcp/0', '--swarm-key', keyFile, ...options.agentArgs],
      signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)])
    })
    teardown.defer('agent', agent.stop)
    const blobPath = `/v2/bench/stall/blobs/${digest}`
    const manifestUrl = `${agent.url}/v2/bench/stall/manifests/v1`
    await warm(`${agent.url}${blobPath}`, manifestUrl)
    log(`agent ${agent.pid} holds the blob; settling`)
    await sleep(2000)

    const beforeProbe = probe(manifestUrl, { accept: MANIFEST_ACCEPT }, PROBE_INTERVAL_MS)
    await sleep(3000)
    const probeBefore = percentiles(await beforeProbe.stop())
    const rssBefore = (await agent.memory()).rssBytes
    const swarmKey = await loadSwarmKey(keyFile)

    const cycles: CycleReport[] = []
    for (let round = 1; round <= options.cycles; round++) {
      let peak = (await agent.memory()).rssBytes
      const sampler = setInterval(() => { agent.memory().then(m => { peak = Math.max(peak, m.rssBytes) }, () => {}) }, RSS_SAMPLE_MS)
      const stopSampler = teardown.defer('RSS sampler', async () => { clearInterval(sampler) })
      const http = await stallHttpClients(agent.url, blobPath, options.httpClients, signal)
      const closeHttp = teardown.defer('stalled HTTP clients', http.close)
      const streams = await stallPieceStreams({
        agent: agent.p2pAddresses[0] ?? '',
        swarmKey,
        digest,
        pieceCount: pieceCountFor(options.blobBytes),
        connections: options.peerConnections,
        streams: options.streamsPerConnection,
        piecesPerStream: 4,
        signal
      })
      const closeStreams = teardown.defer('stalled piece streams', streams.close)
      log(`round ${round}: HTTP clients ${JSON.stringify(http.statuses)} (status: count), ${streams.stalled} piece streams stalled over ${options.peerConnections} connections${streams.firstError == null ? '' : ` (others refused: ${streams.firstError})`}; holding ${options.holdMs / 1000} s`)
      // Probed once everything is stalled: the latency another client sees while they hold on.
      const stalledProbe = probe(manifestUrl, { accept: MANIFEST_ACCEPT }, PROBE_INTERVAL_MS)
      await sleep(options.holdMs)
      agent.assertRunning()
      const probeStalled = percentiles(await stalledProbe.stop())
      await closeHttp()
      await closeStreams()
      await stopSampler()
      log(`round ${round}: stallers closed; waiting for memory to come back`)
      const after = await settledRss(agent, options.settleMs)
      cycles.push({ httpStatuses: http.statuses, pieceStreams: streams.stalled, pieceStreamsReset: streams.reset, peakMiB: peak / MIB, afterMiB: after / MIB, probeMs: probeStalled })
    }

    const first = cycles[0] as CycleReport
    const last = cycles[cycles.length - 1] as CycleReport
    const growth = Math.max(...cycles.map(c => c.peakMiB)) - rssBefore / MIB
    const notReturned = first.afterMiB - rssBefore / MIB
    const drift = last.afterMiB - first.afterMiB
    const worstP99 = Math.max(...cycles.map(c => c.probeMs.p99))
    const failed = cycles.reduce((n, c) => n + c.probeMs.failed, 0)
    const report: StallReport = {
      startedAt,
      machine: { cpus: cpus().length, loadavg: loadavg() },
      options: { blobBytes: options.blobBytes, httpClients: options.httpClients, peerConnections: options.peerConnections, streamsPerConnection: options.streamsPerConnection, holdMs: options.holdMs, settleMs: options.settleMs, cycles: options.cycles, agentArgs: options.agentArgs },
      rssBeforeMiB: rssBefore / MIB,
      probeBeforeMs: probeBefore,
      cycles,
      goals: [
        { name: 'RSS growth while stalled', target: `<= ${GOAL_RSS_GROWTH_MIB} MiB`, value: `${growth.toFixed(0)} MiB`, pass: growth <= GOAL_RSS_GROWTH_MIB },
        { name: 'manifest GET p99 while stalled', target: `<= ${GOAL_PROBE_P99_MS} ms`, value: `${worstP99.toFixed(1)} ms (${failed} failed)`, pass: worstP99 <= GOAL_PROBE_P99_MS && failed === 0 },
        { name: 'RSS back after the stallers closed', target: `<= ${GOAL_RSS_GROWTH_MIB / 2} MiB above before`, value: `${notReturned.toFixed(0)} MiB`, pass: notReturned <= GOAL_RSS_GROWTH_MIB / 2 },
        { name: 'no growth from round to round (a leak would)', target: `<= ${GOAL_ROUND_DRIFT_MIB} MiB`, value: `${drift.toFixed(0)} MiB over ${cycles.length - 1} more round(s)`, pass: drift <= GOAL_ROUND_DRIFT_MIB }
      ]
    }
    const table = markdownTable(['goal', 'target', 'measured', 'pass'], report.goals.map(g => [g.name, g.target, g.value, g.pass ? 'yes' : 'NO']))
    const rounds = markdownTable(['round', 'HTTP clients (status: count)', 'piece streams stalled (reset)', 'RSS peak MiB', 'RSS after MiB', 'manifest p50 / p99 ms'],
      cycles.map((c, i) => [String(i + 1), JSON.stringify(c.httpStatuses), `${c.pieceStreams} (${c.pieceStreamsReset})`, c.peakMiB.toFixed(0), c.afterMiB.toFixed(0), `${c.probeMs.p50.toFixed(1)} / ${c.probeMs.p99.toFixed(1)}`]))
    const markdown = [
      `# bench stall (${startedAt})`, '',
      `${options.httpClients} HTTP clients and ${options.peerConnections} x ${options.streamsPerConnection} piece streams stall on a ${options.blobBytes / MIB} MiB blob for ${options.holdMs / 1000} s, ${options.cycles} round(s); agent flags: ${options.agentArgs.join(' ') || 'defaults'}; ${cpus().length} cores, load ${loadavg().map(l => l.toFixed(2)).join(' ')}.`, '',
      `RSS before: ${report.rssBeforeMiB.toFixed(0)} MiB. Manifest GET before: p50 ${probeBefore.p50.toFixed(1)} / p99 ${probeBefore.p99.toFixed(1)} ms.`, '',
      rounds, '',
      table
    ].join('\n')
    await writeReport(options.outDir, report, markdown)
    console.log(`\n${markdown}\n\nreport: ${join(options.outDir, 'report.md')} and report.json`)
    return 0
  })
}

async function warm (blobUrl: string, manifestUrl: string): Promise<void> {
  const blob = await request(blobUrl, { signal: AbortSignal.timeout(120_000) })
  await blob.body.dump({ limit: Infinity })
  if (blob.statusCode !== 200) throw new Error(`warming the blob: ${blob.statusCode}`)
  const manifest = await request(manifestUrl, { headers: { accept: MANIFEST_ACCEPT }, signal: AbortSignal.timeout(30_000) })
  await manifest.body.dump()
  if (manifest.statusCode !== 200) throw new Error(`warming the manifest: ${manifest.statusCode}`)
}

/** The lowest RSS seen over `ms` after the stallers closed (memory handed back takes a GC or two). */
async function settledRss (agent: AgentProcess, ms: number): Promise<number> {
  let low = Infinity
  const end = Date.now() + ms
  while (Date.now() < end) {
    low = Math.min(low, (await agent.memory()).rssBytes)
    await sleep(500)
  }
  return low
}

function percentiles (samples: number[]): Percentiles {
  const ok = samples.filter(Number.isFinite).sort((a, b) => a - b)
  const at = (q: number): number => ok.length === 0 ? Infinity : ok[Math.min(ok.length - 1, Math.ceil(q * ok.length) - 1)] ?? Infinity
  return { n: samples.length, p50: at(0.5), p99: at(0.99), max: at(1), failed: samples.length - ok.length }
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
