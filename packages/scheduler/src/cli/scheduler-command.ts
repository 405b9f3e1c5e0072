import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import { createP2pNode, loadOrCreatePeerKey, loadSwarmKey, secureDataDir } from '@shoal/p2p'
import { JOBS_MAX_ACTIVE, JOBS_MAX_PER_MINUTE, JOIN_TOKENS_FILE_NAME, PROCESS_UMASK } from '../constants.ts'
import { SchedulerConfigError, SchedulerListenError } from '../errors.ts'
import { JobStore } from '../jobs/job-store.ts'
import { startMembership } from './membership-setup.ts'
import type { Membership } from '../membership/membership.ts'
import { PrefetchJobs } from '../jobs/prefetch-jobs.ts'
import { SchedulerMetrics } from '../metrics.ts'
import { SchedulerServer } from '../server.ts'
import { SchedulerService } from '../service.ts'
import type { SchedulerEvents } from '../service.ts'
import { startAdmin } from './admin.ts'
import { loadOrCreateAdminToken } from './admin-token.ts'
import type { AdminToken } from './admin-token.ts'
import { parse as parseYaml } from 'yaml'
import { parseSchedulerFileConfig } from '../preheat/config.ts'
import type { SchedulerFileConfig } from '../preheat/config.ts'

export const SCHEDULER_USAGE = `usage: shoal scheduler [options]
  --listen MULTIADDR     where agents reach it, repeatable (default /ip4/0.0.0.0/tcp/65003)
  --announce MULTIADDR   an address to tell agents instead (NAT), repeatable
  --admin HOST:PORT      /metrics, /healthz, /tasks (JSON), the prefetch jobs API /jobs, Dragonfly's preheat API
                         (Harbor) and /webhooks/push (default 127.0.0.1:65004)
  --data-dir DIR         its peer identity and its prefetch jobs live here (default .shoal/scheduler)
  --swarm-key FILE       the agents' swarm key: only hosts with it can connect
  --join-tokens FILE     join tokens, one a line (TOKEN [LABEL]): agents presenting one are admitted as
                         members (default: join-tokens in the data dir, if it exists); without tokens
                         the scheduler takes agents on loopback only (docs/membership.md)
  --admin-token-file F   the admin API's bearer token (default: admin-token in the data dir, made at first start)
  --max-active-jobs N    prefetch jobs resolving or running at once (default 16); more get 429
  --max-jobs-per-minute N  prefetch jobs created per minute (default 60); more get 429
  --config FILE          YAML: preheat (Harbor's Dragonfly provider: sites by cluster id, default site)
                         and webhooks (push rules, the webhook token file); docs/harbor.md
Each flag is also SHOAL_SCHEDULER_<FLAG> in the environment (SHOAL_SCHEDULER_LISTEN, comma-separated).`

export interface SchedulerConfig {
  listen: string[]
  announce: string[]
  admin: { host: string, port: number }
  dataDir: string
  swarmKeyFile?: string
  /** Join tokens: with them, agents are admitted as members; without, loopback only. */
  joinTokensFile?: string
  adminTokenFile?: string
  maxActiveJobs: number
  maxJobsPerMinute: number
  /** The YAML file with the preheat and webhooks sections. */
  configFile?: string
}

const OPTIONS = {
  listen: { type: 'string', multiple: true },
  announce: { type: 'string', multiple: true },
  admin: { type: 'string' },
  'data-dir': { type: 'string' },
  'swarm-key': { type: 'string' },
  'join-tokens': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'max-active-jobs': { type: 'string' },
  'max-jobs-per-minute': { type: 'string' },
  config: { type: 'string' }
} as const

