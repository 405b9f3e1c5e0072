import { parseArgs } from 'node:util'
import {
  DEFAULT_ADMIN_TOKEN_FILE, DEFAULT_AGENT_URL, MAX_CONCURRENCY, MAX_REPLICAS, MAX_TIMEOUT_MS, MIN_CONCURRENCY, MIN_REPLICAS
} from './constants.ts'
import { PrefetchUsageError } from './errors.ts'
import { imageRequest } from './image-list.ts'
import { parseAgentUrl, parseSchedulerAddress } from './scheduler-address.ts'
import { parseDuration, parseImageReference, parseIntegerIn, parsePlatformText, parseScope, parseTagGlob } from './values.ts'
import type { ImageRequest } from './shared-types.ts'
import type { ScopeArg } from './values.ts'

/** Who does the work: the scheduler (admin API base URL and the file of its token) or this command through one agent's mirror. */
export type Backend = { kind: 'scheduler', url: string, tokenFile: string } | { kind: 'agent', url: string }

export interface PrefetchRun {
  kind: 'run'
  backend: Backend
  /** the positional IMAGEs, with --tags applied */
  images: ImageRequest[]
  /** --from-file lists, read later (their errors name file and line) */
  fromFiles: string[]
  /** `os/arch[/variant]`; empty: the agents' own */
  platforms: string[]
  scope: ScopeArg
  /** only with a site scope */
  replicas?: number
  /** only with a site scope; undefined: the scheduler's default (pieces) */
  spread?: 'pieces' | 'blobs'
  /** undefined: the scheduler's default (or DEFAULT_CONCURRENCY in --agent mode) */
  concurrency?: number
  timeoutMs?: number
  json: boolean
  detach: boolean
}

export type PrefetchCommand =
  | { kind: 'help' }
  | PrefetchRun
  | { kind: 'status', job: string, scheduler: string, tokenFile: string, wait: boolean, json: boolean }
  | { kind: 'cancel', job: string, scheduler: string, tokenFile: string, json: boolean }
  | { kind: 'jobs', scheduler: string, tokenFile: string, json: boolean }

const RUN_OPTIONS = {
  tags: { type: 'string' },
  'from-file': { type: 'string', multiple: true },
  platform: { type: 'string', multiple: true },
  scope: { type: 'string' },
  scheduler: { type: 'string' },
  'admin-token-file': { type: 'string' },
  agent: { type: 'string' },
  replicas: { type: 'string' },
  spread: { type: 'string' },
  concurrency: { type: 'string' },
  timeout: { type: 'string' },
  detach: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

const JOB_OPTIONS = {
  scheduler: { type: 'string' },
  'admin-token-file': { type: 'string' },
  wait: { type: 'boolean' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' }
} as const

/** Environment variables read as defaults of flags. */
export const ENV_SCHEDULER = 'SHOAL_PREFETCH_SCHEDULER'
export const ENV_AGENT = 'SHOAL_PREFETCH_AGENT'
export const ENV_ADMIN_TOKEN_FILE = 'SHOAL_ADMIN_TOKEN_FILE'

/**
 * `shoal prefetch` arguments, validated: PrefetchUsageError names the flag. Flags win over
 * SHOAL_PREFETCH_SCHEDULER / SHOAL_PREFETCH_AGENT; an explicit --agent wins over the environment's scheduler.
 */
export function parsePrefetchArgs (argv: string[], env: NodeJS.ProcessEnv = {}): PrefetchCommand {
  if (argv.includes('--help') || argv.includes('-h')) return { kind: 'help' }
  const sub = argv[0]
  if (sub === 'status' || sub === 'cancel' || sub === 'jobs') return parseJobCommand(sub, argv.slice(1), env)
  const { values, positionals } = parse(argv, RUN_OPTIONS)

  const backend = chooseBackend(values.scheduler, values.agent, env, adminTokenFile(values['admin-token-file'], env))
  if (backend.kind === 'agent' && values['admin-token-file'] != null) throw new PrefetchUsageError('--admin-token-file: only with --scheduler')
  const tags = values.tags == null ? undefined : parseTagGlob('--tags', values.tags)
  if (tags != null && positionals.every(p => isPinned(p))) {
    throw new PrefetchUsageError('--tags: no IMAGE to filter; it applies to the IMAGEs that name a repository without a tag or digest')
  }
  const images = positionals.map((p, i) => imageRequest(`IMAGE ${i + 1}`, p, isPinned(p) ? undefined : tags))
  const fromFiles = values['from-file'] ?? []
  if (images.length === 0 && fromFiles.length === 0) throw new PrefetchUsageError('IMAGE: name at least one image, or --from-file FILE')

  const platforms = [...new Set((values.platform ?? []).map(p => parsePlatformText('--platform', p)))]
  const scope = chooseScope(backend, values.scope)
  const replicas = values.replicas == null ? undefined : parseIntegerIn('--replicas', values.replicas, { min: MIN_REPLICAS, max: MAX_REPLICAS })
  if (replicas != null && scope.kind !== 'site') throw new PrefetchUsageError(`--replicas: only with --scope site:NAME (copies of each layer in the site), not with --scope ${scope.kind}`)
  const spread = values.spread == null ? undefined : parseSpread(values.spread)
  if (spread != null && scope.kind !== 'site') throw new PrefetchUsageError(`--spread: only with --scope site:NAME (how the site shares the layers), not with --scope ${scope.kind}`)
  if (values.detach === true && backend.kind !== 'scheduler') throw new PrefetchUsageError('--detach: only with --scheduler (without one, this command does the work and cannot leave)')
  return {
    kind: 'run',
    backend,
    images,
    fromFiles,
    platforms,
    scope,
    replicas,
    spread,
    concurrency: values.concurrency == null ? undefined : parseIntegerIn('--concurrency', values.concurrency, { min: MIN_CONCURRENCY, max: MAX_CONCURRENCY }),
    timeoutMs: values.timeout == null ? undefined : parseDuration('--timeout', values.timeout, MAX_TIMEOUT_MS),
    json: values.json === true,
    detach: values.detach === true
  }
}

function parseSpread (value: string): 'pieces' | 'blobs' {
  if (value === 'pieces' || value === 'blobs') return value
  throw new PrefetchUsageError(`--spread: "${value.slice(0, 40)}" is not pieces or blobs`)
}

function parseJobCommand (sub: 'status' | 'cancel' | 'jobs', argv: string[], env: NodeJS.ProcessEnv): PrefetchCommand {
  const { values, positionals } = parse(argv, JOB_OPTIONS)
  const text = values.scheduler ?? env[ENV_SCHEDULER]
  if (text == null || text === '') throw new PrefetchUsageError(`--scheduler: shoal prefetch ${sub} asks a scheduler; give --scheduler ADDR or ${ENV_SCHEDULER}`)
  const scheduler = parseSchedulerAddress(values.scheduler == null ? ENV_SCHEDULER : '--scheduler', text)
  const json = values.json === true
  const tokenFile = adminTokenFile(values['admin-token-file'], env)
  if (values.wait === true && sub !== 'status') throw new PrefetchUsageError(`--wait: only with shoal prefetch status`)
  if (sub === 'jobs') {
    if (positionals.length > 0) throw new PrefetchUsageError(`shoal prefetch jobs: takes no argument (got "${positionals[0] ?? ''}")`)
    return { kind: 'jobs', scheduler, tokenFile, json }
  }
  if (positionals.length !== 1) throw new PrefetchUsageError(`JOB: shoal prefetch ${sub} takes one job id (got ${positionals.length})`)
  const job = positionals[0] ?? ''
  if (!/^[\w.-]{1,128}$/.test(job)) throw new PrefetchUsageError(`JOB: "${job}" is not a job id`)
  return sub === 'status' ? { kind: 'status', job, scheduler, tokenFile, wait: values.wait === true, json } : { kind: 'cancel', job, scheduler, tokenFile, json }
}

function parse<T extends typeof RUN_OPTIONS | typeof JOB_OPTIONS> (argv: string[], options: T): ReturnType<typeof parseArgs<{ args: string[], options: T, strict: true, allowPositionals: true }>> {
  try {
    return parseArgs({ args: argv, options, strict: true, allowPositionals: true })
  } catch (err) {
    // node's messages name the option: "Unknown option '--foo'. To specify...", "Option '--scope <value>' argument missing"
    const e = err as Error & { code?: string }
    const option = /'(-[^' ]+)/.exec(e.message)?.[1]
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option != null) throw new PrefetchUsageError(`${option}: no such option`, { cause: err })
    if (e.message.includes('argument missing') && option != null) throw new PrefetchUsageError(`${option}: needs a value`, { cause: err })
    throw new PrefetchUsageError(e.message, { cause: err })
  }
}

