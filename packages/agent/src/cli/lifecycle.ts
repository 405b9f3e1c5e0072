import type { Agent } from '../agent.ts'
import type { AgentConfig } from '../config/index.ts'

export interface LifecycleInit {
  /** Resolves the configuration again, as at start (same argv and environment, the YAML file re-read). */
  resolve: () => Promise<AgentConfig>
  /** Where the lines for the operator go (stdout / stderr of `shoal agent`). */
  out: (line: string) => void
  err: (line: string) => void
}

/**
 * The running agent's life, driven by signals, until it has stopped:
 * - SIGHUP reloads the configuration (Agent.reload) and says what changed, what needs a restart, or
 *   why the new one was refused (the running one then stays). Reloads run one after another.
 * - SIGTERM or SIGINT drains: no new connections, pulls in flight get `drainTimeoutMs` to finish,
 *   then the agent stops. A second SIGTERM or SIGINT stops it at once.
 * Resolves with the signal that stopped it.
 */
export async function runAgentLifecycle (agent: Agent, init: LifecycleInit): Promise<NodeJS.Signals> {
  const { out, err } = init
  let reloads = Promise.resolve()
  const onHangup = (): void => {
    reloads = reloads.then(async () => { await reload(agent, init) })
  }
  const stopNow = new AbortController()
  const stopping = Promise.withResolvers<NodeJS.Signals>()
  let draining = false
  const onStop = (signal: NodeJS.Signals): void => {
    if (!draining) {
      draining = true
      stopping.resolve(signal)
    } else if (!stopNow.signal.aborted) {
      out(`shoal agent: ${signal} again: stopping at once (${agent.requestsInFlight} requests in flight are cut off)`)
      stopNow.abort()
    }
  }
  process.on('SIGHUP', onHangup)
  process.on('SIGINT', onStop)
  process.on('SIGTERM', onStop)
  try {
    const signal = await stopping.promise
    if (agent.requestsInFlight > 0) {
      const seconds = agent.config.drainTimeoutMs / 1000
      out(`shoal agent: ${signal}: draining: ${agent.requestsInFlight} requests in flight may take up to ${seconds} s to finish (no new connections; ${signal} again stops at once)`)
      const left = await agent.drain({ signal: AbortSignal.any([stopNow.signal, AbortSignal.timeout(agent.config.drainTimeoutMs)]) })
      if (left === 0) out('shoal agent: drained: every request in flight finished')
      else if (!stopNow.signal.aborted) err(`shoal agent: drain timeout (${seconds} s): ${left} requests still in flight are cut off`)
    }
    out(`shoal agent: ${signal}, stopping`)
    await reloads
    await agent.stop()
    out('shoal agent: stopped')
    return signal
  } finally {
    process.off('SIGHUP', onHangup)
    process.off('SIGINT', onStop)
    process.off('SIGTERM', onStop)
  }
}

/** One SIGHUP: its outcome, whatever it is, becomes lines for the operator (this is the edge of a background loop). */
async function reload (agent: Agent, init: LifecycleInit): Promise<void> {
  init.out('shoal agent: SIGHUP: reloading the configuration')
  let result
  try {
    const next = await init.resolve()
    for (const warning of next.warnings) init.err(`shoal agent: warning: ${warning}`)
    result = await agent.reload(next)
  } catch (e) {
    const why = (e as Error).name === 'ConfigError' ? 'new configuration refused' : 'reload failed'
    init.err(`shoal agent: SIGHUP: ${why}, the running one stays: ${(e as Error).message}`)
    return
  }
  if (result.needsRestart.length > 0) {
    init.err(`shoal agent: SIGHUP: ${result.needsRestart.join(', ')} changed but needs a restart; the running value stays until then`)
  }
  init.out(result.applied.length === 0
    ? 'shoal agent: SIGHUP: configuration reloaded: nothing to apply'
    : `shoal agent: SIGHUP: configuration reloaded: ${result.applied.join(', ')} changed (pulls in flight finish as they started); mirroring ${agent.config.upstreams.map(u => u.host).join(', ')}`)
}