/** Flags over SHOAL_SCHEDULER_* over defaults; SchedulerConfigError names the field. */
export function resolveSchedulerConfig (argv: string[], env: NodeJS.ProcessEnv): SchedulerConfig {
  let flags: Record<string, unknown>
  try {
    flags = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: false }).values
  } catch (err) {
    throw new SchedulerConfigError((err as Error).message, { cause: err })
  }
  const pick = (name: keyof typeof OPTIONS): { field: string, value: string | string[] } | undefined => {
    if (flags[name] != null) return { field: `--${name}`, value: flags[name] as string | string[] }
    const envName = `SHOAL_SCHEDULER_${name.toUpperCase().replaceAll('-', '_')}`
    const value = env[envName]
    if (value == null || value === '') return undefined
    return { field: envName, value: 'multiple' in OPTIONS[name] ? value.split(',').map(v => v.trim()).filter(Boolean) : value }
  }
  const addrs = (name: 'listen' | 'announce', fallback: string[]): string[] => {
    const found = pick(name)
    if (found == null) return fallback
    return (found.value as string[]).map((v, i) => {
      try {
        return multiaddr(v).toString()
      } catch (err) {
        throw new SchedulerConfigError(`${found.field}[${i}]: "${v}" is not a multiaddr (example: /ip4/0.0.0.0/tcp/65003)`, { cause: err })
      }
    })
  }
  const admin = pick('admin')
  const swarmKey = pick('swarm-key')
  const tokenFile = pick('admin-token-file')
  const joinTokens = pick('join-tokens')
  const count = (name: 'max-active-jobs' | 'max-jobs-per-minute', fallback: number): number => {
    const found = pick(name)
    if (found == null) return fallback
    const n = Number(found.value)
    if (!/^\d+$/.test(found.value as string) || n < 1 || n > 100_000) throw new SchedulerConfigError(`${found.field}: "${String(found.value)}" must be a whole number from 1 to 100000`)
    return n
  }
  return {
    listen: addrs('listen', ['/ip4/0.0.0.0/tcp/65003']),
    announce: addrs('announce', []),
    admin: parseHostPort(admin?.field ?? '--admin', (admin?.value as string | undefined) ?? '127.0.0.1:65004'),
    dataDir: resolve((pick('data-dir')?.value as string | undefined) ?? '.shoal/scheduler'),
    swarmKeyFile: swarmKey == null ? undefined : resolve(swarmKey.value as string),
    joinTokensFile: joinTokens == null ? undefined : resolve(joinTokens.value as string),
    adminTokenFile: tokenFile == null ? undefined : resolve(tokenFile.value as string),
    maxActiveJobs: count('max-active-jobs', JOBS_MAX_ACTIVE),
    maxJobsPerMinute: count('max-jobs-per-minute', JOBS_MAX_PER_MINUTE),
    configFile: pick('config') == null ? undefined : resolve(pick('config')?.value as string)
  }
}

/** `--config FILE`: YAML, checked field by field (SchedulerConfigError names the field). */
async function loadFileConfig (file: string): Promise<SchedulerFileConfig> {
  let doc: unknown
  try {
    doc = parseYaml(await readFile(file, 'utf8'))
  } catch (err) {
    throw new SchedulerConfigError(`--config: cannot read ${file}: ${(err as Error).message}`, { cause: err })
  }
  return parseSchedulerFileConfig(doc, file)
}

function parseHostPort (field: string, value: string): { host: string, port: number } {
  const match = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+)):(\d{1,5})$/i.exec(value)
  const port = Number(match?.[3])
  if (match == null || port > 65535) throw new SchedulerConfigError(`${field}: "${value}" must be HOST:PORT (for example 127.0.0.1:65004)`)
  return { host: match[1] ?? match[2] ?? '', port }
}

