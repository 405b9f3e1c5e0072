/**
 * The shoal processes of a scenario, each in its host's place: `shoal scheduler` and one
 * `shoal agent` per host, started and awaited through the lines they print when ready.
 */
import { benchAgentNodeFlags } from '../harness.ts'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { ChildProcess } from 'node:child_process'
import { SERVICE_READY_TIMEOUT_MS } from './constants.ts'
import { ServiceError } from './errors.ts'
import type { HostSlot, SchedulerSlot } from './network.ts'
import { spawnAt } from './places.ts'
import type { Place, PlacedProcess } from './places.ts'

/** The `shoal` command, found through the workspace package rather than a relative path. */
const SHOAL_MAIN = fileURLToPath(import.meta.resolve('@shoal/cli'))
const AGENT_READY = /^shoal agent: mirroring .* at (http:\/\/\S+) \(data in /
const AGENT_P2P = /^shoal agent: peers reach this host at (\S+)$/
/** The site every agent of the bench is in (the prefetched scenario spreads the image over it). */
export const AGENT_SITE = 'bench'
const SCHEDULER_ADDR = /agents reach it at (\S+)/
const SCHEDULER_ADMIN = /admin at (http:\/\/\S+)/

export interface AgentService {
  host: HostSlot
  /** http://127.0.0.1:PORT as seen from its host. */
  url: string
  /** host:port of its mirror, as seen from its host. */
  mirror: string
  /** Its multiaddr ending /p2p/<peer id>. */
  p2pAddress: string
  process: PlacedProcess
}

export interface SchedulerService {
  place: Place
  /** Where agents reach it (…/p2p/<id>). */
  addr: string
  /** http://HOST:PORT of /metrics and /tasks, as seen from its place. */
  admin: string
  /** The admin API's token (made by the scheduler in its data dir): /tasks and /jobs need it. */
  adminTokenFile: string
  process: PlacedProcess
}

export interface ServiceComponents {
  track: (child: ChildProcess) => void
}

/** How much a service logs into its file: debug with `--logs` (a line per piece), else warnings and errors only. */
export type ServiceLogLevel = 'debug' | 'warn'

/** Environment of shoal processes: none of the caller's SHOAL_* settings; logs off, or at `level` into a file. */
function shoalEnv (logFile: string | undefined, level?: ServiceLogLevel): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('SHOAL_')))
  env.SHOAL_LOG = logFile == null ? 'silent' : (level ?? 'debug')
  return env
}

export interface StartAgentInit {
  upstream: { url: string, host: string }
  dataDir: string
  /** --scheduler multiaddrs; none for DHT only. */
  schedulers: string[]
  bootstrap: string[]
  /** The agent's membership flags (`--join-token FILE` or `--members FILE`): hosts in namespaces are not on loopback. */
  membership: string[]
  /** Where its log goes, at `logLevel` (default debug); none: silent. */
  logFile?: string
  logLevel?: ServiceLogLevel
  signal?: AbortSignal
}

export async function startAgent (components: ServiceComponents, host: HostSlot, init: StartAgentInit): Promise<AgentService> {
  const args = [
    ...benchAgentNodeFlags(),
    SHOAL_MAIN, 'agent',
    '--listen', host.agentListen,
    '--data-dir', init.dataDir,
    '--upstream', init.upstream.url,
    '--insecure-registry', init.upstream.host,
    // Nothing from this machine's docker config or CA directory.
    '--docker-config', join(init.dataDir, 'no-docker-config.json'),
    '--certs-dir', join(init.dataDir, 'certs.d'),
    '--p2p-listen', host.p2pListen,
    '--site', AGENT_SITE,
    ...init.schedulers.flatMap(s => ['--scheduler', s]),
    ...init.bootstrap.flatMap(b => ['--bootstrap', b]),
    ...init.membership,
    ...host.agentFlags
  ]
  const proc = spawnAt(host, process.execPath, args, { env: shoalEnv(init.logFile, init.logLevel), stdout: true, track: components.track, logFile: init.logFile })
  try {
    const lines = await readyLines(proc, [AGENT_READY, AGENT_P2P], init.signal, `agent of ${host.name}`)
    const url = lines[0] ?? ''
    return { host, url, mirror: new URL(url).host, p2pAddress: lines[1] ?? '', process: proc }
  } catch (err) {
    await proc.stop()
    throw err
  }
}

