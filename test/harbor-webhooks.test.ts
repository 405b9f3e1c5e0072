import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { request } from 'undici'
import type { JobView } from '@shoal/scheduler'
import { layerFixture, pushImage, startRegistry } from './fixtures/index.ts'
import type { OriginRegistry } from './fixtures/index.ts'
import { fetchBody, waitFor } from './helpers/http.ts'
import { startPeer, writeSwarmKey } from './helpers/p2p-cluster.ts'
import { adminHeaders, waitForJob } from './helpers/prefetch-jobs.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { runShoal } from './helpers/shoal-process.ts'
import type { SchedulerProcess } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

const WEBHOOK_TOKEN = 'webhook-token-5b0c2e81d7a4'

async function startScheduler (t: ExecutionContext, swarmKey: string, rules: string): Promise<SchedulerProcess> {
  const dir = await tempDir(t, 'scheduler-config')
  await writeFile(join(dir, 'webhook-token'), `${WEBHOOK_TOKEN}\n`, { mode: 0o600 })
  await writeFile(join(dir, 'scheduler.yaml'), `webhooks:\n  tokenFile: ${JSON.stringify(join(dir, 'webhook-token'))}\n  rules:\n${rules}`)
  return await spawnScheduler(t, { dataDir: await tempDir(t, 'scheduler'), swarmKey, args: ['--config', join(dir, 'scheduler.yaml')] })
}

async function jobs (scheduler: SchedulerProcess): Promise<JobView[]> {
  return (JSON.parse((await fetchBody(`${scheduler.admin}/jobs`, { headers: adminHeaders(scheduler) })).body.toString()) as { jobs: JobView[] }).jobs
}