/** `shoal scheduler`: starts the node, the protocol and the admin listener; stops on a signal. */
export async function runScheduler (argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(SCHEDULER_USAGE)
    return 0
  }
  // Files this process makes, level's own included (LOG, MANIFEST, tables), are its user's alone.
  // Set here and not in the library: a program that embeds the scheduler decides its own umask.
  process.umask(PROCESS_UMASK)
  let config: SchedulerConfig
  let adminToken: AdminToken
  try {
    config = resolveSchedulerConfig(argv, process.env)
  } catch (err) {
    if ((err as Error).name !== 'SchedulerConfigError') throw err
    console.error(`shoal scheduler: invalid configuration: ${(err as Error).message}\n${SCHEDULER_USAGE}`)
    return 2
  }
  try {
    // Its data dir holds its peer key, the admin token and the members: 0700 / 0600.
    const modes = await secureDataDir(config.dataDir)
    if (modes.tightened > 0) jsonLog('info', 'shoal:scheduler')('data dir tightened to 0700 / 0600', { dataDir: config.dataDir, tightened: modes.tightened, checked: modes.checked })
  } catch (err) {
    if ((err as Error).name !== 'DataDirPermissionError') throw err
    return cannotStart(err as Error)
  }
  let fileConfig: SchedulerFileConfig | undefined
  let webhookToken: string | undefined
  try {
    adminToken = await loadOrCreateAdminToken({ file: config.adminTokenFile, dataDir: config.dataDir })
    fileConfig = config.configFile == null ? undefined : await loadFileConfig(config.configFile)
    const tokenFile = fileConfig?.webhooks.tokenFile
    if (tokenFile != null) webhookToken = (await loadOrCreateAdminToken({ file: resolve(tokenFile), dataDir: config.dataDir, field: `${config.configFile ?? ''}: webhooks.tokenFile` })).token
  } catch (err) {
    if ((err as Error).name !== 'SchedulerConfigError') throw err
    console.error(`shoal scheduler: invalid configuration: ${(err as Error).message}\n${SCHEDULER_USAGE}`)
    return 2
  }
  const holder: { service?: SchedulerService, jobs?: PrefetchJobs } = {}
  const metrics = new SchedulerMetrics(() => holder.service, () => holder.jobs?.states() ?? [])
  const service = new SchedulerService({ events: withOriginLog(metrics.events, process.env.SHOAL_LOG === 'debug') })
  holder.service = service
  const swarmKey = config.swarmKeyFile == null ? undefined : await loadSwarmKey(config.swarmKeyFile)
  let membership
  try {
    membership = await startMembership(config)
  } catch (err) {
    if ((err as Error).name === 'DataDirInUseError') return cannotStart(err as Error)
    if ((err as Error).name !== 'SchedulerConfigError') throw err
    console.error(`shoal scheduler: invalid configuration: ${(err as Error).message}`)
    return 2
  }
  // The stores open before the node listens: a data dir another scheduler holds stops this one here.
  const jobStore = new JobStore(join(config.dataDir, 'jobs'))
  try {
    await jobStore.open()
  } catch (err) {
    if ((err as Error).name !== 'DataDirInUseError') throw err
    await membership?.stop()
    return cannotStart(err as Error)
  }
  // What is started from here on is stopped again, newest first, if a later step fails (a port in use).
  const started: Array<() => Promise<void>> = [async () => { await membership?.stop() }, async () => { await jobStore.close() }]
  let running
  try {
    running = await startServices({ config, swarmKey, membership, service, metrics, jobStore, adminToken, fileConfig, webhookToken, holder, started })
  } catch (err) {
    for (const stop of started.reverse()) {
      // The start's own error is the one to report; a step that also fails to stop is only noted.
      await stop().catch((stopErr: Error) => { console.error(`shoal scheduler: stopping after a failed start: ${stopErr.message}`) })
    }
    if ((err as Error).name === 'SchedulerListenError') return cannotStart(err as Error)
    throw err
  }
  const { node, server, jobs, admin } = running
  const id = node.peerId.toString()
  for (const addr of node.getMultiaddrs().map(a => a.toString())) console.log(`shoal scheduler: agents reach it at ${addr.includes('/p2p/') ? addr : `${addr}/p2p/${id}`}`)
  console.log(membership == null
    ? 'shoal scheduler: no join tokens: agents are taken on loopback only; to admit a fleet, put tokens in join-tokens in the data dir (or --join-tokens FILE) and give each agent --join-token (docs/membership.md)'
    : `shoal scheduler: agents presenting a join token from ${config.joinTokensFile ?? join(config.dataDir, JOIN_TOKENS_FILE_NAME)} are admitted (${membership.members().length} members)`)
  console.log(`shoal scheduler: admin at ${admin.url} (/metrics, /healthz; /tasks, /jobs and /members with the bearer token in ${adminToken.path}${adminToken.created ? ', made now' : ''})`)
  const signal = await new Promise<NodeJS.Signals>(resolve => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  console.log(`shoal scheduler: ${signal}, stopping`)
  await new Promise<void>(resolve => { admin.server.close(() => { resolve() }); admin.server.closeAllConnections() })
  await jobs.stop()
  await server.stop()
  await node.stop()
  await membership?.stop()
  return 0
}

