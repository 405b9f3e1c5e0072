import test from 'ava'
import { layerFixture } from '../../../../test/fixtures/index.ts'
import { Bitfield, cidOfDigest, digestOf, pieceSizeFor, pieceSpan, Status } from '@shoal/proto'
import type { PieceTable } from '@shoal/proto'
import type { PeerId } from '@libp2p/interface'
import { claimShare } from '../../src/layer-fetcher/claim-share.ts'
import { PeerRefusedError } from '../../src/errors.ts'
import { LayerFetcher } from '../../src/layer-fetcher/index.ts'
import type { BlobPlanKind, OriginReason, PeerNetwork } from '../../src/layer-fetcher/index.ts'
import { registryOrigin } from '../helpers/origin.ts'
import { openStore } from '../helpers/store.ts'
import { peerIds } from './piece-book-helpers.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024

/** This agent and one other connected agent that no DHT record names (a claimer of a blob nobody holds yet), answering with `client`. */
function withOneOther (self: PeerId, other: PeerId, client: PeerNetwork['client'], onAnnounce: () => void = () => {}): PeerNetwork {
  return { self, connected: () => [other], findProviders: async () => [], announce: async () => { onAnnounce() }, rememberAddresses: () => {}, client }
}

test('with no peer network the plan is the origin, said once with its reason, and the blob is complete and verified in the store', async t => {
  const store = await openStore(t)
  const { upstream, req } = await registryOrigin(t)
  const plans: Array<{ plan: BlobPlanKind, why?: OriginReason }> = []
  const fetcher = new LayerFetcher({ store, upstream })
  fetcher.events.on('plan', e => { plans.push({ plan: e.plan, why: e.why }) })
  t.teardown(async () => { await fetcher.stop() })
  const [first, second] = await Promise.all([fetcher.open(req), fetcher.open(req)])
  t.is(first.kind, 'download')
  t.is(first, second, 'two requests for one digest share one download')
  await fetcher.settled()
  t.deepEqual(plans, [{ plan: 'origin', why: 'no-peer-network' }])
  t.is(store.get(req.digest)?.state, 'complete')
  t.is((await fetcher.open(req)).kind, 'complete')
})

test('a blob the share policy keeps here is neither claimed nor announced: with no provider it comes from the origin; a verdict that does not come in time counts as private', async t => {
  const store = await openStore(t)
  const { upstream, req } = await registryOrigin(t)
  const [self, other] = await peerIds(2)
  let announced = 0
  const none = async (): Promise<never> => { throw new Error('no peer') }
  // The anonymous HEAD never answers (SHARE_VERDICT_WAIT_MS, then private).
  const peers = { ...withOneOther(self!, other!, { pieceTable: none, bitfield: none, piece: none }, () => { announced++ }), shares: async () => new Promise<boolean>(() => {}) }
  const fetcher = new LayerFetcher({ store, upstream, peers }, { claimSettleMs: 10 })
  t.teardown(async () => { await fetcher.stop() })
  const plans: Array<{ plan: BlobPlanKind, why?: OriginReason }> = []
  fetcher.events.on('plan', e => { plans.push({ plan: e.plan, why: e.why }) })
  await fetcher.open(req)
  await fetcher.settled()
  t.deepEqual(plans, [{ plan: 'origin', why: 'kept-private' }])
  t.is(announced, 0, 'no claim: it would have announced the blob')
  t.is(store.get(req.digest)?.state, 'complete')
})

test('stopping the fetcher ends a plan still being chosen (a claim waiting for others), and the blob\'s partial is closed', async t => {
  const store = await openStore(t)
  const { upstream, req } = await registryOrigin(t)
  const [self, other] = await peerIds(2)
  let announced = 0
  // A peer network with a connected peer and no provider for the blob: the agent claims it and waits the settle time.
  const peers = withOneOther(self!, other!, {
    pieceTable: async () => { throw new Error('no peer') },
    bitfield: async () => { throw new Error('no peer') },
    piece: async () => { throw new Error('no peer') }
  }, () => { announced++ })
  const fetcher = new LayerFetcher({ store, upstream, peers }, { claimSettleMs: 60_000 })
  const opening = fetcher.open(req)
  while (announced === 0) await new Promise(resolve => setTimeout(resolve, 10))
  t.true(fetcher.fetching(req.digest))
  t.true(store.isPinned(req.digest), 'the claim holds the blob\'s partial open')
  const stoppedAt = performance.now()
  await fetcher.stop()
  const error = await t.throwsAsync(opening)
  t.is(error?.message, 'agent stopping')
  t.true(performance.now() - stoppedAt < 5_000, 'not after the 60 s settle time')
  t.false(fetcher.fetching(req.digest))
  t.false(store.isPinned(req.digest), 'the partial was closed: it pins the blob no more')
})

