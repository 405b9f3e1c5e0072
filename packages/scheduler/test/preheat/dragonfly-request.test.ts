import test from 'ava'
import { parseOpenApiJob, parseSupernodePreheat, preheatJob } from '../../src/preheat/dragonfly-request.ts'
import { PREHEAT_DEFAULTS } from '../../src/preheat/config.ts'
import type { PreheatConfig } from '../../src/preheat/config.ts'

const config: PreheatConfig = { clusters: new Map([[1, 'edge-1'], [2, 'edge-2'], [3, 'edge-1']]), ...PREHEAT_DEFAULTS }
const URL_BY_TAG = 'https://harbor.example.com/v2/library/team/app/manifests/1.25'

/** Harbor 2.13+'s body: every key present. */
function body (args: Record<string, unknown>, ids: number[] | null = [1]): unknown {
  return { type: 'preheat', args: { type: 'image', url: URL_BY_TAG, tag: '', filtered_query_params: '', headers: { Authorization: 'Bearer eyJhbGciOi.x.y' }, scope: '', concurrent_count: 0, timeout: 0, ...args }, scheduler_cluster_ids: ids }
}

test('Harbor\'s open API job becomes a site job with the image by tag and the pull token kept apart', t => {
  const job = preheatJob(parseOpenApiJob(body({ scope: 'single_seed_peer' })), { config })
  t.deepEqual(job.request.images, [{ reference: 'harbor.example.com/library/team/app:1.25', tags: undefined }])
  t.deepEqual(job.request.scope, { kind: 'site', site: 'edge-1' })
  t.is(job.request.replicas, 1)
  t.is(job.request.timeoutMs, PREHEAT_DEFAULTS.timeoutMs)
  t.is(job.authorization, 'Bearer eyJhbGciOi.x.y')
  t.false(JSON.stringify(job.request).includes('eyJ'), 'the request (what is stored) holds no credential')
})

test('scopes: single (also \'\' and 2.12\'s single_peer) one copy, all_seed_peers the configured copies, all_peers the site or every agent', t => {
  const scope = (s: string, opts: { ids?: number[] | null, site?: string } = {}): unknown => {
    const { request } = preheatJob(parseOpenApiJob(body({ scope: s }, opts.ids === undefined ? [1] : opts.ids)), { config, site: opts.site })
    return [request.scope, request.replicas]
  }
  t.deepEqual(scope(''), [{ kind: 'site', site: 'edge-1' }, 1])
  t.deepEqual(scope('single_peer'), [{ kind: 'site', site: 'edge-1' }, 1])
  t.deepEqual(scope('all_seed_peers'), [{ kind: 'site', site: 'edge-1' }, PREHEAT_DEFAULTS.seedReplicas])
  t.deepEqual(scope('all_peers'), [{ kind: 'site', site: 'edge-1' }, 16])
  t.deepEqual(scope('all_peers', { ids: null }), [{ kind: 'all' }, 16])
  t.deepEqual(scope('single_seed_peer', { ids: [1, 3] }), [{ kind: 'site', site: 'edge-1' }, 1], 'clusters of one site')
  t.deepEqual(scope('single_seed_peer', { ids: [2], site: 'edge-9' }), [{ kind: 'site', site: 'edge-9' }, 1], 'the endpoint\'s /sites/NAME wins')
  t.deepEqual(preheatJob(parseOpenApiJob(body({}, null)), { config: { ...config, site: 'hq' } }).request.scope, { kind: 'site', site: 'hq' }, 'the default site')
})

test('a digest URL, a platform and a timeout in nanoseconds are taken', t => {
  const digest = `sha256:${'ab'.repeat(32)}`
  const { request } = preheatJob(parseOpenApiJob(body({ url: `http://127.0.0.1:5000/v2/lib/app/manifests/${digest}`, platform: 'linux/arm64', timeout: 90e9 })), { config })
  t.deepEqual(request.images, [{ reference: `127.0.0.1:5000/lib/app@${digest}`, tags: undefined }])
  t.deepEqual(request.platforms, ['linux/arm64'])
  t.is(request.timeoutMs, 90_000)
})

test('Dragonfly 1\'s body (Harbor 2.1-2.11) takes type, url and headers', t => {
  const input = parseSupernodePreheat({ type: 'image', url: URL_BY_TAG, headers: { authorization: 'Bearer t0k' }, image: 'library/team/app', tag: '1.25', digest: `sha256:${'cd'.repeat(32)}` })
  t.is(input.authorization, 'Bearer t0k', 'any case of the header name')
  t.deepEqual(preheatJob(input, { config, site: 'edge-2' }).request.scope, { kind: 'site', site: 'edge-2' })
})

test('what cannot be a job is refused by name, without repeating the credential', t => {
  const refused = (value: unknown, message: RegExp, site?: string): void => {
    const err = t.throws(() => preheatJob(parseOpenApiJob(value), { config, site }), { name: 'JobRequestError' })
    t.regex(err?.message ?? '', message)
    t.false(err?.message.includes('s3cr3t') ?? true)
  }
  refused({ type: 'sync', args: {} }, /^type/)
  refused(body({ type: 'file' }), /^args\.type/)
  refused(body({ url: 'https://harbor.example.com/api/v2.0/projects/library' }), /^url/)
  refused(body({ url: 'ftp://harbor.example.com/v2/a/manifests/1' }), /^url/)
  refused(body({ url: 'https://user:pw@harbor.example.com/v2/a/manifests/1' }), /^url/)
  refused(body({ url: 'https://harbor.example.com/v2/../../etc/manifests/1' }), /reference|repository|url/)
  refused(body({ url: 'https://harbor.example.com/v2/a/manifests/-bad' }), /neither a tag nor a digest/)
  refused(body({ headers: { Authorization: 'Bearer s3cr3t\r\nX: y' } }), /args\.headers\.Authorization/)
  refused(body({ headers: { Authorization: 's3cr3t' } }), /Scheme credentials/)
  refused(body({ headers: { Authorization: 'Bearer s3cr3t', authorization: 'Bearer s3cr3t' } }), /2 times/)
  refused(body({ scope: 'everywhere' }), /args\.scope/)
  refused(body({ platform: 'linux' }), /args\.platform/)
  refused(body({ timeout: -1 }), /args\.timeout/)
  refused(body({}, [7]), /cluster 7 is not mapped/)
  refused(body({}, [1, 2]), /edge-1, edge-2/)
  refused(body({}, null), /needs a site/)
  refused(body({}, ['1'] as unknown as number[]), /scheduler_cluster_ids/)
})
