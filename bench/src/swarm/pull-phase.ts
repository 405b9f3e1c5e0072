/**
 * One timed pull phase (swarm or direct): each host's pull started at its delay, shown live,
 * awaited to the end; every host is timed from its own start.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import { ProgressDisplay } from './progress.ts'
import type { PullResult, RunningPull } from './pull.ts'

export interface PhaseHost {
  name: string
  /** Seconds after the phase starts that this host starts its pull. */
  delaySeconds: number
  start: () => Promise<RunningPull>
}

export interface PullPhaseInit {
  title: string
  imageBytes: number
  hosts: PhaseHost[]
  /** Called on every progress tick while pulls run (churn watches the bytes moved). */
  onTick?: (view: { totalBytes: number, pulls: Map<string, RunningPull>, elapsedSeconds: number }) => Promise<void>
  plainProgress?: boolean
  signal: AbortSignal
}

export interface PullPhaseResult {
  results: PullResult[]
  /** From the first start to the last end. */
  wallSeconds: number
}

export async function runPullPhase (init: PullPhaseInit): Promise<PullPhaseResult> {
  const display = new ProgressDisplay({ title: init.title, imageBytes: init.imageBytes, plain: init.plainProgress })
  for (const host of init.hosts) display.addHost(host.name)
  const pulls = new Map<string, RunningPull>()
  const killed = new Set<string>()
  const started = performance.now()
  const onAbort = (): void => { for (const pull of pulls.values()) pull.kill() }
  init.signal.addEventListener('abort', onAbort, { once: true })
  display.start()
  let watching = true
  const watcher = (async () => {
    while (watching && init.onTick != null) {
      await display.tick()
      await init.onTick({ totalBytes: display.totalBytes(), pulls, elapsedSeconds: (performance.now() - started) / 1000 })
      await sleep(250)
    }
  })()
  try {
    const results = await Promise.all(init.hosts.map(async (host): Promise<PullResult> => {
      await sleep(host.delaySeconds * 1000, undefined, { signal: init.signal })
      const pull = await host.start()
      pulls.set(host.name, pull)
      display.pulling(pull)
      const result = await pull.result
      if (result.seconds == null && pull.process.child.signalCode === 'SIGKILL') killed.add(host.name)
      display.ended(host.name, result.verified ? 'done' : killed.has(host.name) ? 'killed' : 'failed', result.seconds ?? (performance.now() - pull.startedAt) / 1000)
      return result
    }))
    return { results, wallSeconds: (performance.now() - started) / 1000 }
  } finally {
    watching = false
    await watcher
    await display.stop()
    init.signal.removeEventListener('abort', onAbort)
  }
}
