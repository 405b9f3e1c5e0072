import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { SchedulerMessage } from '@shoal/proto'
import { JobStore, parseJobRequest, PrefetchJobs, SchedulerService } from '../../src/index.ts'
import { peer } from '../helpers.ts'

const TOKEN = 'Bearer eyJ0eXAiOiJKV1QifQ.c2VjcmV0LXB1bGw.sig-9f1e2d'

test('a job\'s own Authorization goes to the agent in its orders, never to the store, and a restart ends the job instead of running on other credentials', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-prefetch-credentials-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const service = new SchedulerService()
  const inbox: SchedulerMessage[] = []
  const agent = peer(1, { site: 'edge' })
  service.connect(agent.id, { info: agent, peerIdBytes: new Uint8Array(0), addresses: [], hostName: 'edge-1' }, { send: m => { inbox.push(m) } })
  const jobs = new PrefetchJobs({ service, store: new JobStore(join(dir, 'jobs')) }, { tickMs: 3_600_000 })
  await jobs.start()
  const request = parseJobRequest({ images: [{ reference: 'harbor.lan/lib/app:1' }], scope: 'site:edge' })
  const own = await jobs.create(request, { authorization: TOKEN })
  const plain = await jobs.create(request)

  const orders = inbox.flatMap(m => m.prefetch == null ? [] : [m.prefetch])
  t.deepEqual(orders.map(o => [o.job, o.authorization]), [[own.id, TOKEN], [plain.id, '']], 'the resolve order carries the job\'s own credential, only that job\'s')
  t.false(JSON.stringify(jobs.list()).includes('c2VjcmV0'), 'not in the listing')
  await jobs.stop()

  const files = await readdir(join(dir, 'jobs'))
  for (const file of files) t.false((await readFile(join(dir, 'jobs', file))).includes('c2VjcmV0'), `not in ${file}`)

  const restarted = new PrefetchJobs({ service: new SchedulerService(), store: new JobStore(join(dir, 'jobs')) }, { tickMs: 3_600_000 })
  await restarted.start()
  t.teardown(async () => { await restarted.stop() })
  const view = restarted.view(own.id)
  t.is(view.state, 'failed')
  t.is(view.error?.reason, 'unauthorized')
  t.regex(view.error?.message ?? '', /lost when the scheduler restarted/)
  t.is(restarted.view(plain.id).state, 'resolving', 'a job on the agents\' own credentials resumes')
})
