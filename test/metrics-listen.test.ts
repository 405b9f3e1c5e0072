/**
 * `--metrics-listen`: a second listener with only /metrics, /healthz and /readyz, for Prometheus
 * and probes from other hosts. Nothing of the registry API is reachable through it: a blob path
 * there is 404 and nothing reaches the origin. Real agents, a real Distribution origin.
 */
import { readdir, readFile, readlink } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { request } from 'undici'
import { Agent, AGENT_NODE_FLAGS, resolveAgentConfig } from '@shoal/agent'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from './fixtures/index.ts'
import type { CountingProxy, PushedImage } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent, testAgentArgs, testLogger } from './helpers/agent.ts'
import { spawnAgentProcess } from './helpers/agent-process.ts'
import { waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { shoalEnv, spawnShoal } from './helpers/shoal-process.ts'
import { tempDir } from './helpers/temp.ts'

const REQUESTS = 'shoal_agent_requests_total'

async function status (url: string, method: 'GET' | 'HEAD' | 'POST' = 'GET'): Promise<number> {
  const res = await request(url, { method, signal: AbortSignal.timeout(10_000) })
  await res.body.dump()
  return res.statusCode
}

/** A Distribution registry with one image of one layer, behind a counting proxy. */
async function origin (t: ExecutionContext): Promise<{ proxy: CountingProxy, image: PushedImage }> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'lib/metrics', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 100_000, seed: 51 })] })
  const proxy = await startCountingProxy(registry)
  t.teardown(proxy.stop)
  return { proxy, image }
}

/** TCP ports process `pid` listens on: its socket inodes, looked up in /proc/net/tcp and tcp6 (state 0A). */
async function listeningPorts (pid: number): Promise<number[]> {
  const inodes = new Set<string>()
  for (const fd of await readdir(`/proc/${pid}/fd`)) {
    const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
    const match = /^socket:\[(\d+)\]$/.exec(target)
    if (match != null) inodes.add(match[1] ?? '')
  }
  const ports: number[] = []
  for (const table of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols[3] === '0A' && inodes.has(cols[9] ?? '')) ports.push(parseInt(cols[1]?.split(':').pop() ?? '', 16))
    }
  }
  return ports.sort((a, b) => a - b)
}

