/**
 * The swarm pull of one scenario: N hosts, each with its own agent (and, when the scenario has
 * one, a scheduler process), all cold; optional prefetch; the timed pulls through the agents;
 * churn; traffic by source from the agents that are left; everything stopped and removed after.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { agentPeerId } from '@shoal/test/helpers/identity.ts'
import type { Teardown } from '../mirror/teardown.ts'
import { LINK_SAMPLE_INTERVAL_MS, SERVICE_READY_TIMEOUT_MS, WARM_UP_SETTLE_MS } from './constants.ts'
import { ServiceError } from './errors.ts'
import type { BenchImage } from './image.ts'
import { agentTraffic, metricsOf, readAgentSeries } from './metrics.ts'
import type { AgentTraffic } from './metrics.ts'
import { LinkSampler } from './link-sampler.ts'
import { readCpuTimes } from './machine-cpu.ts'
import type { LinkUtilisation } from './link-sampler.ts'
import { countOriginRetransmits } from './network.ts'
import type { HostSlot, SwarmNetwork } from './network.ts'
import { runPullPhase } from './pull-phase.ts'
import type { PullResult } from './pull.ts'
import { startPull } from './pull.ts'
import type { Scenario } from './scenarios.ts'
import { placementText } from './markdown.ts'
import { AGENT_SITE, runPrefetch, startAgent, startScheduler } from './services.ts'
import type { AgentService, SchedulerService, ServiceLogLevel } from './services.ts'

export interface SwarmPhaseResult {
  results: PullResult[]
  wallSeconds: number
  originEgressBytes: number
  /** TCP segments the origin sent again during the pull phase (netns mode). */
  originRetransmits?: number
  /** Per surviving agent, read after the pull. */
  traffic: AgentTraffic[]
  killed?: { hosts: string[], atSeconds: number, atBytes: number }
  /** Every link's rates each second of the pull phase (netns mode). */
  links?: LinkUtilisation
  prefetch?: { seconds: number, originEgressBytes: number, spread: Array<{ layer: string, host: string, stripe?: { index: number, count: number } }> }
  /** `--warm-agents`: the untimed pull of the warm-up image by every agent before the phase. */
  warmUp?: { seconds: number, bytes: number }
}

export interface PhaseComponents {
  network: SwarmNetwork
  teardown: Teardown
  log: (line: string) => void
  signal: AbortSignal
}

export interface PhaseInit {
  scenario: Scenario
  image: BenchImage
  hosts: number
  /** image bytes / host link rate. */
  physicalSeconds: number
  workDir: string
  plainProgress?: boolean
  /** Agents and the scheduler log into files here, at `logLevel`. */
  logDir?: string
  /** debug with `--logs`, else warn: a failed pull can always be looked into. */
  logLevel?: ServiceLogLevel
  /** `--prefetch-spread`: how the prefetched scenario places the image. */
  prefetchSpread?: 'pieces' | 'blobs'
  /** `--warm-agents`: the image every agent pulls through the swarm before the timed pull. */
  warmUp?: BenchImage
}

