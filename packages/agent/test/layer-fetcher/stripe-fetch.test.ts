import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture } from '../../../../test/fixtures/index.ts'
import { cidOfDigest, digestOf, ORIGIN_RUN_BYTES, parseCid, pieceSpan, stripeBytes, stripePieces } from '@shoal/proto'
import type { Digest, PieceStripe, PieceTable } from '@shoal/proto'
import type { PeerId } from '@libp2p/interface'
import { LayerFetcher } from '../../src/layer-fetcher/index.ts'
import type { PeerNetwork } from '../../src/layer-fetcher/index.ts'
import type { SchedulerClient } from '../../src/scheduler-client/client.ts'
import { registryOrigin } from '../helpers/origin.ts'
import type { TestOrigin } from '../helpers/origin.ts'
import { openStore } from '../helpers/store.ts'
import { peerIds } from './piece-book-helpers.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024

/** Blob bytes the origin sent through its counting proxy. */
function originBytes (proxy: { counts: { requests: Array<{ method: string, status: number, bytes: number }> } } | undefined): number {
  return (proxy?.counts.requests ?? []).filter(r => r.method === 'GET' && (r.status === 200 || r.status === 206)).reduce((sum, r) => sum + r.bytes, 0)
}

/** A scheduler client whose one session records what the agent tells it. */
function recordingScheduler (): { scheduler: Pick<SchedulerClient, 'sessionFor'>, told: { announced: Array<{ digest: Digest, pieces: number, wantsPieces: boolean }>, tables: PieceTable[] } } {
  const told = { announced: [] as Array<{ digest: Digest, pieces: number, wantsPieces: boolean }>, tables: [] as PieceTable[] }
  const session = {
    closed: false,
    announce: (task: { digest: Digest, bitfield: { count: () => number }, wantsPieces: boolean }) => { told.announced.push({ digest: task.digest, pieces: task.bitfield.count(), wantsPieces: task.wantsPieces }) },
    pieceTable: (table: PieceTable) => { told.tables.push(table) }
  }
  return { scheduler: { sessionFor: () => session as never }, told }
}

/** A peer network with nobody connected; DHT announcements now go to `announced`, those for a quiet moment to `later`. */
function alone (self: PeerId, announced: Digest[], later: Digest[] = []): PeerNetwork {
  const none = async (): Promise<never> => { throw new Error('no peer') }
  return { self, connected: () => [], findProviders: async () => [], announce: async digest => { announced.push(digest) }, announceLater: digest => { later.push(digest) }, rememberAddresses: () => {}, client: { piece: none, pieceTable: none, bitfield: none } }
}

test('a stripe is read from the origin a run of pieces per request and stored: only its pieces, each under its own CID; the scheduler is told, the DHT once the site is quiet', async t => {
  const layer = layerFixture({ size: 15 * PIECE + 100, seed: 31 })
  const store = await openStore(t)
  const { upstream, req, proxy } = await registryOrigin(t, layer, 'pass')
  proxy?.reset()
  const [self] = await peerIds(1)
  const dht: Digest[] = []
  const later: Digest[] = []
  const { scheduler, told } = recordingScheduler()
  const fetcher = new LayerFetcher({ store, upstream, peers: alone(self!, dht, later), scheduler: scheduler as SchedulerClient })
  t.teardown(async () => { await fetcher.stop() })
  const stripe = { index: 1, count: 3 }
  const progress: number[] = []
  const requested: string[] = []
  fetcher.events.on('blob-requested', r => { requested.push(r.digest) })
  const bytes = await fetcher.fetchStripe(req, { size: layer.byteLength, stripe, signal: AbortSignal.timeout(20_000), onBytes: b => { progress.push(b) } })
  t.deepEqual(requested, [req.digest], 'told as a request for the blob: the share policy learns where it lives')

  const wanted = stripePieces(layer.byteLength, stripe)
  // 16 pieces: 8 runs of 2 (ORIGIN_MIN_RUNS), dealt to the 3 stripes in turn; the second has runs 1, 4 and 7.
  t.deepEqual(wanted, [2, 3, 8, 9, 14, 15])
  const ranges = proxy!.counts.requests.filter(r => r.range != null).map(r => r.range).sort()
  t.deepEqual(ranges, [`bytes=${14 * PIECE}-${layer.byteLength - 1}`, `bytes=${2 * PIECE}-${4 * PIECE - 1}`, `bytes=${8 * PIECE}-${10 * PIECE - 1}`].sort(), 'one request per run')
  t.is(bytes, stripeBytes(layer.byteLength, stripe))
  t.is(progress.at(-1), bytes, 'progress ends at the stripe\'s bytes')
  t.is(originBytes(proxy), bytes, 'the origin sent the stripe\'s pieces and nothing else')
  const record = store.get(req.digest)
  t.is(record?.state, 'partial')
  for (let i = 0; i < (record?.pieces.length ?? 0); i++) {
    const span = pieceSpan(layer.byteLength, i)
    const expected = wanted.includes(i) ? cidOfDigest(digestOf(layer.subarray(span.offset, span.offset + span.length))).toString() : null
    t.is(record?.pieces[i], expected, `piece ${i}`)
  }
  t.false(store.isPinned(req.digest), 'the partial file is closed')
  t.deepEqual(dht, [], 'not announced in the DHT now: its scheduler tells the others')
  t.deepEqual(later, [req.digest])
  t.deepEqual(told.announced, [{ digest: req.digest, pieces: 6, wantsPieces: false }])
  t.deepEqual(told.tables[0]?.pieces.map((cid, i) => cid == null ? null : `${i}:${parseCid(cid.toString()).toString()}`).filter(x => x != null), wanted.map(i => `${i}:${record?.pieces[i] ?? ''}`))

  // Asked again (the scheduler repeats orders after a reconnect): nothing more from the origin.
  proxy?.reset()
  t.is(await fetcher.fetchStripe(req, { size: layer.byteLength, stripe, signal: AbortSignal.timeout(20_000) }), bytes)
  t.is(originBytes(proxy), 0)
})

