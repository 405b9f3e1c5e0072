import { createHash } from 'node:crypto'
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { issueServerCert, layerFixture, makeCa, pushImage, skopeoCopy, startCountingProxy, startRegistry, startTcpSwitch, verifyDirImage } from './fixtures/index.ts'
import type { PushImageOptions } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric, waitFor } from './helpers/http.ts'
import { tempDir } from './helpers/temp.ts'

const RESPONSE_TIMEOUT_MS = 1_000

function image (tag: string, seed: number, size = 200_000): PushImageOptions {
  return { name: 'team/app', tag, format: 'oci', layers: [layerFixture({ size, seed }), layerFixture({ size: 30_000, seed: seed + 1 })] }
}

/** A failing mirror endpoint in front of the healthy registry: its URL, and how many requests reached it (when that can be told). */
interface BadEndpoint { url: string, requests: () => number | undefined, stop: () => Promise<void> }
const badEndpoints: Record<string, (site: { port: number }) => Promise<BadEndpoint>> = {
  refusing: async () => ({ url: `http://${await deadRegistryHost()}`, requests: () => undefined, stop: async () => {} }),
  hanging: async site => {
    const hang = await startTcpSwitch(site, { mode: 'hang' })
    return { url: hang.url, requests: () => hang.hungConnections, stop: hang.stop }
  },
  'answering 502': async () => {
    const proxy = await startCountingProxy({ url: `http://${await deadRegistryHost()}` })
    return { url: proxy.url, requests: () => proxy.counts.requests.length, stop: proxy.stop }
  }
}

for (const [kind, start] of Object.entries(badEndpoints)) {
  test(`a ${kind} mirror endpoint before the registry: skopeo pulls from the next endpoint, and once the circuit opens later requests skip the bad one at once`, async t => {
    const origin = await startRegistry()
    t.teardown(origin.stop)
    const v1 = await pushImage(origin, image('v1', 101))
    const v2 = await pushImage(origin, image('v2', 103))
    const bad = await start(origin)
    t.teardown(bad.stop)
    const agent = await startTestAgent({
      upstreams: [origin.url],
      args: ['--insecure-registry', new URL(bad.url).host, '--upstream-endpoint', `${origin.host}=${bad.url}`,
        '--upstream-response-timeout', `${RESPONSE_TIMEOUT_MS}ms`, '--upstream-failures', '2', '--upstream-cooldown', '10m']
    })
    t.teardown(agent.stop)
    const dead = await deadRegistryHost()

    const first = await tempDir(t, 'endpoints-first')
    await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: first })
    await verifyDirImage(first, v1)
    // Polled, not read once: in one loaded run the state was read before the last failure was counted.
    await waitFor('the bad endpoint\'s circuit open', async () => await scrapeMetric(agent.url, 'shoal_agent_upstream_breaker_state', { endpoint: bad.url }) === 2, { timeoutMs: 5_000 })
    const reached = bad.requests()
    if (reached != null) t.true(reached <= 2, `the bad endpoint was asked ${reached} times, until its circuit opened`)

    const skipped = async (): Promise<number> => scrapeMetric(agent.url, 'shoal_agent_upstream_endpoint_skipped_total', { registry: origin.host, endpoint: bad.url })
    const skippedBefore = await skipped()
    const second = await tempDir(t, 'endpoints-second')
    await skopeoCopy({ image: `${dead}/team/app:v2`, mirror: agent.host, destDir: second })
    await verifyDirImage(second, v2)
    t.is(bad.requests(), reached, 'the next pull did not ask the bad endpoint at all')
    t.true(await skipped() - skippedBefore >= 4, 'it skipped the bad endpoint for the manifest, the config and both layers')
    t.true(await scrapeMetric(agent.url, 'shoal_agent_upstream_requests_total', { registry: origin.host, endpoint: origin.url, method: 'GET', status: '200' }) >= 4, 'the registry itself served the pulls')
  })
}

