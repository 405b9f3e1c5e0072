/**
 * `bench peer-link`: the throughput of one peer link between two agents against bare js-libp2p
 * with the same transport, encryption and muxer, measured in the same run, with and without a
 * swarm key, beside Node's own TLS over TCP (what a byte costs without libp2p's stream stack);
 * and agent A's peak RSS while several agents pull a big blob from it at once.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { loadavg } from 'node:os'
import { join } from 'node:path'
import { benchOptions, elapsedLog, withTeardown, writeReport } from '../harness.ts'
import { startRegistry } from '@shoal/test/fixtures/index.ts'
import { pushGeneratedBlob } from '../mirror/blobs.ts'
import type { BenchBlob } from '../mirror/blobs.ts'
import { summarizeProfiles } from '../mirror/profile.ts'
import type { ProfileSummary } from '../mirror/profile.ts'
import { renderProfile } from '../mirror/report.ts'
import type { Teardown } from '../mirror/teardown.ts'
import type { PeerLinkContext } from './agents.ts'
import { PEER_LINK_USAGE, parsePeerLinkArgs } from './args.ts'
import type { KeyMode, PeerLinkOptions } from './args.ts'
import { runBare } from './bare.ts'
import * as C from './constants.ts'
import { renderMarkdown, resultsTable } from './report.ts'
import type { LinkResult, PeerLinkReport } from './report.ts'
import { mbps, mib, rssCase, seedAgent, shoalRound } from './sections.ts'
import { machineFacts } from '../machine.ts'

export { PEER_LINK_USAGE } from './args.ts'

/** Runs the benchmark; resolves to the process exit code (0 even when a goal is missed). */
export async function runPeerLinkBench (argv: string[], io: { outRoot: string }): Promise<number> {
  const options = benchOptions<PeerLinkOptions>('peer-link', argv, PEER_LINK_USAGE, () => parsePeerLinkArgs(argv, io.outRoot))
  if (typeof options === 'number') return options
  const log = elapsedLog()
  return withTeardown('peer-link', async (teardown, signal) => {
    const report = await measure(options, teardown, signal, log)
    await writeReport(options.outDir, report, renderMarkdown(report))
    console.log(`\n${resultsTable(report)}`)
    for (const [role, p] of Object.entries(report.profiles ?? {})) console.log(`\n${renderProfile(`CPU profile, ${role}`, p)}`)
    console.log(`\nreport: ${join(options.outDir, 'report.md')} and report.json`)
    return 0
  })
}

async function measure (options: PeerLinkOptions, teardown: Teardown, signal: AbortSignal, log: (line: string) => void): Promise<PeerLinkReport> {
  const startedAt = new Date().toISOString()
  const { sections } = options
  log(`bench peer-link: ${options.blobBytes / C.MIB} MiB, ${options.runs} rounds, swarm key ${options.keyModes.join(' and ')}, sections ${sections.join(', ')}`)
  const workDir = await mkdtemp(join(options.agentDataRoot ?? '/tmp', 'peerlink-bench-'))
  teardown.defer(`work dir ${workDir}`, async () => { await rm(workDir, { recursive: true, force: true }) })
  const profileRoot = options.profile ? join(options.outDir, 'profiles') : undefined
  const needAgents = sections.includes('shoal') || sections.includes('rss')

  let ctx: PeerLinkContext | undefined
  if (needAgents) {
    const registry = await startRegistry({ dataDir: join(workDir, 'origin'), track: child => { teardown.track(child) }, signal: AbortSignal.any([signal, AbortSignal.timeout(30_000)]) })
    teardown.defer('origin registry', registry.stop)
    const push = async (size: number, seed: number): Promise<BenchBlob> => {
      const t = performance.now()
      const blob = await pushGeneratedBlob(registry.url, C.BENCH_REPOSITORY, { size, seed }, { signal: AbortSignal.any([signal, AbortSignal.timeout(C.PUSH_TIMEOUT_MS)]) })
      log(`pushed ${mib(size)} blob ${blob.digest.slice(0, 19)}… to the origin in ${((performance.now() - t) / 1000).toFixed(1)} s`)
      return blob
    }
    const primer = await push(C.PRIMER_BLOB_MIB * C.MIB, C.PRIMER_SEED)
    const blob = await push(options.blobBytes, C.BIG_SEED)
    ctx = { origin: { url: registry.url, host: registry.host }, blob, primer, agentRoot: join(workDir, 'agents'), profileRoot, teardown, signal, log }
  }

  const links: LinkResult[] = []
  for (const keyMode of options.keyModes) links.push(await measureLink(options, keyMode, { ctx, workDir, profileRoot, teardown, signal, log }))

  let profiles: Record<string, ProfileSummary> | undefined
  if (profileRoot != null) {
    profiles = {}
    for (const role of ['bare-off', 'bare-on', 'tls-off', 'tls-on', 'a-off', 'a-on', 'b-off', 'b-on', 'rss-b-off', 'rss-b-on']) {
      const summary = await summarizeProfiles(join(profileRoot, role), { topFunctions: C.PROFILE_TOP_FUNCTIONS, topFiles: C.PROFILE_TOP_FILES })
      if (summary != null) profiles[role] = summary
    }
  }
  const { outDir: _outDir, ...reported } = options
  return {
    startedAt,
    finishedAt: new Date().toISOString(),
    options: reported,
    environment: { ...machineFacts(), loadAverageEnd: loadavg() },
    links,
    profiles
  }
}

interface LinkComponents {
  ctx?: PeerLinkContext
  workDir: string
  profileRoot?: string
  teardown: Teardown
  signal: AbortSignal
  log: (line: string) => void
}

