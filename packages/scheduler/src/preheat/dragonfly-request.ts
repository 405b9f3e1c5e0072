import { isDigest, isJobAuthorization, isPlatformText, isTag, MAX_JOB_AUTHORIZATION_LENGTH } from '@shoal/proto'
import { JobRequestError } from '../errors.ts'
import { MAX_REPLICAS, MAX_TIMEOUT_MS, parseJobRequest } from '../jobs/job-request.ts'
import type { ParsedJobRequest } from '../jobs/job-request.ts'
import type { PreheatConfig } from './config.ts'

/**
 * What a Dragonfly preheat request asks, apart from its wire shape: Dragonfly 2's manager open
 * API (`POST /oapi/v1/jobs`, Harbor 2.12+) and Dragonfly 1's supernode API (`POST /preheats`,
 * Harbor 2.1-2.11) both reduce to this.
 */
export interface PreheatInput {
  /** `{scheme}://{registry}/v2/{repository}/manifests/{tag|digest}` */
  url: string
  /** `Authorization` among the request's headers: the job's own credential for the origin */
  authorization?: string
  /** `single_seed_peer` (also '' and Harbor 2.12's `single_peer`), `all_seed_peers`, `all_peers` */
  scope: string
  clusterIds: number[]
  platform?: string
  /** Dragonfly's `args.timeout` in nanoseconds; 0: the configured default */
  timeoutNs: number
}

/** The shoal job a preheat becomes, and its own credential (kept apart: never stored). */
export interface PreheatJob {
  request: ParsedJobRequest
  authorization?: string
}

const SINGLE_SCOPES = new Set(['', 'single_seed_peer', 'single_peer'])
/** Dragonfly's URL split: scheme, registry, repository, reference. */
const MANIFEST_PATH = /^\/v2\/(.+)\/manifests\/([^/]+)$/

/** The body of `POST /oapi/v1/jobs`; JobRequestError names the field. */
export function parseOpenApiJob (body: unknown): PreheatInput {
  const job = object(body, 'the body')
  if (job.type !== 'preheat') throw new JobRequestError(`type: "${String(job.type).slice(0, 40)}" is not "preheat", the one job type shoal runs`)
  const args = object(job.args, 'args')
  if (args.type != null && args.type !== 'image') throw new JobRequestError(`args.type: "${String(args.type).slice(0, 40)}" is not "image"; shoal preheats images only`)
  const ids = job.scheduler_cluster_ids
  if (ids != null && (!Array.isArray(ids) || ids.length > 64 || !ids.every(id => Number.isSafeInteger(id) && (id as number) >= 0))) {
    throw new JobRequestError('scheduler_cluster_ids: a list of cluster ids (whole numbers), or null')
  }
  if (args.scope != null && typeof args.scope !== 'string') throw new JobRequestError('args.scope: a string')
  if (args.platform != null && args.platform !== '' && (typeof args.platform !== 'string' || !isPlatformText(args.platform))) {
    throw new JobRequestError(`args.platform: "${String(args.platform).slice(0, 40)}" is not os/arch[/variant]`)
  }
  const timeout = args.timeout ?? 0
  if (typeof timeout !== 'number' || !Number.isSafeInteger(timeout) || timeout < 0) throw new JobRequestError('args.timeout: whole nanoseconds (0: the default)')
  return {
    url: url(args.url, 'args.url'),
    authorization: authorization(args.headers, 'args.headers'),
    scope: (args.scope as string | undefined) ?? '',
    clusterIds: (ids as number[] | null) ?? [],
    platform: args.platform === '' ? undefined : args.platform as string | undefined,
    timeoutNs: timeout
  }
}

/** The body of Dragonfly 1's `POST /preheats` (Harbor's whole PreheatImage); JobRequestError names the field. */
export function parseSupernodePreheat (body: unknown): PreheatInput {
  const preheat = object(body, 'the body')
  if (preheat.type !== 'image') throw new JobRequestError(`type: "${String(preheat.type).slice(0, 40)}" is not "image"; shoal preheats images only`)
  return { url: url(preheat.url, 'url'), authorization: authorization(preheat.headers, 'headers'), scope: '', clusterIds: [], timeoutNs: 0 }
}

/**
 * The shoal job for a preheat. The site: `site` (the endpoint's `/sites/NAME` path), else the site
 * the config maps every given cluster id to, else the config's default site. The scope: single
 * (single_seed_peer, single_peer, '') one copy in the site; all_seed_peers `seedReplicas` copies;
 * all_peers every agent of the site (at most 16), or every agent when no site is named.
 */