test('a stripe of a blob held whole counts at once; without origin fallback a stripe fails with NoPeerSourceError and stores nothing', async t => {
  const layer = layerFixture({ size: 3 * PIECE, seed: 32 })
  const { upstream, req, proxy } = await registryOrigin(t, layer, 'pass')
  const whole = await openStore(t)
  const fetcher = new LayerFetcher({ store: whole, upstream })
  t.teardown(async () => { await fetcher.stop() })
  await fetcher.open(req)
  await fetcher.settled()
  proxy?.reset()
  t.is(await fetcher.fetchStripe(req, { size: layer.byteLength, stripe: { index: 0, count: 2 }, signal: AbortSignal.timeout(20_000) }), stripeBytes(layer.byteLength, { index: 0, count: 2 }))
  t.is(originBytes(proxy), 0)

  const empty = await openStore(t)
  const strict = new LayerFetcher({ store: empty, upstream }, { originFallback: false })
  t.teardown(async () => { await strict.stop() })
  const error = await t.throwsAsync(strict.fetchStripe(req, { size: layer.byteLength, stripe: { index: 0, count: 2 }, signal: AbortSignal.timeout(20_000) }))
  t.is(error?.name, 'NoPeerSourceError')
  t.is(empty.get(req.digest), undefined)
})

test('a stripe of a blob the share policy keeps from peers is refused (StripeKeptPrivateError): nothing read, stored or announced', async t => {
  const layer = layerFixture({ size: 3 * PIECE, seed: 33 })
  const store = await openStore(t)
  const { upstream, req, proxy } = await registryOrigin(t, layer, 'pass')
  proxy?.reset()
  const [self] = await peerIds(1)
  const dht: Digest[] = []
  const asked: Digest[] = []
  const { scheduler, told } = recordingScheduler()
  const peers = { ...alone(self!, dht), shares: async (blob: { digest: Digest }) => { asked.push(blob.digest); return false } }
  const fetcher = new LayerFetcher({ store, upstream, peers, scheduler: scheduler as SchedulerClient })
  t.teardown(async () => { await fetcher.stop() })
  const error = await t.throwsAsync(fetcher.fetchStripe(req, { size: layer.byteLength, stripe: { index: 0, count: 2 }, signal: AbortSignal.timeout(20_000) }))
  t.is(error?.name, 'StripeKeptPrivateError')
  t.deepEqual(asked, [req.digest])
  t.is(originBytes(proxy), 0)
  t.is(store.get(req.digest), undefined)
  t.deepEqual(dht, [])
  t.deepEqual(told.announced, [])
})