/** Every section for one swarm-key mode: a fresh agent A, then rounds of bare, TLS and shoal, then (c). */
async function measureLink (options: PeerLinkOptions, keyMode: KeyMode, { ctx, workDir, profileRoot, teardown, signal, log }: LinkComponents): Promise<LinkResult> {
  const { sections, blobBytes } = options
  const result: LinkResult = { keyMode, bareMBps: [], tlsMBps: [], shoalMBps: [], ratio: [], cpuSecondsPerGiB: { bareServer: [], bareFetcher: [], tlsServer: [], tlsFetcher: [], a: [], b: [] } }
  let swarmKeyFile: string | undefined
  if (keyMode === 'on') {
    swarmKeyFile = join(workDir, 'swarm.key')
    await writeFile(swarmKeyFile, `/key/swarm/psk/1.0.0/\n/base16/\n${randomBytes(32).toString('hex')}\n`)
  }
  const swarmKey = swarmKeyFile == null ? undefined : await readFile(swarmKeyFile)
  const a = ctx == null ? undefined : await seedAgent(ctx, keyMode, swarmKeyFile)
  try {
    for (let round = 0; round < options.runs; round++) {
      const bare = sections.includes('bare')
        ? await runBare({
          stack: 'libp2p',
          bytes: blobBytes,
          runs: 1,
          swarmKey,
          profileDir: profileRoot == null ? undefined : join(profileRoot, `bare-${keyMode}`),
          track: child => { teardown.track(child) },
          signal
        })
        : undefined
      const native = sections.includes('tls')
        ? await runBare({
          stack: 'tls',
          bytes: blobBytes,
          runs: 1,
          profileDir: profileRoot == null ? undefined : join(profileRoot, `tls-${keyMode}`),
          track: child => { teardown.track(child) },
          signal
        })
        : undefined
      const shoal = sections.includes('shoal') && ctx != null && a != null
        ? await shoalRound(ctx, a, keyMode, round, swarmKeyFile)
        : undefined
      const bareMBps = bare == null ? undefined : mbps(blobBytes, bare.seconds[0] ?? Number.NaN)
      const shoalMBps = shoal == null ? undefined : mbps(blobBytes, shoal.seconds)
      if (bareMBps != null) result.bareMBps.push(bareMBps)
      if (native != null) result.tlsMBps.push(mbps(blobBytes, native.seconds[0] ?? Number.NaN))
      if (shoalMBps != null) result.shoalMBps.push(shoalMBps)
      if (bareMBps != null && shoalMBps != null) result.ratio.push(shoalMBps / bareMBps)
      // The bare series' CPU covers its warm-up too.
      const bareGiB = (blobBytes + C.BARE_WARMUP_BYTES) / C.GIB
      const perGiB = (seconds: number | undefined, gib: number): number => seconds == null ? Number.NaN : seconds / gib
      if (bare != null) result.cpuSecondsPerGiB.bareServer.push(perGiB(bare.serverCpuSeconds, bareGiB))
      if (bare != null) result.cpuSecondsPerGiB.bareFetcher.push(perGiB(bare.fetcherCpuSeconds, bareGiB))
      if (native != null) result.cpuSecondsPerGiB.tlsServer.push(perGiB(native.serverCpuSeconds, bareGiB))
      if (native != null) result.cpuSecondsPerGiB.tlsFetcher.push(perGiB(native.fetcherCpuSeconds, bareGiB))
      if (shoal != null) result.cpuSecondsPerGiB.a.push(perGiB(shoal.cpuSecondsA, blobBytes / C.GIB))
      if (shoal != null) result.cpuSecondsPerGiB.b.push(perGiB(shoal.cpuSecondsB, blobBytes / C.GIB))
      if (bare == null && native == null && shoal == null) continue
      const c = result.cpuSecondsPerGiB
      const [bareServer, bareFetcher, tlsServer, tlsFetcher, cpuA, cpuB] = [c.bareServer, c.bareFetcher, c.tlsServer, c.tlsFetcher, c.a, c.b]
        .map(list => list.length === 0 ? '–' : (list.at(-1) ?? Number.NaN).toFixed(2))
      log(`swarm key ${keyMode}, round ${round + 1}/${options.runs}: bare ${bareMBps?.toFixed(0) ?? '–'} MB/s, TLS ${result.tlsMBps.at(-1)?.toFixed(0) ?? '–'} MB/s, shoal ${shoalMBps?.toFixed(0) ?? '–'} MB/s` +
        (bareMBps != null && shoalMBps != null ? `, shoal/bare ${(shoalMBps / bareMBps).toFixed(2)}` : '') +
        `; CPU s/GiB: bare server ${bareServer!}, fetcher ${bareFetcher!}, TLS server ${tlsServer!}, fetcher ${tlsFetcher!}, agent A ${cpuA!}, B ${cpuB!}; load ${loadavg()[0]!.toFixed(1)}`)
    }
    if (sections.includes('rss') && ctx != null && a != null) {
      result.rss = await rssCase(ctx, a, keyMode, options.rssPeers, swarmKeyFile)
      log(`swarm key ${keyMode}: A's peak RSS ${mib(result.rss.peakRssBytes)} uploading to ${options.rssPeers} peers (${result.rss.seconds.toFixed(1)} s; ` +
        `RSS ${mib(result.rss.startRssBytes)} when they started; load ${loadavg()[0]!.toFixed(1)})`)
    }
  } finally {
    await a?.stop()
  }
  return result
}
