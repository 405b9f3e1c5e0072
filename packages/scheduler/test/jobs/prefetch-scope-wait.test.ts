import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { JobStore, parseJobRequest, PrefetchJobs, SchedulerService } from '../../src/index.ts'
import { PREFETCH_RESTART_AGENT_WAIT_MS, PREFETCH_SCOPE_GRACE_MS } from '../../src/constants.ts'

const HOUR_MS = 3600_000

/** Prefetch jobs on a real store and service (no agents connected), with a clock the test moves. */
async function jobs (t: ExecutionContext, dir: string, clock: { now: number }): Promise<PrefetchJobs> {
  const prefetch = new PrefetchJobs({ service: new SchedulerService(), store: new JobStore(join(dir, 'jobs')) }, { now: () => clock.now, tickMs: 3_600_000 })
  await prefetch.start()
  t.teardown(async () => { await prefetch.stop() })
  return prefetch
}

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-prefetch-jobs-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

const request = (timeoutMs: number): ReturnType<typeof parseJobRequest> => parseJobRequest({ images: [{ reference: 'r.example/app:1' }], scope: 'site:nowhere', timeoutMs })

test('a new job whose scope has no agent fails as unavailable after the grace, long before its deadline', async t => {
  const clock = { now: 1_000_000 }
  const prefetch = await jobs(t, await tempDir(t), clock)
  clock.now += PREFETCH_RESTART_AGENT_WAIT_MS + 1 // the scheduler has run a while: agents that exist are registered
  const { id } = await prefetch.create(request(HOUR_MS))
  clock.now += PREFETCH_SCOPE_GRACE_MS - 1
  prefetch.tick()
  t.is(prefetch.view(id).state, 'resolving', 'within the grace it waits')
  clock.now += 1
  prefetch.tick()
  const view = prefetch.view(id)
  t.is(view.state, 'failed')
  t.deepEqual(view.error, { reason: 'unavailable', message: 'no agent of scope site:nowhere is connected to this scheduler' })
})

test('right after the scheduler starts a new job waits for agents to register, but at most a quarter of its timeout', async t => {
  const clock = { now: 1_000_000 }
  const prefetch = await jobs(t, await tempDir(t), clock)
  const { id: long } = await prefetch.create(request(HOUR_MS))
  const { id: short } = await prefetch.create(request(20_000))
  clock.now += 5_000
  prefetch.tick()
  t.is(prefetch.view(short).state, 'failed', 'a 20 s job is told after 5 s')
  t.is(prefetch.view(short).error?.reason, 'unavailable')
  t.is(prefetch.view(long).state, 'resolving', 'an hour-long job waits for the agents to come back')
  clock.now += PREFETCH_RESTART_AGENT_WAIT_MS
  prefetch.tick()
  t.is(prefetch.view(long).state, 'failed')
})

test('a job stored before a restart waits the whole registration window after it', async t => {
  const dir = await tempDir(t)
  const clock = { now: 1_000_000 }
  const before = new PrefetchJobs({ service: new SchedulerService(), store: new JobStore(join(dir, 'jobs')) }, { now: () => clock.now, tickMs: 3_600_000 })
  await before.start()
  clock.now += PREFETCH_RESTART_AGENT_WAIT_MS + 1
  const { id } = await before.create(request(HOUR_MS))
  await before.stop()

  clock.now += 60_000
  const after = await jobs(t, dir, clock)
  clock.now += PREFETCH_RESTART_AGENT_WAIT_MS - 1
  after.tick()
  t.is(after.view(id).state, 'resolving')
  clock.now += 1
  after.tick()
  t.is(after.view(id).state, 'failed')
  t.is(after.view(id).error?.reason, 'unavailable')
})
