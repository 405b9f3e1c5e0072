import { readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { request } from 'undici'
import { layerFixture, pushImage, startCountingProxy, startRegistry, startTokenIssuer } from './fixtures/index.ts'
import type { TokenIssuer } from './fixtures/index.ts'
import { createOpenApiJob, createPreheat, getOpenApiJob, getPreheat, healthy, ping, pollUntilSettled } from './helpers/dragonfly-driver.ts'
import type { OpenApiJob } from './helpers/dragonfly-driver.ts'
import { fetchBody, waitFor } from './helpers/http.ts'
import { captureLogs } from './helpers/log-capture.ts'
import { startPeer, writeSwarmKey } from './helpers/p2p-cluster.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'
import { adminHeaders, siteHolds } from './helpers/prefetch-jobs.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

/** Harbor's own pull identity ("distributor" in Harbor): it may pull lib/app and nothing else. */
const HARBOR = { username: 'harbor-distributor', password: 'h-secret-31e9' }
const ADMIN = { username: 'admin', password: 'a-secret-7c21' }
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/

/** A token from the issuer's realm for `scope`, as Harbor mints one for its preheat (pull of one repository). */
async function pullToken (issuer: TokenIssuer, scope: string): Promise<string> {
  const url = `${issuer.realm}?service=${encodeURIComponent(issuer.service)}&scope=${encodeURIComponent(scope)}`
  const res = await request(url, { headers: { authorization: `Basic ${Buffer.from(`${HARBOR.username}:${HARBOR.password}`).toString('base64')}` } })
  if (res.statusCode !== 200) throw new Error(`token: ${res.statusCode} ${await res.body.text()}`)
  return (await res.body.json() as { token: string }).token
}

/** Every file under `dir` as bytes, to look for a secret that must never reach the disk. */
async function filesUnder (dir: string): Promise<Array<{ path: string, bytes: Buffer }>> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true })
  return await Promise.all(entries.filter(e => e.isFile()).map(async e => ({ path: join(e.parentPath, e.name), bytes: await readFile(join(e.parentPath, e.name)) })))
}

async function schedulerWithConfig (t: ExecutionContext, swarmKey: string, yaml: string): Promise<{ scheduler: Awaited<ReturnType<typeof spawnScheduler>>, dataDir: string }> {
  const dataDir = await tempDir(t, 'scheduler')
  const configDir = await tempDir(t, 'scheduler-config')
  await writeFile(join(configDir, 'scheduler.yaml'), yaml)
  return { scheduler: await spawnScheduler(t, { dataDir, swarmKey, args: ['--config', join(configDir, 'scheduler.yaml')] }), dataDir }
}

