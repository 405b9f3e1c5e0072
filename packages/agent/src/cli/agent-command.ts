import { Agent } from '../agent.ts'
import { runAgentLifecycle } from './lifecycle.ts'
import type { EmbeddedSchedulerFactory } from '../p2p/peer-services.ts'
import { AGENT_USAGE, resolveAgentConfig } from '../config/index.ts'
import { PROCESS_UMASK } from '../constants.ts'
import type { AgentConfig } from '../config/index.ts'
import { createLogger, parseLogLevel } from '../logger.ts'
import type { LogLevel } from '../logger.ts'

/**
 * `shoal agent`: validates the config (errors name the field, exit 2), starts, then reloads on
 * SIGHUP and drains and stops on SIGTERM/SIGINT (lifecycle.ts).
 * The shoal command gives the embedded scheduler (the agent package does not import the scheduler's).
 */
export async function runAgent (argv: string[], init: { embeddedScheduler?: EmbeddedSchedulerFactory } = {}): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(AGENT_USAGE)
    return 0
  }
  // Everything this process writes (level's own files too) is its user's alone. Set by the command,
  // not by Agent: a program that embeds the agent decides its own umask (Agent still makes the data
  // dir 0700 and writes its own files 0600).
  process.umask(PROCESS_UMASK)
  let config: AgentConfig
  let level: LogLevel
  try {
    level = parseLogLevel(process.env.SHOAL_LOG)
  } catch (err) {
    console.error(`shoal agent: invalid configuration: ${(err as Error).message}`)
    return 2
  }
  try {
    config = await resolveAgentConfig({ argv, env: process.env })
  } catch (err) {
    if ((err as Error).name !== 'ConfigError') throw err
    console.error(`shoal agent: invalid configuration: ${(err as Error).message}`)
    return 2
  }
  for (const warning of config.warnings) console.error(`shoal agent: warning: ${warning}`)
  if (config.p2p?.embeddedScheduler === true && init.embeddedScheduler == null) {
    console.error('shoal agent: invalid configuration: embeddedScheduler: run it through the shoal command, which composes the scheduler')
    return 2
  }
  const agent = new Agent({ config, logger: createLogger('shoal:agent', { level }), embeddedScheduler: init.embeddedScheduler })
  // Node's default for SIGHUP is to exit: while starting, one is only reported.
  const hangupWhileStarting = (): void => { console.error('shoal agent: SIGHUP while starting: ignored; send it again once the agent is mirroring') }
  process.on('SIGHUP', hangupWhileStarting)
  try {
    await agent.start()
  } catch (err) {
    console.error(`shoal agent: cannot start: ${(err as Error).message}`)
    await agent.stop().catch((e: Error) => { console.error(`shoal agent: stopping after the failed start failed too: ${e.message}`) })
    return 1
  } finally {
    process.off('SIGHUP', hangupWhileStarting)
  }
  console.log(`shoal agent: mirroring ${config.upstreams.map(u => u.host).join(', ')} at ${agent.url} (data in ${config.dataDir})`)
  if (agent.metricsUrl != null) console.log(`shoal agent: metrics and probes (/metrics, /healthz, /readyz only) at ${agent.metricsUrl}`)
  for (const addr of agent.p2pAddresses) console.log(`shoal agent: peers reach this host at ${addr}`)
  if (config.p2p?.embeddedScheduler === true) console.log(`shoal agent: embedded scheduler: other agents take --scheduler ${agent.p2pAddresses[0] ?? ''}`)
  await runAgentLifecycle(agent, {
    resolve: async () => resolveAgentConfig({ argv, env: process.env }),
    out: line => { console.log(line) },
    err: line => { console.error(line) }
  })
  return 0
}
