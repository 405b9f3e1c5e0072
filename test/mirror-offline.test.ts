import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, skopeoCopy, startCountingProxy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import type { CountingProxy, OriginRegistry } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric } from './helpers/http.ts'
import { tempDir } from './helpers/temp.ts'

/** The agent's tag TTL in these tests, and a wait that is surely past it. */
const MANIFEST_TTL = '100ms'
const PAST_TTL_MS = 300
/** A request for something the agent cannot have must fail well within this. */
const OFFLINE_ANSWER_MAX_MS = 10_000

/**
 * Two ways an origin goes away: connections dropped (the proxy's 'down' mode: transport errors),
 * and the registry process gone behind a proxy that still answers (502s). Each returns a way to
 * bring it back with the same data, which gives the registry now running.
 */
type Outage = (t: ExecutionContext, registry: OriginRegistry, origin: CountingProxy) => Promise<() => Promise<OriginRegistry>>
const outages: Record<string, Outage> = {
  'connections dropped': async (_t, registry, origin) => {
    origin.mode = 'down'
    return async () => {
      origin.mode = 'pass'
      return registry
    }
  },
  'registry stopped, proxy answering 502': async (t, registry) => {
    await registry.stop()
    return async () => {
      const again = await startRegistry({ port: registry.port, dataDir: registry.dataDir })
      t.teardown(again.stop)
      return again
    }
  }
}

for (const [outage, goDown] of Object.entries(outages)) {
  test(`origin down (${outage}): a pulled tag pulls again from the cache, an unknown tag fails fast, and a new tag pulls once it is back`, async t => {
    const registryData = await tempDir(t, 'offline-registry')
    const registry = await startRegistry({ dataDir: registryData })
    t.teardown(registry.stop)
    const origin = await startCountingProxy(registry)
    t.teardown(origin.stop)
    const v1 = await pushImage(registry, {
      name: 'team/app', tag: 'v1', format: 'oci',
      layers: [layerFixture({ size: 2 * 1024 * 1024 + 5, seed: 51 }), layerFixture({ size: 30_000, seed: 52 })]
    })
    const other = await pushImage(registry, { name: 'team/app', tag: 'never-pulled', format: 'oci', layers: [layerFixture({ size: 20_000, seed: 54 })] })
    // A short cool-down: the outage opens the origin's circuit, and the pull once it is back is its probe.
    const agent = await startTestAgent({ upstreams: [origin.url], args: ['--manifest-ttl', MANIFEST_TTL, '--upstream-cooldown', '200ms'] })
    t.teardown(agent.stop)
    const dead = await deadRegistryHost()

    const cold = await tempDir(t, 'offline-cold')
    await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: cold })
    await verifyDirImage(cold, v1)
    t.is(await scrapeMetric(agent.url, 'shoal_agent_manifest_cache_total', { result: 'stale' }), 0)

    const bringBack = await goDown(t, registry, origin)
    await sleep(PAST_TTL_MS)
    origin.reset()
    const offline = await tempDir(t, 'offline-warm')
    await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: offline })
    await verifyDirImage(offline, v1)
    t.true(origin.counts.requests.length > 0, 'the agent did try the origin (the tag was past its TTL)')
    t.true(origin.counts.requests.every(r => r.status === 0 || r.status === 502), 'and the origin answered nothing useful')
    t.true(await scrapeMetric(agent.url, 'shoal_agent_manifest_cache_total', { result: 'stale' }) >= 1, 'the tag was served stale')
    t.is(origin.blobGets(), 0, 'blobs came from the store')

    // By digest, the cached manifest needs no origin at all.
    const byDigest = await fetchBody(`${agent.url}/v2/team/app/manifests/${v1.manifestDigest}`, { headers: { accept: v1.mediaType } })
    t.is(byDigest.status, 200)
    t.true(byDigest.body.equals(v1.manifest))

    // What the agent never fetched gets a prompt OCI error: a tag, and a blob of an image never pulled.
    for (const path of [`manifests/${other.tag}`, `blobs/${other.layers[0]?.digest}`]) {
      const started = performance.now()
      const unknown = await fetchBody(`${agent.url}/v2/team/app/${path}`, { headers: { accept: other.mediaType }, signal: AbortSignal.timeout(OFFLINE_ANSWER_MAX_MS) })
      const elapsed = Math.round(performance.now() - started)
      t.is(unknown.error, undefined, `${path}: a whole answer, not a hang or a dropped connection`)
      t.true(unknown.status >= 500 && unknown.status < 600, `${path} answers ${unknown.status}`)
      t.regex(String(unknown.headers['content-type']), /^application\/json/, `${path}: an OCI error body`)
      const errors = (JSON.parse(unknown.body.toString('utf8')) as { errors?: Array<{ code?: string }> }).errors
      t.is(errors?.[0]?.code, 'UNAVAILABLE', `${path}: an OCI error code`)
      t.log(`${path} answered ${unknown.status} in ${elapsed} ms`)
    }

    const live = await bringBack()
    // The failures above opened the origin's circuit: past its cool-down (200 ms), the pull's first request is its probe.
    await new Promise(resolve => setTimeout(resolve, 400))
    const v2 = await pushImage(live, { name: 'team/app', tag: 'v2', format: 'oci', layers: [layerFixture({ size: 500_000, seed: 53 })] })
    origin.reset()
    const back = await tempDir(t, 'offline-back')
    await skopeoCopy({ image: `${dead}/team/app:v2`, mirror: agent.host, destDir: back })
    await verifyDirImage(back, v2)
    t.is(origin.blobGets(v2.layers[0]?.digest), 1, 'the new layer came from the origin')
  })
}
