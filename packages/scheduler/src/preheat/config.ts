import { isPlacementLabel, isRegistryHost, isTagGlob } from '@shoal/proto'
import { SchedulerConfigError } from '../errors.ts'
import { parseScope, parseSpread } from '../jobs/job-request.ts'
import type { JobSpread } from '../jobs/types.ts'

/**
 * How Dragonfly-style preheats and registry push webhooks become prefetch jobs: the `preheat` and
 * `webhooks` sections of the scheduler's `--config` file. Pure: the file is read by the command.
 */
export interface PreheatConfig {
  /** The site a preheat goes to when neither the endpoint path (`/sites/NAME`) nor a cluster id names one. */
  site?: string
  /** Dragonfly `scheduler_cluster_ids` -> site. */
  clusters: ReadonlyMap<number, string>
  /** Copies in the site for scope `all_seed_peers`. */
  seedReplicas: number
  /** A preheat job's timeout when the request gives none (Harbor polls for 30 min, its token lives 30 min). */
  timeoutMs: number
}

export interface PushRule {
  /** glob over the repository path (`shop/*`; `*` matches any characters, `/` too) */
  repository: string
  /** glob over the pushed tag; none: every tag */
  tags?: string
  /** the registry host[:port] the job names (as the agents know it); none: the host the event names */
  registry?: string
  /** a shoal scope: `site:NAME`, `all` or `agent:<peer id>` */
  scope: string
  replicas?: number
  /** a site scope's placement: `pieces` (default) or `blobs` */
  spread?: JobSpread
}

export interface WebhookConfig {
  /** A file with a token that opens the webhook route only (the admin token opens it too). */
  tokenFile?: string
  rules: PushRule[]
}

export interface SchedulerFileConfig {
  preheat: PreheatConfig
  webhooks: WebhookConfig
}

export const PREHEAT_DEFAULTS = { seedReplicas: 3, timeoutMs: 30 * 60 * 1000 } as const
const MAX_RULES = 256

/** The parsed YAML document of `--config`; SchedulerConfigError names the field. */
export function parseSchedulerFileConfig (doc: unknown, file: string): SchedulerFileConfig {
  const root = record(doc ?? {}, file)
  unknownKeys(root, ['preheat', 'webhooks'], file)
  const preheat = record(root.preheat ?? {}, `${file}: preheat`)
  unknownKeys(preheat, ['site', 'clusters', 'seedReplicas', 'timeoutMs'], `${file}: preheat`)
  const clusters = new Map<number, string>()
  for (const [id, site] of Object.entries(record(preheat.clusters ?? {}, `${file}: preheat.clusters`))) {
    if (!/^\d{1,15}$/.test(id)) throw new SchedulerConfigError(`${file}: preheat.clusters: "${id.slice(0, 40)}" is not a cluster id (a whole number)`)
    clusters.set(Number(id), label(site, `${file}: preheat.clusters.${id}`))
  }
  const webhooks = record(root.webhooks ?? {}, `${file}: webhooks`)
  unknownKeys(webhooks, ['tokenFile', 'rules'], `${file}: webhooks`)
  const rules = webhooks.rules ?? []
  if (!Array.isArray(rules) || rules.length > MAX_RULES) throw new SchedulerConfigError(`${file}: webhooks.rules: a list of at most ${MAX_RULES} rules`)
  return {
    preheat: {
      site: preheat.site == null ? undefined : label(preheat.site, `${file}: preheat.site`),
      clusters,
      seedReplicas: integer(preheat.seedReplicas, PREHEAT_DEFAULTS.seedReplicas, 16, `${file}: preheat.seedReplicas`),
      timeoutMs: integer(preheat.timeoutMs, PREHEAT_DEFAULTS.timeoutMs, 7 * 24 * 3600 * 1000, `${file}: preheat.timeoutMs`)
    },
    webhooks: {
      tokenFile: webhooks.tokenFile == null ? undefined : text(webhooks.tokenFile, `${file}: webhooks.tokenFile`),
      rules: rules.map((rule: unknown, i) => parseRule(rule, `${file}: webhooks.rules[${i}]`))
    }
  }
}

function parseRule (value: unknown, field: string): PushRule {
  const rule = record(value, field)
  unknownKeys(rule, ['repository', 'tags', 'registry', 'scope', 'replicas', 'spread'], field)
  const repository = text(rule.repository, `${field}.repository`)
  if (!/^[a-z0-9._*/-]{1,255}$/.test(repository)) throw new SchedulerConfigError(`${field}.repository: "${repository.slice(0, 80)}" is not a repository glob (a-z 0-9 . _ - / and *)`)
  const tags = rule.tags == null ? undefined : text(rule.tags, `${field}.tags`)
  if (tags != null && !isTagGlob(tags)) throw new SchedulerConfigError(`${field}.tags: "${tags.slice(0, 80)}" is not a tag glob (A-Z a-z 0-9 _ . - and the wildcards * and ?)`)
  const registry = rule.registry == null ? undefined : text(rule.registry, `${field}.registry`)
  if (registry != null && !isRegistryHost(registry)) throw new SchedulerConfigError(`${field}.registry: "${registry.slice(0, 80)}" is not host[:port] in lower case`)
  const scope = text(rule.scope, `${field}.scope`)
  try {
    parseScope(scope)
  } catch (err) {
    throw new SchedulerConfigError(`${field}.${(err as Error).message}`, { cause: err })
  }
  let spread: JobSpread | undefined
  try {
    spread = rule.spread == null ? undefined : parseSpread(rule.spread)
  } catch (err) {
    throw new SchedulerConfigError(`${field}.${(err as Error).message}`, { cause: err })
  }
  return { repository, tags, registry, scope, replicas: rule.replicas == null ? undefined : integer(rule.replicas, 1, 16, `${field}.replicas`), spread }
}

function record (value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value == null || Array.isArray(value)) throw new SchedulerConfigError(`${field}: must be a mapping`)
  return value as Record<string, unknown>
}

function unknownKeys (value: Record<string, unknown>, known: string[], field: string): void {
  const extra = Object.keys(value).find(key => !known.includes(key))
  if (extra != null) throw new SchedulerConfigError(`${field}: unknown key "${extra.slice(0, 40)}" (known: ${known.join(', ')})`)
}

function text (value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0) throw new SchedulerConfigError(`${field}: must be a non-empty string`)
  return value
}

function label (value: unknown, field: string): string {
  if (typeof value !== 'string' || !isPlacementLabel(value)) throw new SchedulerConfigError(`${field}: "${String(value).slice(0, 40)}" is not a site name (letters, digits, . _ -, at most 63)`)
  return value
}

function integer (value: unknown, fallback: number, max: number, field: string): number {
  if (value == null) return fallback
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > max) throw new SchedulerConfigError(`${field}: an integer from 1 to ${max}`)
  return value
}