test('a healthy site mirror endpoint serves the pull and the origin sends no blob; what the mirror lacks (404) comes from the origin', async t => {
  const originRegistry = await startRegistry()
  t.teardown(originRegistry.stop)
  const siteRegistry = await startRegistry()
  t.teardown(siteRegistry.stop)
  const origin = await startCountingProxy(originRegistry)
  t.teardown(origin.stop)
  const site = await startCountingProxy(siteRegistry)
  t.teardown(site.stop)
  const v1 = await pushImage(originRegistry, image('v1', 111))
  t.is((await pushImage(siteRegistry, image('v1', 111))).manifestDigest, v1.manifestDigest, 'the same image on both')
  const onlyOrigin = await pushImage(originRegistry, image('v2', 113))
  const agent = await startTestAgent({ upstreams: [origin.url], args: ['--insecure-registry', site.host, '--upstream-endpoint', `${origin.host}=${site.url}`] })
  t.teardown(agent.stop)
  const dead = await deadRegistryHost()
  const scrape = (await fetchBody(`${agent.url}/metrics`)).body.toString('utf8')
  for (const endpoint of [site.url, origin.url]) t.true(scrape.includes(`shoal_agent_upstream_breaker_state{endpoint="${endpoint}"} 0`), `${endpoint}'s circuit is shown closed from the start`)

  const dest = await tempDir(t, 'endpoints-site')
  await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, v1)
  t.is(origin.blobGets(), 0, 'the origin sent no blob')
  t.is(origin.counts.requests.filter(r => r.path.includes('/manifests/')).length, 0, 'nor a manifest')
  t.true(site.blobGets() >= 3, 'the site mirror sent the layers and the config')
  t.true(await scrapeMetric(agent.url, 'shoal_agent_upstream_requests_total', { registry: origin.host, endpoint: site.url, method: 'GET', status: '200' }) >= 4, 'the metrics name the endpoint that served')

  const other = await tempDir(t, 'endpoints-fallthrough')
  await skopeoCopy({ image: `${dead}/team/app:v2`, mirror: agent.host, destDir: other })
  await verifyDirImage(other, onlyOrigin)
  t.true(site.counts.requests.some(r => r.path.endsWith('/manifests/v2') && r.status === 404), 'the site mirror was asked first and had no v2')
  t.true(origin.blobGets(onlyOrigin.layers[0]?.digest) === 1, 'the origin sent what the site mirror lacks')
  t.is(await scrapeMetric(agent.url, 'shoal_agent_upstream_breaker_state', { endpoint: site.url }), 0, 'a 404 is not a failure of the endpoint')
})

test('a blob body that breaks off at the first endpoint resumes with Range from the next one, and the client gets the right bytes', async t => {
  const originRegistry = await startRegistry()
  t.teardown(originRegistry.stop)
  const siteRegistry = await startRegistry()
  t.teardown(siteRegistry.stop)
  const origin = await startCountingProxy(originRegistry)
  t.teardown(origin.stop)
  // Slow, so the body is still flowing when the site mirror goes away.
  const site = await startCountingProxy(siteRegistry, { bytesPerSecond: 1_000_000 })
  t.teardown(site.stop)
  const size = 3 * 1024 * 1024
  const v1 = await pushImage(originRegistry, image('v1', 121, size))
  await pushImage(siteRegistry, image('v1', 121, size))
  const agent = await startTestAgent({ upstreams: [origin.url], args: ['--insecure-registry', site.host, '--upstream-endpoint', `${origin.host}=${site.url}`] })
  t.teardown(agent.stop)

  const layer = v1.layers[0]
  const body = fetchBody(`${agent.url}/v2/team/app/blobs/${layer?.digest}`, { signal: AbortSignal.timeout(30_000) })
  while (site.egressBytes < 500_000) await new Promise(resolve => setTimeout(resolve, 20))
  // The connection breaks; the site mirror itself stays up: the rest is still asked of the next endpoint.
  site.mode = 'down'
  site.mode = 'pass'
  const res = await body
  t.is(res.error, undefined)
  t.is(res.status, 200)
  t.is(`sha256:${createHash('sha256').update(res.body).digest('hex')}`, layer?.digest ?? '', 'the whole blob, checked against its digest')
  const resumed = origin.counts.requests.filter(r => r.method === 'GET' && r.path.endsWith(`/blobs/${layer?.digest}`))
  t.is(resumed.length, 1, 'the origin was asked once, for the rest')
  const from = Number(/^bytes=(\d+)-$/.exec(resumed[0]?.range ?? '')?.[1])
  t.true(from >= 400_000 && from < size, `a Range from where the site mirror broke off (${resumed[0]?.range})`)
  t.is(resumed[0]?.bytes, size - from, 'only the rest came from the origin')
  t.is(site.blobGets(layer?.digest), 1, 'the site mirror was not asked again')
})

