import { once } from 'node:events'
import { createServer } from 'node:http'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { AddressInfo } from 'node:net'
import { parseDigest } from '@shoal/proto'
import { layerFixture, pushImage, skopeoCopy, startCountingProxy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import type { PushedImage } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric, waitFor } from './helpers/http.ts'

const BLOB_BYTES = 3 * 1024 * 1024 + 17

async function tempDir (t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `shoal-${prefix}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** Every file under a directory, as paths relative to it. */
async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter(e => e.isFile()).map(e => join(e.parentPath, e.name).slice(dir.length + 1))
}

test('a blob the origin corrupts is never delivered whole, never kept, and pulls fine once the origin is healthy', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry, { mode: 'corrupt-blobs' })
  t.teardown(origin.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: [layerFixture({ size: BLOB_BYTES, seed: 31 }), layerFixture({ size: 100_000, seed: 32 })] })
  const digest = parseDigest(image.layers[0]?.digest ?? '')
  const hex = digest.slice('sha256:'.length)
  const agent = await startTestAgent({ upstreams: [origin.url] })
  t.teardown(agent.stop)
  const blobUrl = `${agent.url}/v2/team/app/blobs/${digest}`
  const mismatches = async (): Promise<number> => scrapeMetric(agent.url, 'shoal_agent_digest_mismatches_total', { kind: 'blob' })
  t.is(await mismatches(), 0)

  const whole = await fetchBody(blobUrl)
  t.is(whole.status, 200)
  t.is(Number(whole.headers['content-length']), BLOB_BYTES)
  t.truthy(whole.error, 'the body breaks off instead of ending')
  t.true(whole.body.length < BLOB_BYTES, `the client got ${whole.body.length} of ${BLOB_BYTES} bytes`)
  await waitFor('the digest mismatch to be counted', async () => await mismatches() >= 1)

  t.is(agent.agent.store.get(digest), undefined, 'the store has no record of the blob')
  t.deepEqual((await filesUnder(join(agent.dataDir, 'blobs'))).filter(f => f.includes(hex)), [], 'no blob file')
  t.deepEqual((await filesUnder(join(agent.dataDir, 'partial'))).filter(f => f.includes(hex)), [], 'no partial file')

  // A client resuming at the end (as containerd does) gets no closer: the tail waits for the digest.
  const tail = await fetchBody(blobUrl, { headers: { range: `bytes=${BLOB_BYTES - 100}-` } })
  t.is(tail.status, 206)
  t.truthy(tail.error)
  t.true(tail.body.length < 100, `the ranged client got ${tail.body.length} of 100 bytes`)
  await waitFor('the second mismatch to be counted', async () => await mismatches() >= 2)
  t.is(origin.blobGets(digest), 2, 'each request went back to the origin: nothing bad was cached')
  t.is(agent.agent.store.get(digest), undefined)

  origin.mode = 'pass'
  const dest = await tempDir(t, 'corrupt-pull')
  await skopeoCopy({ image: `${await deadRegistryHost()}/team/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, image)
  t.is(agent.agent.store.get(digest)?.state, 'complete')
  t.deepEqual((await filesUnder(join(agent.dataDir, 'blobs'))).filter(f => f.includes(hex)), [`sha256/${hex}`])
  t.is(await mismatches(), 2, 'the healthy pull matched its digests')
})

interface LyingOrigin {
  url: string
  /** Manifest requests it answered. */
  manifestGets: () => number
  stop: () => Promise<void>
}

/**
 * An origin no real registry would be: it answers A's digest with B's manifest, and tag `v1` with
 * A's manifest under B's Docker-Content-Digest. Distribution cannot be made to lie like this.
 */
async function startLyingOrigin (a: PushedImage, b: PushedImage): Promise<LyingOrigin> {
  let manifestGets = 0
  const server = createServer((req, res) => {
    const path = req.url ?? '/'
    if (path === '/v2/') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
      return
    }
    const match = /^\/v2\/team\/app\/manifests\/(.+)$/.exec(path)
    const served = match?.[1] === a.manifestDigest ? b : match?.[1] === 'v1' ? a : undefined
    if (served == null) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}')
      return
    }
    manifestGets++
    res.writeHead(200, { 'content-type': served.mediaType, 'content-length': served.manifest.length, 'docker-content-digest': served === b ? a.manifestDigest : b.manifestDigest })
    res.end(req.method === 'HEAD' ? undefined : served.manifest)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    manifestGets: () => manifestGets,
    stop: async () => {
      server.closeAllConnections()
      await new Promise<void>(resolve => { server.close(() => { resolve() }) })
    }
  }
}

test('a manifest whose bytes do not match its digest is refused and not cached', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const a = await pushImage(registry, { name: 'team/app', tag: 'a', format: 'oci', layers: [layerFixture({ size: 1_000, seed: 41 })] })
  const b = await pushImage(registry, { name: 'team/app', tag: 'b', format: 'oci', layers: [layerFixture({ size: 1_000, seed: 42 })] })
  const liar = await startLyingOrigin(a, b)
  t.teardown(liar.stop)
  const agent = await startTestAgent({ upstreams: [liar.url] })
  t.teardown(agent.stop)
  const accept = { accept: a.mediaType }

  for (const attempt of [1, 2]) {
    const byDigest = await fetchBody(`${agent.url}/v2/team/app/manifests/${a.manifestDigest}`, { headers: accept })
    t.is(byDigest.status, 502, `by digest, attempt ${attempt}`)
    t.regex(byDigest.body.toString('utf8'), /"code":"DIGEST_INVALID"/)
    t.false(byDigest.body.includes(b.manifest), 'the wrong manifest is not passed on')
    const byTag = await fetchBody(`${agent.url}/v2/team/app/manifests/v1`, { headers: accept })
    t.is(byTag.status, 502, `by tag with a false Docker-Content-Digest, attempt ${attempt}`)
    t.regex(byTag.body.toString('utf8'), /"code":"DIGEST_INVALID"/)
  }
  t.is(liar.manifestGets(), 4, 'every request went to the origin: nothing was cached')
  t.is(await agent.agent.manifests.get(parseDigest(a.manifestDigest)), undefined)
  t.is(await agent.agent.manifests.get(parseDigest(b.manifestDigest)), undefined)
  t.is(await scrapeMetric(agent.url, 'shoal_agent_digest_mismatches_total', { kind: 'manifest' }), 4)
})