interface ServicesInit {
  config: SchedulerConfig
  swarmKey: Awaited<ReturnType<typeof loadSwarmKey>> | undefined
  membership: Membership | undefined
  service: SchedulerService
  metrics: SchedulerMetrics
  jobStore: JobStore
  adminToken: AdminToken
  fileConfig: SchedulerFileConfig | undefined
  webhookToken: string | undefined
  holder: { jobs?: PrefetchJobs }
  /** Each step that started adds how to stop it. */
  started: Array<() => Promise<void>>
}

/** The p2p node, the protocol, the prefetch jobs and the admin listener, in that order. */
async function startServices (init: ServicesInit): Promise<{ node: Awaited<ReturnType<typeof createP2pNode>>, server: SchedulerServer, jobs: PrefetchJobs, admin: Awaited<ReturnType<typeof startAdmin>> }> {
  const { config, swarmKey, membership, service, metrics, jobStore, adminToken, fileConfig, webhookToken, holder, started } = init
  const privateKey = await loadOrCreatePeerKey(config.dataDir)
  const node = await createP2pNode({
    admission: membership == null ? { kind: 'loopback' } : { kind: 'any' },
    privateKey,
    listen: config.listen,
    announce: config.announce,
    swarmKey,
    warn: jsonLog('warn', 'shoal:scheduler')
  }).catch(err => { throw listenFailure(`--listen ${config.listen.join(' ')}`, err) })
  started.push(async () => { await node.stop() })
  const server = new SchedulerServer({ node, service, membership }, {
    log: jsonLog('info', 'shoal:scheduler')
  })
  await server.start()
  started.push(async () => { await server.stop() })
  const jobs = new PrefetchJobs({ service, store: jobStore }, {
    log: jsonLog('info', 'shoal:scheduler:prefetch')
  })
  await jobs.start()
  started.push(async () => { await jobs.stop() })
  holder.jobs = jobs
  const admin = await startAdmin({ listen: config.admin, token: adminToken.token, limits: { maxActive: config.maxActiveJobs, maxPerMinute: config.maxJobsPerMinute }, membership, preheat: fileConfig?.preheat, webhooks: fileConfig == null ? undefined : { ...fileConfig.webhooks, token: webhookToken } }, service, metrics, jobs)
    .catch(err => { throw listenFailure(`--admin ${config.admin.host}:${config.admin.port}`, err) })
  return { node, server, jobs, admin }
}

/**
 * The listen failure as the operator needs it: the option and its address, and why (the line of
 * the system's error, not libp2p's advice on its own configuration or a stack).
 */
function listenFailure (what: string, err: unknown): Error {
  const reason = /(EADDRINUSE|EADDRNOTAVAIL|EACCES)\b[^\n]*/.exec((err as Error).message ?? '')?.[0]
  return reason == null ? err as Error : new SchedulerListenError(`${what}: ${reason}`, { cause: err })
}

/**
 * The service's events, and with `SHOAL_LOG=debug` a log line for each deal of a task's origin
 * pieces (who read what from the origin, and whose pieces went to others when it stalled or left):
 * what `bench swarm --logs` reads back when the origin sent more than the image.
 */
function withOriginLog (events: SchedulerEvents, debug: boolean): SchedulerEvents {
  if (!debug) return events
  const log = jsonLog('debug', 'shoal:scheduler:origin')
  return {
    ...events,
    onOriginAssigned: event => {
      events.onOriginAssigned?.(event)
      log(event.reassigned ? 'origin pieces dealt again' : 'origin pieces dealt', { ...event })
    }
  }
}

/** Writes one JSON log line a call on stderr, as the agent's logger does: time, level, component, msg and the fields. */
function jsonLog (level: 'debug' | 'info' | 'warn', component: string): (message: string, fields?: Record<string, unknown>) => void {
  return (message, fields) => { console.error(JSON.stringify({ time: new Date().toISOString(), level, component, msg: message, ...fields })) }
}

function cannotStart (err: Error): number {
  console.error(`shoal scheduler: cannot start: ${err.message}`)
  return 1
}
