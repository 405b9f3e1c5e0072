import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { parseJobId, pieceCountFor } from '@shoal/proto'
import type { ParsedPrefetchBlob, PieceStripe, SchedulerMessage } from '@shoal/proto'
import { JobStore, parseJobRequest, PrefetchJobs, SchedulerService } from '../../src/index.ts'
import type { PeerKey } from '../../src/types.ts'
import { bits, peer, taskDigest } from '../helpers.ts'

const PIECE = 256 * 1024

/** A site of three agents, each with its inbox, and a job of one layer of 3 pieces, resolved. */
async function siteJob (t: ExecutionContext, opts: { heldWholeBy?: number } = {}): Promise<{ service: SchedulerService, jobs: PrefetchJobs, id: string, inbox: Map<PeerKey, SchedulerMessage[]>, ids: PeerKey[], blob: ParsedPrefetchBlob }> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-prefetch-stripes-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const service = new SchedulerService()
  const inbox = new Map<PeerKey, SchedulerMessage[]>()
  const agents = [1, 2, 3].map(n => peer(n, { site: 'edge' }))
  for (const agent of agents) {
    inbox.set(agent.id, [])
    service.connect(agent.id, { info: agent, peerIdBytes: new Uint8Array(0), addresses: [], hostName: `edge-${agent.id.slice(-4)}` }, { send: m => { inbox.get(agent.id)?.push(m) } })
  }
  const jobs = new PrefetchJobs({ service, store: new JobStore(join(dir, 'jobs')) }, { tickMs: 3_600_000 })
  await jobs.start()
  t.teardown(async () => { await jobs.stop() })
  const { id } = await jobs.create(parseJobRequest({ images: [{ reference: 'harbor.lan/lib/app:1' }], scope: 'site:edge' }))
  const blob: ParsedPrefetchBlob = { registry: 'harbor.lan', repository: 'lib/app', digest: taskDigest(1), size: 16 * PIECE + 5 }
  const holder = opts.heldWholeBy == null ? undefined : agents[opts.heldWholeBy]
  // An agent that pulled the blob before the job tells the scheduler it holds it, as every holder does.
  if (holder != null) service.handle(holder.id, { kind: 'announceTask', digest: blob.digest, size: blob.size, bitfield: bits(pieceCountFor(blob.size), Array.from({ length: pieceCountFor(blob.size) }, (_, i) => i)), wantsPieces: false })
  const resolver = [...inbox].find(([, messages]) => messages.some(m => m.prefetch?.images.length === 1))?.[0] as PeerKey
  jobs.prefetch(resolver, { kind: 'prefetchResolved', job: parseJobId(id), images: [{ reference: 'harbor.lan/lib/app:1', blobs: [blob] }] })
  return { service, jobs, id, inbox, ids: agents.map(a => a.id).sort(), blob }
}

/** The stripes ordered from an agent so far. */
function stripesOrdered (messages: SchedulerMessage[]): Array<PieceStripe | undefined> {
  return messages.flatMap(m => m.prefetch?.blobs ?? []).map(b => b.stripes === 0 ? undefined : { index: b.stripe, count: b.stripes })
}

test('placed by pieces, each agent of the site is ordered one stripe; progress of a stripe counts its bytes, and the job is done when every stripe is', async t => {
  const { jobs, id, inbox, ids, blob } = await siteJob(t)
  const ordered = ids.map(agent => stripesOrdered(inbox.get(agent) ?? []))
  t.deepEqual(ordered.map(s => s.length), [1, 1, 1])
  t.deepEqual(ordered.flat().map(s => s?.index).sort(), [0, 1, 2])
  t.true(ordered.flat().every(s => s?.count === 3))
  const view = jobs.view(id)
  t.is(view.spread, 'pieces')
  t.deepEqual(view.layers[0]?.targets.map(x => x.size).sort((a, b) => a - b), [4 * PIECE + 5, 6 * PIECE, 6 * PIECE], '17 pieces: 9 runs of 2 (the last one piece of 5 bytes), 3 to a stripe')
  for (const [i, agent] of ids.entries()) {
    const stripe = ordered[i]?.[0]
    jobs.prefetch(agent, { kind: 'prefetchProgress', job: parseJobId(id), blobs: [{ digest: blob.digest, state: 'done', bytes: 0, stripe }] })
  }
  const done = jobs.view(id)
  t.is(done.state, 'done')
  t.is(done.totals.bytesDone, blob.size)
})

test('a stripe whose agent leaves goes to an agent of the site that holds another stripe; that agent then reports both, told apart by stripe', async t => {
  const { service, jobs, id, inbox, ids, blob } = await siteJob(t)
  const [first, leaving, third] = ids as [PeerKey, PeerKey, PeerKey]
  const moved = stripesOrdered(inbox.get(leaving) ?? [])[0]
  service.disconnect(leaving)
  jobs.tick()
  const takers = [first, third].filter(agent => stripesOrdered(inbox.get(agent) ?? []).length === 2)
  t.is(takers.length, 1, 'one agent of the site took the stripe')
  const taker = takers[0] as PeerKey
  const own = stripesOrdered(inbox.get(taker) ?? [])[0]
  t.deepEqual(stripesOrdered(inbox.get(taker) ?? [])[1], moved)
  t.deepEqual(jobs.view(id).layers[0]?.targets.filter(x => x.agent === taker).map(x => x.stripe), [own, moved])

  // The taker's own stripe is done; the moved one still fetching: the job is not done.
  jobs.prefetch(taker, { kind: 'prefetchProgress', job: parseJobId(id), blobs: [{ digest: blob.digest, state: 'done', bytes: 0, stripe: own }, { digest: blob.digest, state: 'fetching', bytes: 3, stripe: moved }] })
  const other = taker === first ? third : first
  jobs.prefetch(other, { kind: 'prefetchProgress', job: parseJobId(id), blobs: [{ digest: blob.digest, state: 'done', bytes: 0, stripe: stripesOrdered(inbox.get(other) ?? [])[0] }] })
  const mid = jobs.view(id)
  t.is(mid.state, 'running')
  t.deepEqual(mid.layers[0]?.targets.filter(x => x.agent === taker).map(x => x.state), ['done', 'fetching'])
  const ownBytes = mid.layers[0]?.targets.find(x => x.agent === taker && x.state === 'done')?.size ?? Number.NaN
  t.like(mid.agents.find(a => a.agent === taker), { layers: 1, done: 0, failed: 0, bytes: ownBytes + 3 }, 'one layer for the agent, not done while a stripe of it is not')
  jobs.prefetch(taker, { kind: 'prefetchProgress', job: parseJobId(id), blobs: [{ digest: blob.digest, state: 'done', bytes: 0, stripe: moved }] })
  t.is(jobs.view(id).state, 'done')
})

test('placed by pieces, a blob an agent of the site holds whole already stays whole with it: no stripe is read from the origin again', async t => {
  const { jobs, id, inbox, ids } = await siteJob(t, { heldWholeBy: 1 })
  const holder = jobs.view(id).layers[0]?.targets
  t.is(holder?.length, 1)
  t.is(holder?.[0]?.stripe, undefined)
  const ordered = ids.map(agent => stripesOrdered(inbox.get(agent) ?? []))
  t.deepEqual(ordered.map(s => s.length).sort(), [0, 0, 1], 'one order, of the whole blob, to its holder')
  t.deepEqual(ordered.flat(), [undefined])
})