export async function runSwarmPhase (components: PhaseComponents, init: PhaseInit): Promise<SwarmPhaseResult> {
  const { network, teardown, log, signal } = components
  const { scenario, image } = init
  const dir = join(init.workDir, `swarm-${scenario.name}`)
  await mkdir(dir, { recursive: true })
  const removeDir = teardown.defer(`swarm dir ${dir}`, async () => { await rm(dir, { recursive: true, force: true }) })
  const hosts = await network.addHosts('h', init.hosts, { signal })
  const removeHosts = teardown.defer('swarm hosts', async () => { await network.removeHosts(hosts) })
  const agentStops: Array<() => Promise<void>> = []
  let stopScheduler: (() => Promise<void>) | undefined
  const track = (child: Parameters<Teardown['track']>[0]): void => { teardown.track(child) }
  let sampler: LinkSampler | undefined
  const ready = (): AbortSignal => AbortSignal.any([signal, AbortSignal.timeout(SERVICE_READY_TIMEOUT_MS)])
  try {
    const schedulers: string[] = []
    let scheduler: SchedulerService | undefined
    const membership = await writeMembership(dir, hosts, scenario.scheduler)
    if (scenario.scheduler) {
      scheduler = await startScheduler({ track }, await network.scheduler(), { dataDir: join(dir, 'scheduler'), logFile: logFileOf(init, 'scheduler'), logLevel: init.logLevel, signal: ready() })
      const started = scheduler
      stopScheduler = teardown.defer('scheduler', async () => { await started.process.stop() })
      schedulers.push(scheduler.addr)
      log(`scheduler at ${scheduler.addr}`)
    }
    const start = async (host: HostSlot, bootstrap: string[]): Promise<AgentService> => {
      const agent = await startAgent({ track }, host, { upstream: network.origin, dataDir: join(dir, host.name, 'agent'), schedulers, bootstrap, membership, logFile: logFileOf(init, host.name), logLevel: init.logLevel, signal: ready() })
      agentStops.push(teardown.defer(`agent of ${host.name}`, async () => { await agent.process.stop() }))
      return agent
    }
    // Without a scheduler, host 0 is everyone's bootstrap peer (the DHT's entry point).
    const first = await start(hosts[0] as HostSlot, [])
    const agents = [first, ...await Promise.all(hosts.slice(1).map(async h => start(h, scenario.scheduler ? [] : [first.p2pAddress])))]
    await waitConnected(agents, scenario.scheduler ? 'shoal_agent_schedulers_connected' : 'shoal_agent_peers_connected', ready())
    log(`${agents.length} agents ready (${scenario.scheduler ? 'each connected to the scheduler' : 'each with a peer, DHT only'})`)

    let prefetch: SwarmPhaseResult['prefetch']
    if (scenario.prefetch) {
      if (scheduler == null) throw new ServiceError('the prefetched scenario needs its scheduler')
      const before = await network.originEgressBytes()
      const t = performance.now()
      // The operator's command, as before a rollout: the image spread over the site, each byte once.
      const summary = await runPrefetch({ track }, scheduler, { image: `${network.origin.host}/${image.reference}`, site: AGENT_SITE, spread: init.prefetchSpread, signal })
      const hostOf = new Map(agents.map(a => [a.p2pAddress.split('/p2p/')[1] ?? '', a.host.name]))
      const spread = summary.job.layers.flatMap(l => l.targets.map(target => ({ layer: l.digest, host: hostOf.get(target.agent) ?? target.agent, stripe: target.stripe })))
      prefetch = { seconds: (performance.now() - t) / 1000, originEgressBytes: await network.originEgressBytes() - before, spread }
      log(`prefetched with shoal prefetch (job ${summary.job.id}): ${placementText(spread)} in ${prefetch.seconds.toFixed(1)} s`)
    }

    let warmUp: SwarmPhaseResult['warmUp']
    if (init.warmUp != null) warmUp = await warmUpAgents({ log, track, signal }, { agents, image: init.warmUp, dir })

    const victims = new Set((scenario.churn?.hosts(init.hosts) ?? []).map(i => hosts[i]?.name ?? ''))
    let killed: SwarmPhaseResult['killed']
    const egressBefore = await network.originEgressBytes()
    const retransmits = await countOriginRetransmits(network)
    // Each agent's counters now: the phase's figures are counted from here (not the prefetch's or a warm-up's).
    const metricsBefore = new Map(await Promise.all(agents.map(async a => [a.host.name, await metricsOf(a, AbortSignal.any([signal, AbortSignal.timeout(10_000)]))] as const)))
    sampler = startSampler(network)
    const phase = await runPullPhase({
      title: `swarm ${scenario.name}`,
      imageBytes: image.bytes,
      plainProgress: init.plainProgress,
      signal,
      hosts: agents.map((agent, i) => ({
        name: agent.host.name,
        delaySeconds: scenario.startDelaySeconds(i, init.hosts, init.physicalSeconds),
        start: async () => startPull(agent.host, { image, registryHost: agent.host.closedHost, mirror: agent.mirror, workDir: join(dir, agent.host.name, 'pull'), track })
      })),
      onTick: scenario.churn == null
        ? undefined
        : async ({ totalBytes, pulls, elapsedSeconds }) => {
          const churn = scenario.churn
          if (killed != null || churn == null || totalBytes < churn.atProgress * init.hosts * image.bytes) return
          killed = { hosts: [...victims], atSeconds: elapsedSeconds, atBytes: totalBytes }
          for (const agent of agents.filter(a => victims.has(a.host.name))) {
            agent.process.signal('SIGKILL')
            pulls.get(agent.host.name)?.kill()
          }
          log(`churn: SIGKILLed the agents (and pulls) of ${killed.hosts.join(', ')} at ${elapsedSeconds.toFixed(1)} s, ${(totalBytes / 1e6).toFixed(0)} MB moved`)
        }
    })
    const links = await sampler?.stop()
    const originEgressBytes = await network.originEgressBytes() - egressBefore
    const originRetransmits = await retransmits()
    const traffic = await Promise.all(agents.filter(a => a.process.ended() == null).map(async a => {
      return agentTraffic(a.host.name, await metricsOf(a, AbortSignal.any([signal, AbortSignal.timeout(10_000)])), metricsBefore.get(a.host.name))
    }))
    return { results: phase.results, wallSeconds: phase.wallSeconds, originEgressBytes, originRetransmits, traffic, killed, links, prefetch, warmUp }
  } finally {
    await sampler?.stop()
    // Agents at once (each may take its grace period), then the scheduler.
    await Promise.all(agentStops.map(async stop => { await stop() }))
    await stopScheduler?.()
    await removeHosts()
    await removeDir()
  }
}

