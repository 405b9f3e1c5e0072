import test from 'ava'
import { LocalJob } from '../src/prefetch/local-job.ts'
import { exitCodeOf } from '../src/prefetch/display/summary.ts'
import { digestOf } from './prefetch-views.ts'
import type { PrefetchLayer, ResolvedImage } from '../src/prefetch/shared-types.ts'

const AGENT = 'http://127.0.0.1:65001'

function layer (n: number, size: number, repository = 'team/app'): PrefetchLayer {
  return { registry: 'reg.example', repository, digest: digestOf(n) as PrefetchLayer['digest'], size }
}

test('an --agent run as a JobView: layers once across images, bytes as running totals, one agent', t => {
  const job = new LocalJob({ id: 'local-1', agent: AGENT, createdAt: new Date('2025-01-01T00:00:00Z') })
  t.like(job.view(), { id: 'local-1', state: 'resolving', scope: `agent:${AGENT}`, layers: [], totals: { layers: 0, bytes: 0 } })
  const images: ResolvedImage[] = [
    { reference: 'reg.example/team/app:v1', manifestDigest: digestOf(100) as ResolvedImage['manifestDigest'], layers: [layer(1, 100), layer(2, 50)] },
    { reference: 'reg.example/team/web:v1', layers: [layer(2, 50, 'team/web'), layer(3, 10, 'team/web')] },
    { reference: 'reg.example/team/gone:v1', layers: [], error: { reason: 'not-found', message: 'manifest unknown' } }
  ]
  const toFetch = job.resolved(images)
  t.deepEqual(toFetch.map(l => [l.digest, l.repository]), [[digestOf(1), 'team/app'], [digestOf(2), 'team/app'], [digestOf(3), 'team/web']])

  job.started(digestOf(1))
  job.bytes(digestOf(1), 40)
  job.bytes(digestOf(1), 70)
  job.bytes(digestOf(1), 60) // a late report never goes back
  let view = job.view()
  t.is(view.state, 'running')
  t.deepEqual(view.images.map(i => [i.reference, i.layers, i.error?.reason]), [['reg.example/team/app:v1', 2, undefined], ['reg.example/team/web:v1', 2, undefined], ['reg.example/team/gone:v1', 0, 'not-found']])
  t.deepEqual(view.layers[0]?.targets, [{ agent: AGENT, state: 'fetching', bytes: 70, size: 100 }])
  t.deepEqual(view.totals, { layers: 3, layersDone: 0, layersFailed: 0, bytes: 160, bytesDone: 70 })

  job.done({ digest: digestOf(1) as PrefetchLayer['digest'], bytes: 100 })
  job.done({ digest: digestOf(2) as PrefetchLayer['digest'], bytes: 5, error: { reason: 'unauthorized', message: '401 from the origin' } })
  view = job.view()
  t.deepEqual(view.totals, { layers: 3, layersDone: 1, layersFailed: 1, bytes: 160, bytesDone: 105 })
  t.deepEqual(view.agents, [{ agent: AGENT, layers: 3, done: 1, failed: 1, bytes: 105 }])

  // the deadline: the open layer fails with the reason given; the snapshot taken before does not change
  job.finish({ state: 'failed', error: { reason: 'timeout', message: 'late' }, openLayers: { reason: 'timeout', message: 'late' }, at: new Date('2025-01-01T00:01:00Z') })
  const last = job.view()
  t.is(view.state, 'running')
  t.like(last, { state: 'failed', finishedAt: '2025-01-01T00:01:00.000Z', error: { reason: 'timeout', message: 'late' } })
  t.deepEqual(last.layers[2]?.targets, [{ agent: AGENT, state: 'failed', bytes: 0, size: 10, error: { reason: 'timeout', message: 'late' } }])
  t.is(exitCodeOf(last), 1)
})

test('a clean run ends done with exit status 0', t => {
  const job = new LocalJob({ id: 'local-2', agent: AGENT, createdAt: new Date() })
  for (const l of job.resolved([{ reference: 'reg.example/team/app:v1', layers: [layer(1, 10), layer(2, 20)] }])) job.done({ digest: l.digest, bytes: l.size })
  job.finish({ state: 'done', at: new Date() })
  t.like(job.view(), { state: 'done', totals: { layers: 2, layersDone: 2, layersFailed: 0, bytes: 30, bytesDone: 30 } })
  t.is(exitCodeOf(job.view()), 0)
})
