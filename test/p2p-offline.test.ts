import test from 'ava'
import { parseDigest } from '@shoal/proto'
import { fetchBody } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'

const ALICE = { username: 'alice', password: 'wonderland' }
const BASIC_ALICE = { authorization: `Basic ${Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64')}` }

test('origin unreachable: a client the origin said yes to recently still gets a private blob from peers; a stranger gets 503', async t => {
  const cluster = await setupCluster(t, ALICE)
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  const holder = await startPeer(t, cluster)
  t.is(sha256(await pullBlob(holder, digest, BASIC_ALICE)), sha256(layer))
  const edge = await startPeer(t, cluster, { bootstrap: holder })
  // alice reads the image's manifest through the edge agent while the origin is up: its yes.
  const manifest = await fetchBody(`${edge.url}/v2/lib/p2p/manifests/v1`, { headers: { ...BASIC_ALICE, accept: cluster.image.mediaType } })
  t.is(manifest.status, 200)

  cluster.origin.mode = 'down'
  const stranger = await fetchBody(`${edge.url}/v2/lib/p2p/blobs/${digest}`)
  t.is(stranger.status, 503, 'no yes from the origin, no bytes from the peers')
  t.is(sha256(await pullBlob(edge, digest, BASIC_ALICE)), sha256(layer))
  const metrics = await scrapeMetrics(edge.url)
  t.is(metrics.value('shoal_agent_blob_received_bytes_total', { source: 'peer' }), layer.byteLength)
  t.is(metrics.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), 0)
})

test('--no-origin-fallback: a blob a peer holds comes from it; one no peer holds is a 503 and the origin sends no blob bytes', async t => {
  const cluster = await setupCluster(t)
  const [held, unheld] = cluster.digests as [string, string]
  const holder = await startPeer(t, cluster)
  t.is(sha256(await pullBlob(holder, held)), sha256(cluster.layers[0] as Buffer))
  const strict = await startPeer(t, cluster, { bootstrap: holder, args: ['--no-origin-fallback'] })
  cluster.origin.reset()
  t.is(sha256(await pullBlob(strict, held)), sha256(cluster.layers[0] as Buffer))
  const refused = await fetchBody(`${strict.url}/v2/lib/p2p/blobs/${unheld}`)
  t.is(refused.status, 503)
  t.regex(refused.body.toString(), /no peer holds .* origin fallback is off/)
  t.false(strict.agent.store.isPinned(parseDigest(unheld)), 'the partial its claim opened was closed: nothing holds the blob')
  t.is(cluster.origin.blobGets(), 0, 'no blob GET reached the origin (HEADs for the access check only)')
  t.is((await scrapeMetrics(strict.url)).value('shoal_agent_blob_received_bytes_total', { source: 'origin' }), 0)
})