function logFileOf (init: PhaseInit, name: string): string | undefined {
  return init.logDir == null ? undefined : join(init.logDir, `${init.scenario.name}-${name}.log`)
}

/**
 * Every agent pulls the warm-up image through the swarm at once, untimed, then the agents settle: as
 * agents that have run before, with their code compiled and optimised, their connections to each
 * other and their hashing threads up. Agents started just before a pull spend its first seconds on
 * that (docs/dev/ramp.md). A warm-up pull that fails fails the run: the agents are not as described.
 */
async function warmUpAgents (
  components: { log: (line: string) => void, track: (child: Parameters<Teardown['track']>[0]) => void, signal: AbortSignal },
  init: { agents: AgentService[], image: BenchImage, dir: string }
): Promise<{ seconds: number, bytes: number }> {
  const { log, track, signal } = components
  const { agents, image, dir } = init
  const started = performance.now()
  const pulls = await Promise.all(agents.map(async agent => startPull(agent.host, { image, registryHost: agent.host.closedHost, mirror: agent.mirror, workDir: join(dir, agent.host.name, 'warm-up'), track })))
  // Each pull has its own timeout; an abort of the run stops them with the rest (teardown).
  const results = await Promise.all(pulls.map(async p => p.result))
  const failed = results.filter(r => !r.verified)
  if (failed.length > 0) throw new ServiceError(`warm-up pull failed on ${failed.map(r => `${r.host} (${r.error ?? 'wrong bytes'})`).join(', ')}`)
  const seconds = (performance.now() - started) / 1000
  log(`warm-up: every agent pulled ${image.reference} (${(image.bytes / 1e6).toFixed(1)} MB) through the swarm in ${seconds.toFixed(1)} s`)
  await sleep(WARM_UP_SETTLE_MS, undefined, { signal })
  return { seconds, bytes: image.bytes }
}

/** Samples every link each second while a pull phase runs; undefined where links cannot be told apart (loopback). */
export function startSampler (network: SwarmNetwork): LinkSampler | undefined {
  if (network.linkCounters == null) return undefined
  const sampler = new LinkSampler(network.linkCounters, { intervalMs: LINK_SAMPLE_INTERVAL_MS, linkBytesPerSecond: network.hostBytesPerSecond, cpu: readCpuTimes })
  sampler.start()
  return sampler
}

/** Polls each agent's /metrics until `series` is at least 1 on all of them. */
async function waitConnected (agents: AgentService[], series: string, signal: AbortSignal): Promise<void> {
  for (const agent of agents) {
    for (;;) {
      if (signal.aborted) throw new ServiceError(`agent of ${agent.host.name}: ${series} stayed 0`, { cause: signal.reason })
      if (await readAgentSeries(agent, series, signal) >= 1) break
      await sleep(100)
    }
  }
}

/**
 * The swarm's membership (docs/membership.md): hosts in namespaces are not on loopback, so agents
 * need one. With a scheduler, a join token (in its data dir) every agent presents; without, a
 * member file of every agent's peer id, made ahead in its data dir. Returns the agents' flags.
 */
async function writeMembership (dir: string, hosts: HostSlot[], withScheduler: boolean): Promise<string[]> {
  if (withScheduler) {
    const token = randomBytes(24).toString('base64url')
    await mkdir(join(dir, 'scheduler'), { recursive: true, mode: 0o700 })
    await writeFile(join(dir, 'scheduler', 'join-tokens'), `${token} bench\n`, { mode: 0o600 })
    await writeFile(join(dir, 'join-token'), `${token}\n`, { mode: 0o600 })
    return ['--join-token', join(dir, 'join-token')]
  }
  const ids = await Promise.all(hosts.map(async host => agentPeerId(join(dir, host.name, 'agent'))))
  await writeFile(join(dir, 'members'), `${ids.join('\n')}\n`)
  return ['--members', join(dir, 'members')]
}
