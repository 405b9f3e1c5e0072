import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { spawnAgentProcess } from './helpers/agent-process.ts'
import { waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { LOOPBACK, pullBlob, setupCluster, sha256, startPeer } from './helpers/p2p-cluster.ts'

/** The holder sends pieces at this pace, so that it dies with most of the blob still to send. */
const HOLDER_UPLOAD_LIMIT = 2_000_000

test('the only peer holding a blob is killed with SIGKILL mid-transfer: both agents pulling from it finish with the right bytes', async t => {
  const cluster = await setupCluster(t)
  const digest = cluster.digests[0] as string
  const layer = cluster.layers[0] as Buffer
  const dataDir = await mkdtemp(join(tmpdir(), 'shoal-holder-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const holder = await spawnAgentProcess(t, {
    dataDir,
    upstreams: [cluster.origin.url],
    args: ['--p2p-listen', LOOPBACK, '--swarm-key', cluster.swarmKey, '--upload-limit', String(HOLDER_UPLOAD_LIMIT)]
  })
  t.is(sha256(await pullBlob(holder, digest)), sha256(layer))
  const bootstrap = ['--bootstrap', holder.p2pAddresses[0] ?? '']
  const pullers = await Promise.all([0, 1].map(async () => startPeer(t, cluster, { args: bootstrap })))

  const egressBefore = cluster.origin.egressBytes
  const pulls = pullers.map(async agent => pullBlob(agent, digest))
  for (const pull of pulls) pull.catch(() => {})
  // 2 MiB of the 6 MiB layer have come from the holder: it dies now, mid-transfer.
  await waitFor('pieces from the holder', async () => {
    const received = await Promise.all(pullers.map(async a => (await scrapeMetrics(a.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' })))
    return received.reduce((a, b) => a + b, 0) >= 2 * 1024 * 1024
  }, { timeoutMs: 20_000 })
  await holder.kill('SIGKILL')

  const bodies = await Promise.all(pulls)
  for (const [i, body] of bodies.entries()) t.is(sha256(body), sha256(layer), `puller ${i + 1}`)
  for (const agent of pullers) t.true(agent.agent.store.isComplete(digest as never))
  const fromOrigin = cluster.origin.egressBytes - egressBefore
  const fromPeers = (await Promise.all(pullers.map(async a => (await scrapeMetrics(a.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' })))).reduce((a, b) => a + b, 0)
  t.log(`after the kill: the origin sent ${fromOrigin} bytes, peers ${fromPeers}, for 2 x ${layer.byteLength}`)
  t.true(fromOrigin > 0, 'what the dead holder did not send came from the origin')
  t.true(fromPeers > 0)
  t.is(fromOrigin + fromPeers, 2 * layer.byteLength, 'every byte arrived once, from one source')
  // Each client's bytes are counted by where its agent got them: the pieces the dead holder did not
  // send were read from the origin, and count as origin although the download took the peer path.
  for (const [i, agent] of pullers.entries()) {
    const m = await scrapeMetrics(agent.url)
    for (const source of ['origin', 'peer']) {
      t.is(m.value('shoal_agent_served_bytes_total', { source }), m.value('shoal_agent_blob_received_bytes_total', { source }), `puller ${i + 1}: ${source} bytes served as received`)
    }
    t.is(m.value('shoal_agent_served_bytes_total', { source: 'origin' }) + m.value('shoal_agent_served_bytes_total', { source: 'peer' }), layer.byteLength)
  }
})
