import test from 'ava'
import { layerFixture, pushImage, startRegistry } from '../../../../test/fixtures/index.ts'
import type { Digest } from '@shoal/proto'
import { parseUpstream } from '../../src/config/index.ts'
import { LayerFetcher } from '../../src/layer-fetcher/index.ts'
import type { BlobPlanKind, OriginReason, PeerNetwork } from '../../src/layer-fetcher/index.ts'
import { UpstreamClient } from '../../src/upstream/client.ts'
import { openStore } from '../helpers/store.ts'
import { peerIds } from './piece-book-helpers.ts'

const MiB = 1024 * 1024

async function origin (t: Parameters<typeof openStore>[0]): Promise<{ upstream: UpstreamClient, req: { registry: ReturnType<typeof parseUpstream>, repository: string, digest: Digest } }> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 3 * MiB, seed: 11 })] })
  const upstream = new UpstreamClient({ credentials: new Map(), certsDir: '/nonexistent' })
  t.teardown(async () => { await upstream.stop() })
  const registryConfig = parseUpstream('upstreams[0]', registry.url, [new URL(registry.url).host])
  return { upstream, req: { registry: registryConfig, repository: 'team/app', digest: image.layers[0]!.digest as Digest } }
}

test('with no peer network the plan is the origin, said once with its reason, and the blob is complete and verified in the store', async t => {
  const store = await openStore(t)
  const { upstream, req } = await origin(t)
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

test('stopping the fetcher ends a plan still being chosen (a claim waiting for others), and the blob\'s partial is closed', async t => {
  const store = await openStore(t)
  const { upstream, req } = await origin(t)
  const [self, other] = await peerIds(2)
  let announced = 0
  // A peer network with a connected peer and no provider for the blob: the agent claims it and waits the settle time.
  const peers: PeerNetwork = {
    self: self!,
    connected: () => [other!],
    findProviders: async () => [],
    announce: async () => { announced++ },
    rememberAddresses: () => {},
    client: {
      pieceTable: async () => { throw new Error('no peer') },
      bitfield: async () => { throw new Error('no peer') },
      piece: async () => { throw new Error('no peer') }
    }
  }
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
