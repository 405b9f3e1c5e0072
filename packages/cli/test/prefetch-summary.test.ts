import test from 'ava'
import { exitCodeOf, jsonSummary, summaryLines } from '../src/prefetch/display/summary.ts'
import { digestOf, jobView } from './prefetch-views.ts'

const done = (n: number, agent = 'agent-a'): Parameters<typeof jobView>[0]['layers'][number] => ({ digest: digestOf(n), size: 1000, targets: [{ agent, state: 'done', bytes: 1000 }] })
const failed = (n: number, reason: string, message: string): Parameters<typeof jobView>[0]['layers'][number] => ({
  digest: digestOf(n), size: 1000, targets: [{ agent: 'agent-a', state: 'failed', bytes: 10, error: { reason, message } }]
})
const FINISHED = '2025-01-01T00:02:03.000Z'

test('exit status: 0 only when nothing failed and the job was not failed or cancelled', t => {
  t.is(exitCodeOf(jobView({ state: 'done', layers: [done(1), done(2)] })), 0)
  t.is(exitCodeOf(jobView({ state: 'running', layers: [done(1)] })), 0, 'a running job (status without --wait) has failed nothing yet')
  t.is(exitCodeOf(jobView({ state: 'done', layers: [done(1), failed(2, 'not-found', 'blob unknown')] })), 1)
  t.is(exitCodeOf(jobView({ state: 'running', layers: [failed(2, 'timeout', 'late')] })), 1)
  t.is(exitCodeOf(jobView({ state: 'done', layers: [done(1)], images: [{ reference: 'r/a:v1', layers: 1 }, { reference: 'r/b:v1', layers: 0, error: { reason: 'unauthorized', message: '401' } }] })), 1)
  t.is(exitCodeOf(jobView({ state: 'failed', layers: [], error: { reason: 'failed', message: 'no agent in scope' } })), 1)
  t.is(exitCodeOf(jobView({ state: 'cancelled', layers: [done(1)] })), 1)
})

test('the summary: totals, then each failed image and layer with its reason and message', t => {
  const view = jobView({
    state: 'done',
    finishedAt: FINISHED,
    layers: [done(1), failed(2, 'unauthorized', 'the origin refused the agent\'s credentials (401)'), failed(3, 'timeout', 'the deadline passed before it was done')],
    images: [
      { reference: 'registry.example:5000/team/app:v1', layers: 3 },
      { reference: 'registry.example:5000/team/gone:v9', layers: 0, error: { reason: 'not-found', message: 'manifest unknown' } }
    ]
  })
  t.deepEqual(summaryLines(view, 0), [
    'prefetch job-1: done after 2:03: 2 images, 3 layers (2.9 KiB) on 1 agent: 1 done, 2 failed, 1020 B fetched',
    '3 failures:',
    '  image registry.example:5000/team/gone:v9 failed: not-found: manifest unknown',
    '  layer sha256:000000000000 of registry.example:5000/team/app failed on agent-a: unauthorized: the origin refused the agent\'s credentials (401)',
    '  layer sha256:000000000000 of registry.example:5000/team/app failed on agent-a: timeout: the deadline passed before it was done'
  ])
  t.deepEqual(summaryLines(jobView({ state: 'failed', finishedAt: FINISHED, layers: [], agents: [], images: [], error: { reason: 'failed', message: 'no agent in site edge-9' } }), 0), [
    'prefetch job-1: failed after 2:03: 0 images, 0 layers (0 B) on 0 agents: 0 done, 0 failed, 0 B fetched',
    '1 failure:',
    '  job job-1 failed: failed: no agent in site edge-9'
  ])
})

test('--json: the job as the scheduler shows it, the failures and the exit status', t => {
  const view = jobView({ state: 'done', finishedAt: FINISHED, layers: [done(1), failed(2, 'not-found', 'blob unknown')] })
  const summary = jsonSummary(view)
  t.false(summary.ok)
  t.is(summary.exitCode, 1)
  t.is(summary.job, view)
  t.deepEqual(summary.failures, [{ kind: 'layer', digest: digestOf(2), repository: 'team/app', registry: 'registry.example:5000', agent: 'agent-a', error: { reason: 'not-found', message: 'blob unknown' } }])
  const clean = JSON.parse(JSON.stringify(jsonSummary(jobView({ state: 'done', layers: [done(1)] })))) as { ok: boolean, failures: unknown[] }
  t.true(clean.ok)
  t.deepEqual(clean.failures, [])
  t.is(jsonSummary(jobView({ state: 'cancelled', layers: [] }), 130).exitCode, 130)
})