/** A stripe of an 8-piece layer read from an origin slowed to 4 pieces a second: slow enough for a client's request to come while it is under way. */
async function slowStripe (t: ExecutionContext, seed: number, stripe: PieceStripe): Promise<TestOrigin & { layer: Buffer, store: Awaited<ReturnType<typeof openStore>>, fetcher: LayerFetcher, striping: Promise<number> }> {
  const layer = layerFixture({ size: 8 * PIECE, seed })
  const store = await openStore(t)
  const origin = await registryOrigin(t, layer, 'pass')
  origin.proxy!.bytesPerSecond = 4 * PIECE
  const fetcher = new LayerFetcher({ store, upstream: origin.upstream })
  t.teardown(async () => { await fetcher.stop() })
  const striping = fetcher.fetchStripe(origin.req, { size: layer.byteLength, stripe, signal: AbortSignal.timeout(30_000) })
  return { ...origin, layer, store, fetcher, striping }
}

test('a client\'s download of the blob that starts during a stripe shares its partial file and completes it; the stripe then counts as held', async t => {
  const stripe = { index: 0, count: 2 }
  const { layer, store, req, fetcher, striping } = await slowStripe(t, 33, stripe)
  await new Promise(resolve => setTimeout(resolve, 300))
  const handle = await fetcher.open(req)
  t.is(handle.kind, 'download')
  await fetcher.settled()
  t.is(store.get(req.digest)?.state, 'complete', 'the client\'s download completed the blob')
  t.is(await striping, stripeBytes(layer.byteLength, stripe))
  t.true(await store.verify(req.digest), 'the stored blob is whole and right')
})

test('a request for the blob that ends without a download (the origin refuses it) closes the shared partial file: the stripe goes on in a new one', async t => {
  const { layer, store, req, proxy, fetcher, striping } = await slowStripe(t, 34, { index: 0, count: 1 })
  await new Promise(resolve => setTimeout(resolve, 500))
  // The same digest under a repository the origin does not have: a 404, no download, and the partial is closed.
  t.is((await fetcher.open({ ...req, repository: 'team/missing' })).kind, 'upstream')
  t.is(await striping, layer.byteLength)
  t.true(store.get(req.digest)?.pieces.every(cid => cid != null), 'every piece of the stripe is held')
  // Two requests under way at most (one, and the next near its end), each a run of up to 1 MiB.
  t.true(originBytes(proxy) <= layer.byteLength + 2 * ORIGIN_RUN_BYTES, 'at most the pieces under way when the file closed are read again')
})

test('two stripes of one blob on one agent (a moved stripe) are held one after the other: both whole, each piece read once', async t => {
  const layer = layerFixture({ size: 5 * PIECE + 7, seed: 35 })
  const store = await openStore(t)
  const { upstream, req, proxy } = await registryOrigin(t, layer, 'pass')
  proxy!.bytesPerSecond = 8 * PIECE
  proxy?.reset()
  const fetcher = new LayerFetcher({ store, upstream })
  t.teardown(async () => { await fetcher.stop() })
  const signal = AbortSignal.timeout(20_000)
  const [a, b] = await Promise.all([0, 1].map(async index => fetcher.fetchStripe(req, { size: layer.byteLength, stripe: { index, count: 2 }, signal })))
  t.is((a ?? 0) + (b ?? 0), layer.byteLength)
  t.true(store.get(req.digest)?.pieces.every(cid => cid != null))
  t.is(originBytes(proxy), layer.byteLength)
  t.false(store.isPinned(req.digest), 'the partial file is closed')
})

test('a stripe fetched with no scheduler is announced in the DHT at once', async t => {
  const layer = layerFixture({ size: 15 * PIECE + 100, seed: 33 })
  const store = await openStore(t)
  const { upstream, req } = await registryOrigin(t, layer)
  const [self] = await peerIds(1)
  const dht: Digest[] = []
  const later: Digest[] = []
  const fetcher = new LayerFetcher({ store, upstream, peers: alone(self!, dht, later) })
  t.teardown(async () => { await fetcher.stop() })
  const bytes = await fetcher.fetchStripe(req, { size: layer.byteLength, stripe: { index: 0, count: 3 }, signal: AbortSignal.timeout(20_000) })
  t.is(bytes, stripeBytes(layer.byteLength, { index: 0, count: 3 }))
  t.deepEqual(dht, [req.digest])
  t.deepEqual(later, [])
})