test('the metrics listener answers /metrics, /healthz and /readyz; every registry path is 404 there and reaches no origin', async t => {
  const { proxy, image } = await origin(t)
  const agent = await startTestAgent({ upstreams: [proxy.url], args: ['--metrics-listen', '127.0.0.1:0'] })
  t.teardown(agent.stop)
  const metricsUrl = agent.agent.metricsUrl ?? ''
  t.regex(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.not(new URL(metricsUrl).port, new URL(agent.url).port)

  for (const path of ['/metrics', '/healthz', '/readyz']) {
    t.is(await status(`${metricsUrl}${path}`), 200, path)
    t.is(await status(`${metricsUrl}${path}`, 'HEAD'), 200, `HEAD ${path}`)
    t.is(await status(`${metricsUrl}${path}`, 'POST'), 405, `POST ${path}`)
  }
  const layer = image.layers[0]?.digest ?? ''
  const registryPaths = [
    '/v2/', '/v2', '/v2/_catalog', `/v2/${image.name}/tags/list?ns=${proxy.host}`,
    `/v2/${image.name}/manifests/v1?ns=${proxy.host}`, `/v2/${image.name}/manifests/${image.manifestDigest}?ns=${proxy.host}`,
    `/v2/${image.name}/blobs/${layer}?ns=${proxy.host}`, `/v2/${image.name}/blobs/${layer}`, '/', '/metrics/', '/healthz/../v2/'
  ]
  for (const path of registryPaths) {
    t.is(await status(`${metricsUrl}${path}`), 404, path)
    t.is(await status(`${metricsUrl}${path}`, 'HEAD'), 404, `HEAD ${path}`)
  }
  t.deepEqual(proxy.counts.requests, [], 'nothing reached the origin')
  t.is(agent.agent.store.list().length, 0, 'nothing was fetched into the store')

  // The same blob path on the mirror listener is served: the 404s above are the listener's, not the path's.
  t.is(await status(`${agent.url}/v2/${image.name}/blobs/${layer}?ns=${proxy.host}`), 200)
  // The proxy records a request once its response has closed, the agent counts one once its answer is sent: both may trail the client.
  await waitFor('the origin\'s blob GET recorded', () => proxy.blobGets(layer) === 1)

  // One registry of metrics: the metrics listener's scrape sees the mirror's blob request, and its own requests are counted.
  let scrape = await scrapeMetrics(metricsUrl)
  await waitFor('the blob request counted', async () => {
    scrape = await scrapeMetrics(metricsUrl)
    return scrape.value(REQUESTS, { route: 'blob', method: 'GET', status: '200' }) === 1
  })
  t.is(scrape.value(REQUESTS, { route: 'blob', method: 'GET', status: '200' }), 1)
  t.is(scrape.value(REQUESTS, { route: 'healthz', method: 'GET', status: '200' }), 1)
  t.is(scrape.value(REQUESTS, { route: 'invalid', method: 'GET', status: '404' }), registryPaths.length)
  t.true(scrape.value('shoal_agent_blob_received_bytes_total', { source: 'origin' }) > 0)
})

test('on [::1] too; while the agent drains, /readyz there answers 503 and /healthz 200', async t => {
  const agent = await startTestAgent({ upstreams: [`http://${await deadRegistryHost()}`], args: ['--metrics-listen', '[::1]:0'] })
  t.teardown(agent.stop)
  const metricsUrl = agent.agent.metricsUrl ?? ''
  t.regex(metricsUrl, /^http:\/\/\[::1\]:\d+$/)
  t.is(await status(`${metricsUrl}/readyz`), 200)
  t.is(await agent.agent.drain({ signal: AbortSignal.timeout(5_000) }), 0)
  t.is(await status(`${metricsUrl}/readyz`), 503)
  t.is(await status(`${metricsUrl}/healthz`), 200)
  await t.throwsAsync(status(`${agent.url}/healthz`), undefined, 'the mirror listener is closed')
})

test('shoal agent prints the metrics listener and listens on it; without the flag it listens on the mirror\'s port alone', async t => {
  const upstream = `http://${await deadRegistryHost()}`
  const plain = await spawnAgentProcess(t, { dataDir: await tempDir(t, 'metrics-off'), upstreams: [upstream] })
  t.deepEqual(await listeningPorts(plain.pid), [Number(new URL(plain.url).port)])
  t.notRegex(plain.stdout(), /metrics and probes/)

  const withMetrics = await spawnShoal(t, {
    what: 'shoal agent',
    nodeArgs: [...AGENT_NODE_FLAGS],
    args: ['agent', ...testAgentArgs(await tempDir(t, 'metrics-on'), [upstream], ['--metrics-listen', '127.0.0.1:0'])],
    env: shoalEnv({ SHOAL_LOG: 'silent' }),
    ready: out => /^shoal agent: metrics and probes \(\/metrics, \/healthz, \/readyz only\) at (http:\/\/\S+)$/m.exec(out)?.[1]
  })
  const mirror = Number(/mirroring .* at http:\/\/127\.0\.0\.1:(\d+)/.exec(withMetrics.stdout())?.[1])
  const metrics = Number(new URL(withMetrics.ready).port)
  t.deepEqual(await listeningPorts(withMetrics.pid), [mirror, metrics].sort((a, b) => a - b))
  t.is(await status(`${withMetrics.ready}/readyz`), 200)
})

test('a metrics port that is taken stops the start with an error naming the flag', async t => {
  const holder = createServer()
  await new Promise<void>(resolve => holder.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { holder.close() })
  const port = (holder.address() as AddressInfo).port
  const argv = testAgentArgs(await tempDir(t, 'metrics-taken'), [`http://${await deadRegistryHost()}`], ['--metrics-listen', `127.0.0.1:${port}`])
  const agent = new Agent({ config: await resolveAgentConfig({ argv, env: {} }), logger: testLogger() })
  t.teardown(async () => { await agent.stop() })
  const failed = await t.throwsAsync(agent.start(), { name: 'ListenError' })
  t.is(failed?.message, `metricsListen (--metrics-listen): cannot listen on 127.0.0.1:${port}: the port is in use`)

  const spawned = await t.throwsAsync(spawnShoal(t, {
    what: 'shoal agent',
    nodeArgs: [...AGENT_NODE_FLAGS],
    args: ['agent', ...testAgentArgs(await tempDir(t, 'metrics-taken-cli'), [`http://${await deadRegistryHost()}`], ['--metrics-listen', `127.0.0.1:${port}`])],
    env: shoalEnv({ SHOAL_LOG: 'silent' }),
    ready: out => /metrics and probes/.test(out) ? true : undefined
  }))
  t.regex(spawned?.message ?? '', /exited \(code 1.*cannot start: metricsListen \(--metrics-listen\): cannot listen on 127\.0\.0\.1:\d+: the port is in use/s)
})