function isPinned (text: string): boolean {
  try {
    const ref = parseImageReference('IMAGE', text)
    return ref.tag != null || ref.digest != null
  } catch {
    return false // imageRequest reports it with its position
  }
}

/** --admin-token-file, else SHOAL_ADMIN_TOKEN_FILE, else the token a scheduler with the default data dir made. */
function adminTokenFile (flag: string | undefined, env: NodeJS.ProcessEnv): string {
  const value = flag ?? env[ENV_ADMIN_TOKEN_FILE]
  return value == null || value === '' ? DEFAULT_ADMIN_TOKEN_FILE : value
}

function chooseBackend (scheduler: string | undefined, agent: string | undefined, env: NodeJS.ProcessEnv, tokenFile: string): Backend {
  if (scheduler != null && agent != null) throw new PrefetchUsageError('--agent: give --scheduler or --agent, not both (with a scheduler, name the agent with --scope agent:PEER_ID)')
  if (scheduler != null) return { kind: 'scheduler', url: parseSchedulerAddress('--scheduler', scheduler), tokenFile }
  if (agent != null) return { kind: 'agent', url: parseAgentUrl('--agent', agent) }
  const envScheduler = env[ENV_SCHEDULER]
  if (envScheduler != null && envScheduler !== '') return { kind: 'scheduler', url: parseSchedulerAddress(ENV_SCHEDULER, envScheduler), tokenFile }
  const envAgent = env[ENV_AGENT]
  if (envAgent != null && envAgent !== '') return { kind: 'agent', url: parseAgentUrl(ENV_AGENT, envAgent) }
  return { kind: 'agent', url: DEFAULT_AGENT_URL }
}

function chooseScope (backend: Backend, text: string | undefined): ScopeArg {
  const scope = text == null ? undefined : parseScope('--scope', text)
  if (backend.kind === 'agent') {
    if (scope == null || (scope.kind === 'agent' && scope.agent == null)) return { kind: 'agent' }
    throw new PrefetchUsageError(`--scope: ${text ?? ''} needs --scheduler ADDR; without a scheduler the only scope is agent, the agent of --agent`)
  }
  if (scope == null) throw new PrefetchUsageError('--scope: required with --scheduler: agent:PEER_ID, site:NAME or all')
  if (scope.kind === 'agent' && scope.agent == null) throw new PrefetchUsageError('--scope: with --scheduler, name the agent: agent:PEER_ID (its peer id, printed at its start)')
  return scope
}
