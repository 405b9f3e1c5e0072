import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readAgentCounters } from '../mirror/agent-metrics.ts'
import type { AgentCounters } from '../mirror/agent-metrics.ts'
import { startAgentProcess } from '../mirror/agent-process.ts'
import type { AgentProcess } from '../mirror/agent-process.ts'
import type { BenchBlob } from '../mirror/blobs.ts'
import { pullBlobs } from '../mirror/client.ts'
import type { PullResult } from '../mirror/client.ts'
import type { Teardown } from '../mirror/teardown.ts'
import { AGENT_START_TIMEOUT_MS, BENCH_REPOSITORY, PULL_TIMEOUT_MS } from './constants.ts'
import { PeerPathError } from './errors.ts'

/** What the peer-link sections share: the origin, the blobs, where agents keep data, cleanup. */
export interface PeerLinkContext {
  origin: { url: string, host: string }
  blob: BenchBlob
  primer: BenchBlob
  /** Agent data dirs go here. */
  agentRoot: string
  /** With --profile: each agent writes its CPU profile under <profileRoot>/<role>. */
  profileRoot?: string
  teardown: Teardown
  signal: AbortSignal
  log: (line: string) => void
}

export interface PeerAgent {
  process: AgentProcess
  /** Stops the process and removes its data dir. */
  stop: () => Promise<void>
}

export interface StartPeerAgentInit {
  /** Names the data dir (unique per agent) and, with --profile, the profile dir (`role`). */
  name: string
  role: string
  swarmKeyFile?: string
  /** A multiaddr of the agent to join. */
  bootstrap?: string
}

/** A real `shoal agent` process with the peer network on, listening on loopback only. */
export async function startPeerAgent (ctx: PeerLinkContext, init: StartPeerAgentInit): Promise<PeerAgent> {
  const dataDir = join(ctx.agentRoot, init.name)
  await mkdir(dataDir, { recursive: true })
  const args = ['--p2p-listen', '/ip4/127.0.0.1/tcp/0']
  if (init.swarmKeyFile != null) args.push('--swarm-key', init.swarmKeyFile)
  if (init.bootstrap != null) args.push('--bootstrap', init.bootstrap)
  const process = await startAgentProcess({ track: child => { ctx.teardown.track(child) } }, {
    upstream: ctx.origin,
    dataDir,
    args,
    profileDir: ctx.profileRoot == null ? undefined : join(ctx.profileRoot, init.role),
    signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(AGENT_START_TIMEOUT_MS)])
  })
  const stop = ctx.teardown.defer(`agent ${process.pid}`, async () => {
    await process.stop()
    await rm(dataDir, { recursive: true, force: true })
  })
  return { process, stop }
}

/** The agent's first p2p address: what a puller bootstraps from. */
export function p2pAddressOf (agent: PeerAgent): string {
  const addr = agent.process.p2pAddresses[0]
  if (addr == null) throw new PeerPathError(`agent ${agent.process.pid} printed no p2p address`)
  return addr
}

export async function pull (ctx: PeerLinkContext, agent: PeerAgent, blobs: BenchBlob[]): Promise<PullResult> {
  const result = await pullBlobs(agent.process.url, BENCH_REPOSITORY, blobs, { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(PULL_TIMEOUT_MS)]) })
  agent.process.assertRunning()
  return result
}

export async function counters (ctx: PeerLinkContext, agent: PeerAgent): Promise<AgentCounters> {
  return readAgentCounters(agent.process.url, ctx.signal)
}

/** Throws PeerPathError unless the agent got `bytes` from peers and nothing from the origin between two readings. */
export function assertFromPeers (what: string, before: AgentCounters, after: AgentCounters, bytes: number): void {
  const peer = after.peerBytes - before.peerBytes
  const origin = after.upstreamBytes - before.upstreamBytes
  if (peer !== bytes || origin !== 0) {
    throw new PeerPathError(`${what}: expected ${bytes} bytes from peers and none from the origin, the agent counted ${peer} from peers and ${origin} from the origin`)
  }
}