export function preheatJob (input: PreheatInput, opts: { site?: string, config: PreheatConfig }): PreheatJob {
  const reference = imageReference(input.url)
  const site = opts.site ?? siteOfClusters(input.clusterIds, opts.config) ?? opts.config.site
  let scope: string
  let replicas: number
  if (input.scope === 'all_peers') {
    scope = site == null ? 'all' : `site:${site}`
    // Every agent of the site, up to the most a job places.
    replicas = MAX_REPLICAS
  } else if (SINGLE_SCOPES.has(input.scope) || input.scope === 'all_seed_peers') {
    if (site == null) {
      throw new JobRequestError(`scope ${input.scope === '' ? 'single_seed_peer (the default)' : input.scope} needs a site: end the instance's endpoint with /sites/NAME, ` +
        'map scheduler_cluster_ids to sites (preheat.clusters in the scheduler\'s --config), or set preheat.site; all_peers without a site goes to every agent')
    }
    scope = `site:${site}`
    replicas = input.scope === 'all_seed_peers' ? opts.config.seedReplicas : 1
  } else {
    throw new JobRequestError(`args.scope: "${input.scope.slice(0, 40)}" is not single_seed_peer, all_seed_peers or all_peers`)
  }
  const timeoutMs = input.timeoutNs > 0 ? Math.max(1000, Math.round(input.timeoutNs / 1e6)) : opts.config.timeoutMs
  const request = parseJobRequest({ images: [{ reference }], platforms: input.platform == null ? [] : [input.platform], scope, replicas, timeoutMs: Math.min(timeoutMs, MAX_TIMEOUT_MS) })
  return { request, authorization: input.authorization }
}

/** `registry/repository:tag` or `registry/repository@digest` from a manifest URL. */
function imageReference (text: string): string {
  let parsed: URL
  try {
    parsed = new URL(text)
  } catch (err) {
    throw new JobRequestError(`url: "${text.slice(0, 120)}" is not a URL`, { cause: err })
  }
  const match = MANIFEST_PATH.exec(parsed.pathname)
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || match == null || parsed.username !== '' || parsed.password !== '') {
    throw new JobRequestError(`url: "${text.slice(0, 120)}" is not http(s)://REGISTRY/v2/REPOSITORY/manifests/TAG_OR_DIGEST`)
  }
  const [, repository = '', ref = ''] = match
  if (!isTag(ref) && !isDigest(ref)) throw new JobRequestError(`url: "${ref.slice(0, 80)}" is neither a tag nor a digest`)
  return `${parsed.host}/${repository}${isDigest(ref) ? '@' : ':'}${ref}`
}

function siteOfClusters (ids: number[], config: PreheatConfig): string | undefined {
  if (ids.length === 0) return undefined
  const sites = new Set<string>()
  for (const id of ids) {
    const site = config.clusters.get(id)
    if (site == null) throw new JobRequestError(`scheduler_cluster_ids: cluster ${id} is not mapped to a site (preheat.clusters in the scheduler's --config)`)
    sites.add(site)
  }
  if (sites.size > 1) throw new JobRequestError(`scheduler_cluster_ids: the clusters map to the sites ${[...sites].join(', ')}; a shoal job goes to one site: make one preheat policy per site`)
  return [...sites][0]
}

function url (value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > 2048) throw new JobRequestError(`${field}: the image's manifest URL (http(s)://REGISTRY/v2/REPOSITORY/manifests/TAG)`)
  return value
}

/** The Authorization among the headers (any case of the name); the message never repeats its value. */
function authorization (value: unknown, field: string): string | undefined {
  if (value == null) return undefined
  const headers = object(value, field)
  const names = Object.keys(headers).filter(name => name.toLowerCase() === 'authorization')
  if (names.length > 1) throw new JobRequestError(`${field}: Authorization is given ${names.length} times`)
  const name = names[0]
  if (name == null) return undefined
  const given = headers[name]
  if (typeof given !== 'string' || !isJobAuthorization(given)) {
    throw new JobRequestError(`${field}.${name}: not "Scheme credentials" of visible ASCII, at most ${MAX_JOB_AUTHORIZATION_LENGTH} characters`)
  }
  return given
}

function object (value: unknown, field: string): Record<string, unknown> {
  if (typeof value !== 'object' || value == null || Array.isArray(value)) throw new JobRequestError(`${field}: must be a JSON object`)
  return value as Record<string, unknown>
}
