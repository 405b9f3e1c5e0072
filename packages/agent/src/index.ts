/**
 * @packageDocumentation
 *
 * The shoal agent: each host's registry mirror. It serves the OCI distribution pull API on
 * loopback, keeps blobs in a crash-safe piece store, and fetches what it lacks from the upstream
 * registry, streaming to the client while verifying.
 *
 * ```ts
 * const agent = createAgent({ config: await resolveAgentConfig({ argv: ['--upstream', 'docker.io'] }) })
 * await agent.start()
 * ```
 */
import { Agent } from './agent.ts'
import type { AgentInit } from './agent.ts'

export { Agent } from './agent.ts'
export type { AgentInit } from './agent.ts'
export { resolveAgentConfig, parseUpstream, AGENT_USAGE } from './config/index.ts'
export type { AgentConfig, UpstreamConfig, StorageConfig, Credential, HostPort, P2pConfig } from './config/index.ts'
export * from './errors.ts'
export { createLogger, parseLogLevel, silentLogger } from './logger.ts'
export type { Logger, LogLevel } from './logger.ts'
export { AGENT_NODE_FLAGS } from './node-flags.ts'
export { SchedulerSession } from './scheduler-client/session.ts'
export type { Registration } from './scheduler-client/session.ts'
export { channelPair } from './scheduler-client/frame-channel.ts'
export type { FrameChannel } from './scheduler-client/frame-channel.ts'
export type { EmbeddedScheduler, EmbeddedSchedulerFactory } from './p2p/peer-services.ts'
export type { DnsResolver } from './dns-discovery/index.ts'

export function createAgent (init: AgentInit): Agent {
  return new Agent(init)
}