test('Harbor\'s Dragonfly driver preheats an image to a site with the job\'s own pull token: PENDING to SUCCESS with per-blob results; a wrong token ends in FAILURE with the reason; the token is in no log, metric, listing or file', async t => {
  const issuer = await startTokenIssuer({ users: [ADMIN, HARBOR], publicRepositories: [], access: { [HARBOR.username]: ['lib/app'] } })
  t.teardown(issuer.stop)
  const registry = await startRegistry({ auth: { kind: 'token', issuer } })
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'lib/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 2_097_153, seed: 61 }), layerFixture({ size: 200_003, seed: 62 })], auth: ADMIN })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)

  const cluster: Cluster = { origin, image, layers: [], digests: [], swarmKey: await writeSwarmKey(t) }
  const { scheduler, dataDir } = await schedulerWithConfig(t, cluster.swarmKey, 'preheat:\n  clusters:\n    7: edge\n')
  const logs = [captureLogs('debug'), captureLogs('debug'), captureLogs('debug')]
  // The agents have no registry credentials of their own (the test agents read no docker config).
  const site = await Promise.all([0, 1].map(async i => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--site', 'edge'], logger: logs[i]?.logger })))
  const elsewhere = await startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--site', 'hq'], logger: logs[2]?.logger })
  await waitFor('agents registered', () => [...site, elsewhere].every(x => x.agent.schedulersConnected === 1))

  const token = await pullToken(issuer, 'repository:lib/app:pull')
  const tokensIssued = issuer.requests
  origin.reset()
  const instance = { endpoint: scheduler.admin, token: scheduler.adminToken }
  const url = `http://${origin.host}/v2/lib/app/manifests/v1`

  // Health, create, poll: exactly the driver's calls.
  t.is((await healthy(instance)).status, 200)
  const created = await createOpenApiJob(instance, { url, pullToken: token, scope: 'single_seed_peer', clusterIds: [7] })
  t.is(created.status, 200, created.text)
  t.true(Number.isSafeInteger(created.body.id) && created.body.id > 0, 'id is a JSON number')
  t.regex(created.body.created_at, RFC3339)
  t.regex(created.body.updated_at, RFC3339)
  t.is(created.body.state, 'PENDING')
  const polled = await pollUntilSettled(async () => getOpenApiJob(instance, created.body.id), job => job.state !== 'PENDING')
  const done = polled.at(-1) as OpenApiJob
  t.is(done.state, 'SUCCESS', JSON.stringify(done.result))
  t.true(polled.every(job => ['PENDING', 'SUCCESS'].includes(job.state)), `states: ${polled.map(j => j.state).join(' ')}`)
  const blobs = [image.configDigest, ...image.layers.map(l => l.digest)]
  const results = done.result.job_states.flatMap(s => s.results)
  const successes = results.flatMap(r => r.success_tasks)
  // A success task per share of a blob: the layer of 9 pieces (runs of 8 and 1) is in 2 stripes (placed by pieces), the others (one piece each) whole.
  t.is(successes.length, blobs.length + 1, 'one success task per blob copy or stripe')
  t.deepEqual([...new Set(successes.map(s => s.url.split('/blobs/')[1]))].sort(), [...blobs].sort())
  t.is(results.flatMap(r => r.failure_tasks).length, 0)
  t.true(successes.every(s => s.hostname !== '' && s.ip === '127.0.0.1'), JSON.stringify(successes))
  for (const digest of blobs) t.true(siteHolds(site, digest), `the site holds every piece of ${digest}`)
  t.is(elsewhere.agent.store.list().length, 0, 'the other site fetched nothing')

  // What reached the origin: the job's token on every request for the image, and no token fetched by the agents.
  const toOrigin = origin.counts.requests.filter(r => r.path.startsWith('/v2/lib/app/'))
  t.true(toOrigin.filter(r => r.method === 'GET' && r.path.includes('/blobs/')).length >= blobs.length, 'the blobs came from the origin')
  t.true(toOrigin.every(r => r.authorization === `Bearer ${token}`), 'every request to the origin carried the job\'s token')
  t.is(issuer.requests, tokensIssued, 'the agents asked the token issuer for nothing: they used the job\'s token')

  // A token the origin refuses (valid, but scoped for another repository): FAILURE and why.
  const wrong = await pullToken(issuer, 'repository:lib/other:pull')
  const refused = await createOpenApiJob(instance, { url, pullToken: wrong, scope: 'all_peers', clusterIds: [7] })
  t.is(refused.status, 200, refused.text)
  const failed = (await pollUntilSettled(async () => getOpenApiJob(instance, refused.body.id), job => job.state !== 'PENDING')).at(-1) as OpenApiJob
  t.is(failed.state, 'FAILURE')
  const reason = failed.result.job_states.map(s => s.error).join('; ')
  t.regex(reason, /unauthorized/)
  t.regex(reason, /job's own credentials/)

  // Dragonfly 1's API (Harbor 2.1-2.11), the site in the endpoint's path.
  const v1 = { endpoint: `${scheduler.admin}/sites/edge`, token: scheduler.adminToken }
  t.is((await ping(v1)).status, 200)
  const preheat = await createPreheat(v1, { url, pullToken: token, image: 'lib/app', tag: 'v1', digest: image.manifestDigest })
  t.is(preheat.status, 200, preheat.text)
  t.regex(preheat.body.ID, /^\d+$/)
  const statuses = await pollUntilSettled(async () => getPreheat(v1, preheat.body.ID), s => s.status === 'SUCCESS' || s.status === 'FAILED')
  t.is(statuses.at(-1)?.status, 'SUCCESS', statuses.at(-1)?.errorMsg)
  t.true(statuses.every(s => ['WAITING', 'RUNNING', 'SUCCESS'].includes(s.status)))

  // The tokens are nowhere: logs (agents at debug, the scheduler), metrics, job listings, answers, files.
  const listing = (await fetchBody(`${scheduler.admin}/jobs`, { headers: adminHeaders(scheduler) })).body.toString()
  t.is((JSON.parse(listing) as { jobs: unknown[] }).jobs.length, 3)
  const texts: Array<[string, string]> = [
    ['scheduler log', scheduler.stderr()],
    ...logs.map((l, i): [string, string] => [`agent ${i} log`, l.text()]),
    ['scheduler metrics', (await fetchBody(`${scheduler.admin}/metrics`)).body.toString()],
    ...await Promise.all([...site, elsewhere].map(async (x, i): Promise<[string, string]> => [`agent ${i} metrics`, (await fetchBody(`${x.url}/metrics`)).body.toString()])),
    ['job listing', listing],
    ['job view', (await fetchBody(`${scheduler.admin}/jobs/${created.body.id.toString(16).padStart(12, '0')}`, { headers: adminHeaders(scheduler) })).body.toString()],
    ['driver answers', JSON.stringify([created.body, polled, refused.body, failed, preheat.body, statuses])]
  ]
  t.true(logs.every(l => l.lines.length > 0) && scheduler.stderr().includes('prefetch job created'), 'the logs were captured')
  for (const secret of [token, wrong]) {
    const signature = secret.split('.')[2] ?? secret
    for (const [what, text] of texts) t.false(text.includes(signature), `no token in the ${what}`)
    for (const dir of [dataDir, ...site.map(x => x.dataDir), elsewhere.dataDir]) {
      for (const file of await filesUnder(dir)) t.false(file.bytes.includes(signature), `no token in ${file.path}`)
    }
  }
})

test('the preheat API refuses what it cannot run with a clear 4xx and stores nothing; without the instance token it answers 401', async t => {
  const swarmKey = await writeSwarmKey(t)
  const { scheduler } = await schedulerWithConfig(t, swarmKey, 'preheat:\n  clusters:\n    1: edge\n    2: hq\n')
  const instance = { endpoint: scheduler.admin, token: scheduler.adminToken }
  const url = 'https://harbor.example.com/v2/library/app/manifests/1.0'

  t.is((await healthy({ endpoint: scheduler.admin })).status, 401, 'the health check needs the instance credential too')
  t.is((await createOpenApiJob({ endpoint: scheduler.admin, token: 'not-the-admin-token-at-all' }, { url, pullToken: 'x' })).status, 401)
  const cases: Array<[string, Parameters<typeof createOpenApiJob>[1], RegExp]> = [
    ['no site', { url, pullToken: 'abc', scope: 'single_seed_peer' }, /needs a site/],
    ['unknown cluster', { url, pullToken: 'abc', clusterIds: [9] }, /cluster 9 is not mapped/],
    ['two sites', { url, pullToken: 'abc', clusterIds: [1, 2] }, /one site/],
    ['unknown scope', { url, pullToken: 'abc', scope: 'everything', clusterIds: [1] }, /args\.scope/],
    ['not a manifest URL', { url: 'https://harbor.example.com/api/v2.0/projects', pullToken: 'abc', clusterIds: [1] }, /url/],
    ['a header break in the token', { url, pullToken: 'abc\r\nX-Injected: 1', clusterIds: [1] }, /Authorization/]
  ]
  for (const [what, opts, message] of cases) {
    const answer = await createOpenApiJob(instance, opts)
    t.is(answer.status, 422, `${what}: ${answer.text}`)
    t.regex((answer.body as unknown as { errors: string }).errors, message, what)
    t.false(answer.text.includes('X-Injected'), 'the credential is not echoed')
  }
  const notJson = await request(`${scheduler.admin}/oapi/v1/jobs`, { method: 'POST', body: '{', headers: { ...adminHeaders(scheduler), 'content-type': 'application/json' } })
  t.is(notJson.statusCode, 400)
  await notJson.body.dump()
  t.is((await getOpenApiJob(instance, 12345)).status, 404)
  const listing = JSON.parse((await fetchBody(`${scheduler.admin}/jobs`, { headers: adminHeaders(scheduler) })).body.toString()) as { jobs: unknown[] }
  t.deepEqual(listing.jobs, [], 'nothing was stored')
})