test('a claimer that finds another claimer already holding a piece still reads its own share from the origin, and the rest from that claimer', async t => {
  const layer = layerFixture({ size: 6 * PIECE, seed: 12 })
  const store = await openStore(t)
  const { upstream, req } = await registryOrigin(t, layer)
  const count = 6
  // Two claimers; the other one holds piece 0 already, and pieces 1 and 2 are its share (a stall
  // would send the pieces at the stream's head to the origin: here they are not this agent's).
  let self: PeerId, other: PeerId, selfShare: number[], otherShare: number[]
  do {
    [self, other] = await peerIds(2) as [PeerId, PeerId]
    selfShare = claimShare(req.digest, count, self, [other]).filter(i => i !== 0)
    otherShare = claimShare(req.digest, count, other, [self])
  } while (selfShare.length === 0 || !otherShare.includes(1) || !otherShare.includes(2))
  const pieceSize = pieceSizeFor(layer.byteLength)
  const bytesOf = (index: number): Uint8Array => {
    const span = pieceSpan(layer.byteLength, index)
    return layer.subarray(span.offset, span.offset + span.length)
  }
  // The other claimer holds piece 0, and its share only once this agent has read its own: an agent
  // that followed it instead of reading its share would wait, stall and read pieces of the other's share.
  let originBytes = 0
  const selfShareBytes = selfShare.reduce((sum, i) => sum + bytesOf(i).byteLength, 0)
  const held = (): number[] => originBytes >= selfShareBytes ? [...new Set([0, ...otherShare])] : [0]
  const peers = withOneOther(self, other, {
    pieceTable: async (): Promise<PieceTable> => {
      const now = new Set(held())
      return { digest: req.digest, size: layer.byteLength, pieceSize, pieces: Array.from({ length: count }, (_, i) => now.has(i) ? cidOfDigest(digestOf(bytesOf(i))) : undefined) }
    },
    bitfield: async () => {
      const bitfield = new Bitfield(count)
      for (const i of held()) bitfield.set(i)
      return { bitfield, complete: false }
    },
    piece: async (_peer, ref) => {
      if (!held().includes(ref.index)) throw new PeerRefusedError(Status.NOT_FOUND, 'not held')
      return [bytesOf(ref.index)]
    }
  })
  const fetcher = new LayerFetcher({ store, upstream, peers }, { claimSettleMs: 10 })
  t.teardown(async () => { await fetcher.stop() })
  const fromOrigin: number[] = []
  fetcher.events.on('upstream-bytes', bytes => { originBytes += bytes })
  fetcher.events.on('piece-fetched', e => { if (e.source === 'origin') fromOrigin.push(e.index) })
  const plans: BlobPlanKind[] = []
  fetcher.events.on('plan', e => { plans.push(e.plan) })
  const opened = await fetcher.open(req)
  t.is(opened.kind, 'download')
  await fetcher.settled()
  t.deepEqual(plans, ['claim'])
  t.is(store.get(req.digest)?.state, 'complete')
  t.deepEqual(fromOrigin.sort((a, b) => a - b), selfShare, 'the origin gave this agent\'s share, once each, and nothing else')
  t.is(originBytes, selfShareBytes)
})

test('a download from peers whose origin piece reads fail for good goes on from the origin as one stream: the client\'s download completes, said once', async t => {
  const layer = layerFixture({ size: 4 * PIECE, seed: 13 })
  const store = await openStore(t)
  // Every piece read (a bounded Range) ends short and cleanly: UpstreamProtocolError, a final error of the peer path.
  const { upstream, req, proxy } = await registryOrigin(t, layer, 'short-ranges')
  const [self, other] = await peerIds(2) as [PeerId, PeerId]
  // Another claimer, holding nothing yet: this agent reads its share from the origin, piece by piece.
  const peers = withOneOther(self, other, {
    pieceTable: async (): Promise<PieceTable> => ({ digest: req.digest, size: layer.byteLength, pieceSize: pieceSizeFor(layer.byteLength), pieces: Array.from({ length: 4 }, () => undefined) }),
    bitfield: async () => ({ bitfield: new Bitfield(4), complete: false }),
    piece: async () => { throw new PeerRefusedError(Status.NOT_FOUND, 'not held') }
  })
  const fetcher = new LayerFetcher({ store, upstream, peers }, { claimSettleMs: 10 })
  t.teardown(async () => { await fetcher.stop() })
  const fallbacks: Array<{ offset: number, error: string }> = []
  const plans: BlobPlanKind[] = []
  fetcher.events.on('plan', e => { plans.push(e.plan) })
  fetcher.events.on('peer-download-fallback', e => { fallbacks.push({ offset: e.offset, error: e.error }) })
  const opened = await fetcher.open(req)
  t.is(opened.kind, 'download')
  const download = opened.kind === 'download' ? opened.download : undefined
  await fetcher.settled()
  t.deepEqual(plans, ['claim'])
  t.is(download?.state, 'verified', download?.error?.message)
  t.is(store.get(req.digest)?.state, 'complete')
  t.is(fallbacks.length, 1)
  t.is(fallbacks[0]?.error, 'UpstreamProtocolError')
  const rest = proxy!.counts.requests.filter(r => r.method === 'GET' && r.path.includes('/blobs/') && !/^bytes=\d+-\d+$/.test(r.range ?? ''))
  t.is(rest.length, 1, 'the rest came as one stream')
  const offset = fallbacks[0]?.offset ?? -1
  t.is(rest[0]?.range, offset > 0 ? `bytes=${offset}-` : undefined, 'from the byte the peer path reached')
})