export async function startScheduler (components: ServiceComponents, slot: SchedulerSlot, init: { dataDir: string, logFile?: string, logLevel?: ServiceLogLevel, signal?: AbortSignal }): Promise<SchedulerService> {
  const args = [SHOAL_MAIN, 'scheduler', '--listen', slot.listen, '--admin', slot.admin, '--data-dir', init.dataDir]
  const proc = spawnAt(slot, process.execPath, args, { env: shoalEnv(init.logFile, init.logLevel), stdout: true, track: components.track, logFile: init.logFile })
  try {
    const [addr = '', admin = ''] = await readyLines(proc, [SCHEDULER_ADDR, SCHEDULER_ADMIN], init.signal, 'scheduler')
    return { place: slot, addr, admin, adminTokenFile: join(init.dataDir, 'admin-token'), process: proc }
  } catch (err) {
    await proc.stop()
    throw err
  }
}

/** What `shoal prefetch --json` reports of a job: each blob's copies and where they went. */
export interface PrefetchSummary {
  ok: boolean
  job: { id: string, state: string, layers: Array<{ digest: string, targets: Array<{ agent: string, state: string, stripe?: { index: number, count: number } }> }> }
}

/**
 * The operator's `shoal prefetch IMAGE --scheduler ADMIN --scope site:SITE --json`, run where the
 * scheduler's admin listener is reachable (its place); resolves with its summary once it exits 0.
 */
export async function runPrefetch (components: ServiceComponents, scheduler: SchedulerService, init: { image: string, site: string, spread?: 'pieces' | 'blobs', signal?: AbortSignal }): Promise<PrefetchSummary> {
  const args = [SHOAL_MAIN, 'prefetch', init.image, '--scheduler', scheduler.admin, '--admin-token-file', scheduler.adminTokenFile, '--scope', `site:${init.site}`, ...(init.spread == null ? [] : ['--spread', init.spread]), '--json']
  const proc = spawnAt(scheduler.place, process.execPath, args, { env: shoalEnv(undefined), stdout: true, track: components.track })
  const onAbort = (): void => { proc.signal('SIGINT') }
  init.signal?.addEventListener('abort', onAbort, { once: true })
  let stdout = ''
  proc.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => { stdout += chunk })
  try {
    await proc.exited
  } finally {
    init.signal?.removeEventListener('abort', onAbort)
  }
  let summary: PrefetchSummary
  try {
    summary = JSON.parse(stdout) as PrefetchSummary
  } catch (err) {
    throw new ServiceError(`shoal prefetch ${proc.ended() ?? ''} without a JSON summary: ${proc.stderr().trim()}`, { cause: err })
  }
  if (!summary.ok) throw new ServiceError(`shoal prefetch: job ${summary.job.id} ended ${summary.job.state}: ${stdout.slice(0, 2000)}`)
  return summary
}

/** The first capture of each pattern, in the order given, once all have matched; stdout is drained after. */
async function readyLines (proc: PlacedProcess, patterns: RegExp[], signal: AbortSignal | undefined, what: string): Promise<string[]> {
  const stdout = proc.child.stdout
  if (stdout == null) throw new ServiceError(`${what}: no stdout to read`)
  const timeout = signal ?? AbortSignal.timeout(SERVICE_READY_TIMEOUT_MS)
  const lines = createInterface({ input: stdout, crlfDelay: Infinity })
  const onAbort = (): void => { lines.close() }
  timeout.addEventListener('abort', onAbort, { once: true })
  const found: Array<string | undefined> = patterns.map(() => undefined)
  try {
    for await (const line of lines) {
      patterns.forEach((p, i) => { found[i] ??= p.exec(line)?.[1] })
      if (found.every(f => f != null)) break
    }
  } finally {
    timeout.removeEventListener('abort', onAbort)
    lines.close()
  }
  if (found.every(f => f != null)) {
    // Drain stdout from now on so the process never blocks on a full pipe.
    stdout.resume()
    return found as string[]
  }
  // stdout closed or timed out: give the exit event a moment to say how.
  await Promise.race([proc.exited, new Promise(resolve => setTimeout(resolve, 200))])
  throw new ServiceError(`${what} was not ready (${proc.ended() ?? (timeout.aborted ? 'timed out' : 'stdout closed')}): ${proc.stderr().trim()}`)
}