async function agentsOf (t: ExecutionContext, registry: OriginRegistry, swarmKey: string, scheduler: SchedulerProcess, count: number): Promise<Array<Awaited<ReturnType<typeof startPeer>>>> {
  const cluster = { origin: { url: registry.url } as never, image: undefined as never, layers: [], digests: [], swarmKey }
  const agents = await Promise.all(Array.from({ length: count }, async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--site', 'edge'] })))
  await waitFor('agents registered', () => agents.every(x => x.agent.schedulersConnected === 1))
  return agents
}

async function postWebhook (scheduler: SchedulerProcess, body: unknown, authorization?: string): Promise<{ status: number, body: { pushes?: number, jobs?: Array<{ id: string, image: string }>, error?: string } }> {
  const res = await request(`${scheduler.admin}/webhooks/push`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json', ...authorization == null ? {} : { authorization } }, signal: AbortSignal.timeout(10_000) })
  return { status: res.statusCode, body: await res.body.json() as never }
}

test('the registry\'s push notifications start a prefetch job for a push a rule matches, and none for pushes it does not', async t => {
  const swarmKey = await writeSwarmKey(t)
  const scheduler = await startScheduler(t, swarmKey, '    - repository: "team/*"\n      tags: "v*"\n      scope: site:edge\n')
  // The registry's notifications endpoint, with the webhook token as a static header.
  const registry = await startRegistry({ notifications: { url: `${scheduler.admin}/webhooks/push`, headers: { Authorization: `Bearer ${WEBHOOK_TOKEN}` } } })
  t.teardown(registry.stop)
  const agents = await agentsOf(t, registry, swarmKey, scheduler, 2)

  // Pushes no rule takes: another repository, a tag outside the filter. Then one it takes.
  await pushImage(registry, { name: 'other/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 40_001, seed: 71 })] })
  await pushImage(registry, { name: 'team/app', tag: 'dev', format: 'oci', layers: [layerFixture({ size: 40_002, seed: 72 })] })
  const docker = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: [layerFixture({ size: 200_003, seed: 73 }), layerFixture({ size: 20_004, seed: 74 })] })
  const oci = await pushImage(registry, { name: 'team/web', tag: 'v2', format: 'oci', layers: [layerFixture({ size: 100_005, seed: 75 })] })

  // The registry delivers to an endpoint in order: once the last push made its job, the others were heard.
  await waitFor('jobs from the matching pushes', async () => (await jobs(scheduler)).length >= 2, { timeoutMs: 20_000 })
  const started = await Promise.all((await jobs(scheduler)).map(async ({ id }) => waitForJob(scheduler, id)))
  for (const job of started) {
    t.is(job.state, 'done', JSON.stringify(job.error ?? job.images))
    t.is(job.scope, 'site:edge')
  }
  t.deepEqual(started.flatMap(j => j.images.map(i => i.reference)).sort(), [`${registry.host}/team/app:v1@${docker.manifestDigest}`, `${registry.host}/team/web:v2@${oci.manifestDigest}`].sort())
  const held = new Set(agents.flatMap(x => x.agent.store.list().filter(r => r.state === 'complete').map(r => r.digest as string)))
  for (const image of [docker, oci]) for (const digest of [image.configDigest, ...image.layers.map(l => l.digest)]) t.true(held.has(digest), `the site holds ${digest}`)
  t.is((await jobs(scheduler)).length, 2, 'no job for other/app:v1 or team/app:dev')
})

test('Harbor\'s PUSH_ARTIFACT webhook starts a job by rule (the registry the agents know replacing Harbor\'s host); other events, other tags and callers without the token start nothing', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const pushed = await pushImage(registry, { name: 'library/busybox', tag: '1.0', format: 'oci', layers: [layerFixture({ size: 200_005, seed: 81 })] })
  const swarmKey = await writeSwarmKey(t)
  const scheduler = await startScheduler(t, swarmKey, `    - repository: "library/*"\n      tags: "1.*"\n      registry: "${registry.host}"\n      scope: site:edge\n      replicas: 2\n`)
  await agentsOf(t, registry, swarmKey, scheduler, 2)
  const bearer = `Bearer ${WEBHOOK_TOKEN}`
  // Harbor's Default payload (jobservice's webhook job): one resource per artifact event.
  const harborEvent = (type: string, tag: string): unknown => ({
    type,
    occur_at: 1764936000,
    operator: 'admin',
    event_data: {
      resources: [{ digest: pushed.manifestDigest, tag, resource_url: `harbor.example.com/library/busybox:${tag}` }],
      repository: { date_created: 1764930000, name: 'busybox', namespace: 'library', repo_full_name: 'library/busybox', repo_type: 'public' }
    }
  })

  t.is((await postWebhook(scheduler, harborEvent('PUSH_ARTIFACT', '1.0'))).status, 401, 'no token')
  t.is((await postWebhook(scheduler, harborEvent('PUSH_ARTIFACT', '1.0'), 'Bearer wrong-token-0123456789')).status, 401)
  t.is((await request(`${scheduler.admin}/jobs`, { headers: { authorization: bearer } })).statusCode, 401, 'the webhook token opens the webhook only')
  const pulled = await postWebhook(scheduler, harborEvent('PULL_ARTIFACT', '1.0'), bearer)
  t.deepEqual([pulled.status, pulled.body.jobs], [200, []])
  const otherTag = await postWebhook(scheduler, { specversion: '1.0', type: 'harbor.artifact.pushed', data: (harborEvent('x', '2.0') as { event_data: unknown }).event_data }, bearer)
  t.deepEqual([otherTag.status, otherTag.body.pushes, otherTag.body.jobs], [200, 1, []], 'CloudEvents format, a tag outside the rule')
  // Kraken's driver posts Distribution's envelope with Go's capitalised keys.
  const kraken = await postWebhook(scheduler, { Events: [{ Action: 'push', Target: { MediaType: 'application/vnd.docker.distribution.manifest.v2+json', Digest: pushed.manifestDigest, Repository: 'team/unruled', Url: 'https://harbor.example.com/v2/team/unruled/manifests/1.0', Tag: '1.0' } }] }, bearer)
  t.deepEqual([kraken.status, kraken.body.pushes, kraken.body.jobs], [200, 1, []])
  t.is((await postWebhook(scheduler, { hello: 'world' }, bearer)).status, 400)
  t.deepEqual(await jobs(scheduler), [], 'nothing so far started a job')

  const pushedEvent = await postWebhook(scheduler, harborEvent('PUSH_ARTIFACT', '1.0'), bearer)
  t.is(pushedEvent.status, 200)
  t.deepEqual(pushedEvent.body.jobs?.map(j => j.image), [`${registry.host}/library/busybox:1.0@${pushed.manifestDigest}`])
  const job = await waitForJob(scheduler, pushedEvent.body.jobs?.[0]?.id ?? '')
  t.is(job.state, 'done', JSON.stringify(job.error ?? job.images))
  t.is(job.replicas, 2)
  t.true(job.layers.every(l => l.targets.length === 2 && l.targets.every(x => x.state === 'done')), 'two copies of each blob, as the rule says')
})

test('a --config file with a wrong rule stops the scheduler at start, naming the field', async t => {
  const dir = await tempDir(t, 'scheduler-config')
  await writeFile(join(dir, 'scheduler.yaml'), 'webhooks:\n  rules:\n    - repository: "team/*"\n      tags: "v1 beta"\n      scope: site:edge\n')
  const run = await runShoal(['scheduler', '--listen', '/ip4/127.0.0.1/tcp/0', '--admin', '127.0.0.1:0', '--data-dir', await tempDir(t, 'scheduler'), '--config', join(dir, 'scheduler.yaml')])
  t.is(run.code, 2, run.stdout)
  t.regex(run.stderr, /invalid configuration: .*scheduler\.yaml: webhooks\.rules\[0\]\.tags: "v1 beta" is not a tag glob/)
})
