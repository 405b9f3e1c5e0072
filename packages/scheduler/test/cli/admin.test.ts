import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { startAdmin } from '../../src/cli/admin.ts'
import { loadOrCreateAdminToken } from '../../src/cli/admin-token.ts'
import type { JobAdmissionInit } from '../../src/jobs/admission.ts'
import { JobStore } from '../../src/jobs/job-store.ts'
import { PrefetchJobs } from '../../src/jobs/prefetch-jobs.ts'
import { SchedulerMetrics } from '../../src/metrics.ts'
import { SchedulerService } from '../../src/service.ts'

const TOKEN = 'test-admin-token-0123456789abcdef'

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-admin-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** The real admin listener over a real job runner (no agent connects: jobs stay resolving). */
async function startTestAdmin (t: ExecutionContext, limits?: JobAdmissionInit): Promise<string> {
  const dir = await tempDir(t)
  const service = new SchedulerService()
  const jobs = new PrefetchJobs({ service, store: new JobStore(join(dir, 'jobs')) })
  await jobs.start()
  const { server, url } = await startAdmin({ listen: { host: '127.0.0.1', port: 0 }, token: TOKEN, limits }, service, new SchedulerMetrics(() => service, () => jobs.states()), jobs)
  t.teardown(async () => {
    await new Promise<void>(resolve => { server.close(() => { resolve() }); server.closeAllConnections() })
    await jobs.stop()
  })
  return url
}

async function call (url: string, opts: { method?: 'GET' | 'POST', token?: string, body?: unknown } = {}): Promise<{ status: number, headers: Record<string, unknown>, text: string }> {
  const res = await fetch(url, {
    method: opts.method ?? 'GET',
    headers: { ...(opts.token == null ? {} : { authorization: `Bearer ${opts.token}` }), ...(opts.body == null ? {} : { 'content-type': 'application/json' }) },
    body: opts.body == null ? undefined : JSON.stringify(opts.body),
    signal: AbortSignal.timeout(10_000)
  })
  return { status: res.status, headers: Object.fromEntries(res.headers), text: await res.text() }
}

const job = (reference: string, extra: Record<string, unknown> = {}): unknown => ({ images: [{ reference, ...extra }], scope: 'site:edge' })

test('/jobs and /tasks need the bearer token; /healthz and /metrics stay open to probes and scrapers', async t => {
  const url = await startTestAdmin(t)
  for (const path of ['/jobs', '/tasks', '/jobs/0123456789ab']) {
    const none = await call(`${url}${path}`)
    t.is(none.status, 401, path)
    t.is(none.headers['www-authenticate'], 'Bearer realm="shoal-scheduler"')
    t.regex(none.text, /Authorization: Bearer <token>/)
    t.is((await call(`${url}${path}`, { token: `${TOKEN}x` })).status, 401, `${path} with a wrong token`)
  }
  t.is((await call(`${url}/jobs`, { method: 'POST', body: job('lib/app:v1') })).status, 401, 'no job is made without the token')
  t.is((await call(`${url}/jobs`, { token: TOKEN })).status, 200)
  t.is((await call(`${url}/tasks`, { token: TOKEN })).status, 200)
  t.is((await call(`${url}/healthz`)).status, 200)
  t.is((await call(`${url}/metrics`)).status, 200)
})

test('references and tag globs outside the distribution grammar are refused by field', async t => {
  const url = await startTestAdmin(t)
  for (const bad of ['../../etc', 'lib/../../etc:v1', 'Lib/App:v1', 'reg.io/app:-x', 'app@sha256:12']) {
    const res = await call(`${url}/jobs`, { method: 'POST', token: TOKEN, body: job(bad) })
    t.is(res.status, 400, bad)
    t.regex(res.text, /images\[0\]\.reference: /, bad)
  }
  const tags = await call(`${url}/jobs`, { method: 'POST', token: TOKEN, body: job('127.0.0.1:5000/lib/app', { tags: '../*' }) })
  t.is(tags.status, 400)
  t.regex(tags.text, /images\[0\]\.tags: /)
  t.is((await call(`${url}/jobs`, { method: 'POST', token: TOKEN, body: job('127.0.0.1:5000/lib/app', { tags: 'v1.*' }) })).status, 201)
})

test('past the active-job limit and past the per-minute limit, POST /jobs answers 429 with Retry-After', async t => {
  const active = await startTestAdmin(t, { maxActive: 2, maxPerMinute: 100 })
  for (let i = 0; i < 2; i++) t.is((await call(`${active}/jobs`, { method: 'POST', token: TOKEN, body: job(`lib/app:v${i}`) })).status, 201)
  const third = await call(`${active}/jobs`, { method: 'POST', token: TOKEN, body: job('lib/app:v3') })
  t.is(third.status, 429)
  t.regex(third.text, /--max-active-jobs 2/)
  t.true(Number(third.headers['retry-after']) > 0)

  let now = 1_000_000
  const rate = await startTestAdmin(t, { maxActive: 100, maxPerMinute: 3, now: () => now })
  for (let i = 0; i < 3; i++) t.is((await call(`${rate}/jobs`, { method: 'POST', token: TOKEN, body: job(`lib/app:v${i}`) })).status, 201)
  now += 20_000
  const fourth = await call(`${rate}/jobs`, { method: 'POST', token: TOKEN, body: job('lib/app:v4') })
  t.is(fourth.status, 429)
  t.is(fourth.headers['retry-after'], '40', 'the oldest job leaves the window in 40 s')
  now += 40_000
  t.is((await call(`${rate}/jobs`, { method: 'POST', token: TOKEN, body: job('lib/app:v5') })).status, 201)
})

test('the token is made once at first start, mode 0600, and read back after; a short token file is refused by field', async t => {
  const dir = join(await tempDir(t), 'scheduler')
  const made = await loadOrCreateAdminToken({ dataDir: dir })
  t.true(made.created)
  t.true(made.token.length >= 40)
  t.is((await stat(made.path)).mode & 0o777, 0o600)
  t.is((await stat(dir)).mode & 0o777, 0o700)
  const again = await loadOrCreateAdminToken({ dataDir: dir })
  t.false(again.created)
  t.is(again.token, made.token)

  const short = join(dir, 'short')
  await writeFile(short, 'abc\n')
  await t.throwsAsync(loadOrCreateAdminToken({ file: short, dataDir: dir }), { name: 'SchedulerConfigError', message: /^--admin-token-file: .* at least 16 characters/ })
  await t.throwsAsync(loadOrCreateAdminToken({ file: join(dir, 'missing'), dataDir: dir }), { name: 'SchedulerConfigError', message: /^--admin-token-file: cannot read/ })
})
