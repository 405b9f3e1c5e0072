import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { request } from 'undici'
import { waitFor } from './helpers/http.ts'
import { setupCluster, startPeer } from './helpers/p2p-cluster.ts'
import type { Cluster } from './helpers/p2p-cluster.ts'
import { adminHeaders, createJob, getJob, originBlobBytes, runPrefetchCommand, siteHolds, waitForJob } from './helpers/prefetch-jobs.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import type { SchedulerProcess } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'
import type { TestAgent } from './helpers/agent.ts'

const MiB = 1024 * 1024

async function siteOf (t: Parameters<typeof setupCluster>[0], cluster: Cluster, count: number, opts: { dataDir?: string, args?: string[] } = {}): Promise<{ scheduler: SchedulerProcess, agents: TestAgent[], port: number, dataDir: string }> {
  const dataDir = opts.dataDir ?? await tempDir(t, 'scheduler')
  const scheduler = await spawnScheduler(t, { dataDir, swarmKey: cluster.swarmKey })
  const agents = await Promise.all(Array.from({ length: count }, async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--site', 'edge', ...opts.args ?? []] })))
  await waitFor('agents registered', () => agents.every(a => a.agent.schedulersConnected === 1))
  return { scheduler, agents, port: scheduler.port, dataDir }
}

const peerIdOf = (agent: TestAgent): string => agent.agent.p2pAddresses[0]?.split('/p2p/')[1] ?? ''

test('a prefetch job interrupted by a scheduler restart finishes: the job is stored, the agents come back and are ordered again', async t => {
  const cluster = await setupCluster(t)
  cluster.origin.bytesPerSecond = 3 * MiB
  const { scheduler, agents, port, dataDir } = await siteOf(t, cluster, 2)
  const created = await createJob(scheduler, { images: [{ reference: `${cluster.origin.host}/lib/p2p:v1` }], scope: 'site:edge' })
  await waitFor('a blob under way', async () => (await getJob(scheduler, created.id)).totals.bytesDone > 0, { timeoutMs: 20_000, intervalMs: 100 })

  await scheduler.kill('SIGKILL')
  await waitFor('agents saw it go', () => agents.every(a => a.agent.schedulersConnected === 0))
  const restarted = await spawnScheduler(t, { port, dataDir, swarmKey: cluster.swarmKey })
  const resumed = await getJob(restarted, created.id)
  t.not(resumed.state, 'done', 'the job was not finished when the scheduler died')
  const job = await waitForJob(restarted, created.id, undefined, 60_000)
  t.is(job.state, 'done', JSON.stringify(job))
  for (const layer of job.layers) t.true(siteHolds(agents, layer.digest), `the site holds ${layer.digest}`)
  t.true(cluster.digests.every(d => siteHolds(agents, d)))
  const imageBytes = cluster.layers.reduce((sum, l) => sum + l.byteLength, 0)
  t.true(originBlobBytes(cluster.origin) < 1.3 * imageBytes, `the origin sent ${(originBlobBytes(cluster.origin) / imageBytes).toFixed(2)}x the layers across the restart`)
})

test('a private image with wrong agent credentials fails with a clear reason; the job is failed, nothing is stored', async t => {
  const user = { username: 'deploy', password: 'right-password' }
  const cluster = await setupCluster(t, user)
  const dir = await tempDir(t, 'creds')
  const dockerConfig = join(dir, 'config.json')
  await writeFile(dockerConfig, JSON.stringify({ auths: { [cluster.origin.host]: { auth: Buffer.from('deploy:wrong-password').toString('base64') } } }))
  const { scheduler, agents } = await siteOf(t, cluster, 2, { args: ['--docker-config', dockerConfig] })

  const run = await runPrefetchCommand([`${cluster.origin.host}/lib/p2p:v1`, '--scheduler', scheduler.admin, '--admin-token-file', scheduler.adminTokenFile, '--scope', 'site:edge'])
  t.is(run.code, 1, 'a failed image fails the command')
  t.regex(run.stdout + run.stderr, /unauthorized/, 'the reason is printed')
  const id = /\b([0-9a-f]{12})\b/.exec(run.stdout + run.stderr)?.[1] ?? ''
  const job = await getJob(scheduler, id)
  t.is(job.state, 'failed')
  const image = job.images[0]
  t.is(image?.error?.reason, 'unauthorized', JSON.stringify(job.images))
  t.regex(image?.error?.message ?? '', /credentials/)
  t.false((image?.error?.message ?? '').includes('wrong-password'), 'credentials never appear in reasons')
  t.true(agents.every(a => a.agent.store.list().length === 0))
  t.is(originBlobBytes(cluster.origin), 0)
})

test('cancel stops a job: agents drop the blobs not yet started, the job ends cancelled', async t => {
  const cluster = await setupCluster(t)
  cluster.origin.bytesPerSecond = 2 * MiB
  const { scheduler, agents } = await siteOf(t, cluster, 1)
  const [agent] = agents as [TestAgent]
  const created = await createJob(scheduler, { images: [{ reference: `${cluster.origin.host}/lib/p2p:v1` }], scope: `agent:${peerIdOf(agent)}`, concurrency: 1 })
  // The first layer (6 MiB at 2 MiB/s) is under way; the second is not asked for yet (concurrency 1).
  await waitFor('the first layer under way', async () => (await getJob(scheduler, created.id)).layers.some(l => l.size > MiB && l.targets.some(x => x.state === 'fetching')), { timeoutMs: 20_000, intervalMs: 100 })

  const notStarted = (await getJob(scheduler, created.id)).layers.filter(l => l.targets.every(x => x.state === 'pending')).map(l => l.digest)
  const res = await request(`${scheduler.admin}/jobs/${created.id}`, { method: 'DELETE', headers: adminHeaders(scheduler) })
  t.is(res.statusCode, 200)
  const cancelled = JSON.parse(await res.body.text()) as Awaited<ReturnType<typeof getJob>>
  t.is(cancelled.state, 'cancelled')
  t.true(cancelled.layers.some(l => l.targets.some(x => x.state === 'failed' && x.error?.reason === 'cancelled')))
  // The blob under way may finish (it is cached either way); the ones after it are never asked for.
  // Long enough for the first layer to end (3 s at 2 MiB/s): without the cancel, the next one would start.
  await new Promise(resolve => setTimeout(resolve, 4500))
  t.true(notStarted.length > 0)
  for (const digest of notStarted) t.is(cluster.origin.blobGets(digest), 0, `${digest} was not fetched after the cancel`)
  t.is((await getJob(scheduler, created.id)).state, 'cancelled')
})

test('the jobs API refuses bad requests by field and unknown jobs', async t => {
  const cluster = await setupCluster(t)
  const { scheduler } = await siteOf(t, cluster, 1)
  for (const [body, field] of [
    [{ images: [], scope: 'all' }, /images/],
    [{ images: [{ reference: 'a/b:1' }], scope: 'region:x' }, /scope/],
    [{ images: [{ reference: 'a/b:1' }], scope: 'all', replicas: 0 }, /replicas/],
    [{ images: [{ reference: 'a/b:1' }], scope: 'site:edge', spread: 'halves' }, /spread/],
    [{ images: [{ reference: 'a/b:1' }], scope: 'all', platforms: ['linux'] }, /platforms\[0\]/]
  ] as const) {
    const res = await request(`${scheduler.admin}/jobs`, { method: 'POST', body: JSON.stringify(body), headers: adminHeaders(scheduler) })
    t.is(res.statusCode, 400)
    t.regex((JSON.parse(await res.body.text()) as { error: string }).error, field)
  }
  const notJson = await request(`${scheduler.admin}/jobs`, { method: 'POST', body: '{', headers: adminHeaders(scheduler) })
  t.is(notJson.statusCode, 400)
  await notJson.body.dump()
  const unknown = await request(`${scheduler.admin}/jobs/0123456789ab`, { headers: adminHeaders(scheduler) })
  t.is(unknown.statusCode, 404)
  await unknown.body.dump()
})

test('scope all: every agent ends with every blob, and the origin still sends each about once', async t => {
  const cluster = await setupCluster(t)
  const { scheduler, agents } = await siteOf(t, cluster, 3)
  const created = await createJob(scheduler, { images: [{ reference: `${cluster.origin.host}/lib/p2p:v1` }], scope: 'all' })
  const job = await waitForJob(scheduler, created.id)
  t.is(job.state, 'done', JSON.stringify(job))
  t.true(job.layers.every(l => l.targets.length === 3 && l.targets.every(x => x.state === 'done')))
  for (const agent of agents) {
    const held = new Set(agent.agent.store.list().filter(r => r.state === 'complete').map(r => r.digest as string))
    t.true(job.layers.every(l => held.has(l.digest)), 'each agent holds every blob')
  }
  const imageBytes = cluster.layers.reduce((sum, l) => sum + l.byteLength, 0)
  const sent = originBlobBytes(cluster.origin)
  t.log(`origin sent ${(sent / imageBytes).toFixed(2)}x the layers for 3 agents`)
  t.true(sent < 1.3 * imageBytes, `the origin sent ${(sent / imageBytes).toFixed(2)}x the layers`)
})

test('a tag filter that matches more images than a job takes: the job says so and fetches the first ones; the agent stays connected', async t => {
  const cluster = await setupCluster(t)
  // 300 tags of the same image (the manifest PUT again under each tag).
  for (let i = 0; i < 300; i += 20) {
    await Promise.all(Array.from({ length: 20 }, async (_, j) => {
      const res = await request(`${cluster.origin.url}/v2/lib/p2p/manifests/t${String(i + j).padStart(3, '0')}`, { method: 'PUT', body: cluster.image.manifest, headers: { 'content-type': cluster.image.mediaType } })
      await res.body.dump()
      if (res.statusCode !== 201) throw new Error(`PUT tag: ${res.statusCode}`)
    }))
  }
  const { scheduler, agents } = await siteOf(t, cluster, 1)
  const job = await waitForJob(scheduler, (await createJob(scheduler, { images: [{ reference: `${cluster.origin.host}/lib/p2p`, tags: 't*' }], scope: 'site:edge' })).id)
  t.is(job.state, 'failed')
  const cut = job.images.filter(i => i.error != null)
  t.is(cut.length, 1)
  t.regex(cut[0]?.error?.message ?? '', /matched 300 tags/)
  t.true(job.layers.length > 0 && job.layers.every(l => l.targets.every(x => x.state === 'done')), 'the images it took were fetched')
  t.is(agents[0]?.agent.schedulersConnected, 1, 'the answer fit the protocol: the agent was not cut off')
})
