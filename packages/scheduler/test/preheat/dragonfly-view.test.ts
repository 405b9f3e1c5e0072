import test from 'ava'
import type { JobView } from '../../src/index.ts'
import { dragonflyId, dragonflyState, failureText, jobIdOf, openApiJob, supernodeStatus } from '../../src/preheat/dragonfly-view.ts'

const digest = `sha256:${'12'.repeat(32)}`

function view (state: JobView['state'], extra: Partial<JobView> = {}): JobView {
  return {
    id: '0a1b2c3d4e5f', state, scope: 'site:edge', replicas: 1, spread: 'pieces', createdAt: '2026-12-05T10:00:00.000Z', finishedAt: state === 'done' || state === 'failed' ? '2026-12-05T10:01:00.000Z' : undefined,
    images: [{ reference: 'h.example/lib/app:1', layers: 2 }],
    layers: [
      { digest, size: 10, registry: 'h.example', repository: 'lib/app', targets: [{ agent: 'A', state: 'done', bytes: 10, size: 10 }] },
      { digest: `sha256:${'34'.repeat(32)}`, size: 5, registry: 'h.example', repository: 'lib/app', targets: [{ agent: 'B', state: state === 'failed' ? 'failed' : 'fetching', bytes: 0, size: 5, error: state === 'failed' ? { reason: 'unauthorized', message: 'refused' } : undefined }] }
    ],
    agents: [],
    totals: { layers: 2, layersDone: 1, layersFailed: 0, bytes: 15, bytesDone: 10 },
    ...extra
  }
}

test('a job id is its Dragonfly number and back; other ids have none', t => {
  t.is(dragonflyId('0a1b2c3d4e5f'), 0x0a1b2c3d4e5f)
  t.is(jobIdOf(String(0x0a1b2c3d4e5f)), '0a1b2c3d4e5f')
  t.is(jobIdOf('1'), '000000000001')
  t.is(dragonflyId('not-hex-id'), undefined)
  for (const bad of ['-1', '1e3', '0x10', String(2 ** 48), '']) t.is(jobIdOf(bad), undefined, bad)
})

test('only PENDING, SUCCESS and FAILURE reach Harbor', t => {
  t.deepEqual((['resolving', 'running', 'done', 'failed', 'cancelled'] as const).map(s => dragonflyState(view(s))), ['PENDING', 'PENDING', 'SUCCESS', 'FAILURE', 'FAILURE'])
})

test('the open API job: per-copy success and failure tasks with the agent\'s host, the error only on FAILURE', t => {
  const hosts = (agent: string): { hostname: string, ip: string } => ({ hostname: `host-${agent}`, ip: agent === 'A' ? '10.0.0.1' : '10.0.0.2' })
  const running = openApiJob(view('running'), hosts)
  t.is(running.id, 0x0a1b2c3d4e5f)
  t.is(running.state, 'PENDING')
  t.is(running.updated_at, running.created_at)
  t.deepEqual(running.result.job_states[0]?.results[0]?.success_tasks, [{ url: `h.example/v2/lib/app/blobs/${digest}`, hostname: 'host-A', ip: '10.0.0.1' }])
  t.deepEqual(running.result.job_states[0]?.results[0]?.failure_tasks, [], 'a copy under way is in neither list')
  t.is(running.result.job_states[0]?.error, '')
  const failed = openApiJob(view('failed'), hosts)
  t.is(failed.updated_at, '2026-12-05T10:01:00.000Z')
  t.is(failed.result.job_states[0]?.results[0]?.failure_tasks[0]?.description, 'unauthorized: refused')
  t.regex(failed.result.job_states[0]?.error ?? '', /1 blob copy failed.*unauthorized: refused/)
})

test('Dragonfly 1\'s status: WAITING, RUNNING, SUCCESS, FAILED with the reason', t => {
  t.deepEqual((['resolving', 'running', 'done', 'failed'] as const).map(s => supernodeStatus(view(s)).status), ['WAITING', 'RUNNING', 'SUCCESS', 'FAILED'])
  const failed = supernodeStatus(view('failed', { layers: [], images: [{ reference: 'h.example/lib/app:1', layers: 0, error: { reason: 'not-found', message: 'no such tag' } }] }))
  t.is(failed.ID, String(0x0a1b2c3d4e5f))
  t.is(failed.errorMsg, 'h.example/lib/app:1: not-found: no such tag')
  t.is(failureText(view('cancelled', { layers: [] })), 'the job ended cancelled')
})
