/**
 * The direct pull of one scenario: N fresh clients with the same link limits pulling the same
 * image straight from the origin, started as the scenario starts its hosts.
 */
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import type { Teardown } from '../mirror/teardown.ts'
import type { LinkSampler, LinkUtilisation } from './link-sampler.ts'
import { countOriginRetransmits } from './network.ts'
import { runPullPhase } from './pull-phase.ts'
import type { PullResult } from './pull.ts'
import { startPull } from './pull.ts'
import { startSampler } from './swarm-phase.ts'
import type { PhaseComponents, PhaseInit } from './swarm-phase.ts'

export interface DirectPhaseResult {
  results: PullResult[]
  wallSeconds: number
  originEgressBytes: number
  /** TCP segments the origin sent again during the phase (netns mode). */
  originRetransmits?: number
  links?: LinkUtilisation
}

export async function runDirectPhase (components: PhaseComponents, init: PhaseInit): Promise<DirectPhaseResult> {
  const { network, teardown, signal } = components
  const { scenario, image } = init
  const dir = join(init.workDir, `direct-${scenario.name}`)
  await mkdir(dir, { recursive: true })
  const removeDir = teardown.defer(`direct dir ${dir}`, async () => { await rm(dir, { recursive: true, force: true }) })
  const hosts = await network.addHosts('d', init.hosts, { signal })
  const removeHosts = teardown.defer('direct clients', async () => { await network.removeHosts(hosts) })
  const track = (child: Parameters<Teardown['track']>[0]): void => { teardown.track(child) }
  let sampler: LinkSampler | undefined
  try {
    const egressBefore = await network.originEgressBytes()
    const retransmits = await countOriginRetransmits(network)
    sampler = startSampler(network)
    const phase = await runPullPhase({
      title: `direct ${scenario.name}`,
      imageBytes: image.bytes,
      plainProgress: init.plainProgress,
      signal,
      hosts: hosts.map((host, i) => ({
        name: host.name,
        delaySeconds: scenario.startDelaySeconds(i, init.hosts, init.physicalSeconds),
        start: async () => startPull(host, { image, registryHost: host.originHost, workDir: join(dir, host.name), track })
      }))
    })
    const links = await sampler?.stop()
    return { results: phase.results, wallSeconds: phase.wallSeconds, originEgressBytes: await network.originEgressBytes() - egressBefore, originRetransmits: await retransmits(), links }
  } finally {
    await sampler?.stop()
    await removeHosts()
    await removeDir()
  }
}