test('the agent\'s credentials apply per endpoint host: a private site mirror gets its own, and serves the pull', async t => {
  const originRegistry = await startRegistry()
  t.teardown(originRegistry.stop)
  const siteUser = { username: 'site-bot', password: 'site-secret' }
  const siteRegistry = await startRegistry({ auth: { kind: 'htpasswd', users: [siteUser] } })
  t.teardown(siteRegistry.stop)
  const origin = await startCountingProxy(originRegistry)
  t.teardown(origin.stop)
  const v1 = await pushImage(originRegistry, image('v1', 131))
  await pushImage(siteRegistry, { ...image('v1', 131), auth: siteUser })
  const configFile = join(await tempDir(t, 'endpoints-creds'), 'agent.yaml')
  await writeFile(configFile, [
    'credentials:',
    `  ${JSON.stringify(siteRegistry.host)}: { username: ${JSON.stringify(siteUser.username)}, password: ${JSON.stringify(siteUser.password)} }`,
    'upstreamEndpoints:',
    `  ${JSON.stringify(origin.host)}: [${JSON.stringify(siteRegistry.url)}]`
  ].join('\n') + '\n')
  const agent = await startTestAgent({ upstreams: [origin.url], args: ['--config', configFile, '--insecure-registry', siteRegistry.host] })
  t.teardown(agent.stop)

  const dest = await tempDir(t, 'endpoints-creds-pull')
  await skopeoCopy({ image: `${await deadRegistryHost()}/team/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, v1)
  t.is(origin.blobGets(), 0, 'the private site mirror served every blob with the agent\'s credentials for it')
  t.true(await scrapeMetric(agent.url, 'shoal_agent_upstream_requests_total', { registry: origin.host, endpoint: siteRegistry.url, method: 'GET', status: '200' }) >= 3)
})

test('certs.d applies per endpoint host: an https site mirror whose CA is there serves the pull; without its CA, its x509 failure passes the request to the registry', async t => {
  const originRegistry = await startRegistry()
  t.teardown(originRegistry.stop)
  const origin = await startCountingProxy(originRegistry)
  t.teardown(origin.stop)
  const caDir = await tempDir(t, 'endpoints-ca')
  const ca = await makeCa(caDir)
  const cert = await issueServerCert(ca, { ipAddresses: ['127.0.0.1'] })
  const siteRegistry = await startRegistry({ tls: { certFile: cert.certFile, keyFile: cert.keyFile } })
  t.teardown(siteRegistry.stop)
  const v1 = await pushImage(originRegistry, image('v1', 141))
  await pushImage(siteRegistry, { ...image('v1', 141), ca: await readFile(ca.certFile) })
  const dead = await deadRegistryHost()

  for (const trusted of [false, true]) {
    const dataDir = await tempDir(t, `endpoints-tls-${trusted}`)
    if (trusted) {
      await mkdir(join(dataDir, 'certs.d', siteRegistry.host), { recursive: true })
      await copyFile(ca.certFile, join(dataDir, 'certs.d', siteRegistry.host, 'ca.crt'))
    }
    const agent = await startTestAgent({ upstreams: [origin.url], dataDir, args: ['--upstream-endpoint', `${origin.host}=${siteRegistry.url}`] })
    t.teardown(agent.stop)
    origin.reset()
    const dest = await tempDir(t, `endpoints-tls-pull-${trusted}`)
    await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: dest })
    await verifyDirImage(dest, v1)
    if (trusted) {
      t.is(origin.blobGets(), 0, 'with its CA in certs.d/<endpoint host>, the site mirror served every blob')
    } else {
      t.true(origin.blobGets() >= 3, 'without its CA, the registry itself served the pull')
      t.is(await scrapeMetric(agent.url, 'shoal_agent_upstream_breaker_state', { endpoint: siteRegistry.url }), 2, 'and the untrusted endpoint is skipped')
    }
  }
})
