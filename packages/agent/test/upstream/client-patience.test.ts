import test from 'ava'
import { layerFixture, pushImage, startRegistry, startTcpSwitch } from '../../../../test/fixtures/index.ts'
import { parseUpstream } from '../../src/config/index.ts'
import { UpstreamClient } from '../../src/upstream/client.ts'

/** The registry's answers reach the agent this late: a path whose queue is full (a slow link the agent's own uploads fill). */
const PATH_DELAY_MS = 1_500

async function slowRegistry (t: { teardown: (fn: () => Promise<void>) => void }): Promise<{ url: string, host: string, path: string }> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 64 * 1024, seed: 31 })] })
  const path = await startTcpSwitch(registry, { mode: 'slow', delayMs: PATH_DELAY_MS })
  t.teardown(path.stop)
  return { url: path.url, host: path.host, path: `/v2/team/app/blobs/${image.layers[0]?.digest}` }
}

test('bytes of a blob under way wait out a slow path; a request that decides the client\'s answer fails within its timeout', async t => {
  const origin = await slowRegistry(t)
  const client = new UpstreamClient({ credentials: new Map(), certsDir: '/nonexistent', timeouts: { connectMs: 1_000, responseMs: 500, bodyIdleMs: 5_000 }, breaker: { failureThreshold: 2, cooldownMs: 60_000 } })
  t.teardown(async () => { await client.stop() })
  const upstream = parseUpstream('upstreams[0]', origin.url, [origin.host])

  const piece = await client.send({ registry: upstream, method: 'GET', path: origin.path, range: 'bytes=0-1023', patient: true })
  t.is(piece.status, 206)
  t.is((await piece.body.arrayBuffer()).byteLength, 1024)
  t.is(client.breaker.describe(upstream.baseUrl.origin).failures, 0, 'a late answer to a patient request is no failure of the endpoint')

  const started = performance.now()
  const err = await t.throwsAsync(client.send({ registry: upstream, method: 'GET', path: origin.path }))
  t.is(err?.name, 'UpstreamUnavailableError')
  t.regex(err?.message ?? '', /no response within 500 ms, --upstream-response-timeout/)
  t.true(performance.now() - started < PATH_DELAY_MS, 'the runtime is answered before the slow path would have')
})

test('a patient request is still bounded, by the body idle timeout, and its error names that setting', async t => {
  const origin = await slowRegistry(t)
  const client = new UpstreamClient({ credentials: new Map(), certsDir: '/nonexistent', timeouts: { connectMs: 200, responseMs: 200, bodyIdleMs: 700 } })
  t.teardown(async () => { await client.stop() })
  const upstream = parseUpstream('upstreams[0]', origin.url, [origin.host])
  const err = await t.throwsAsync(client.send({ registry: upstream, method: 'GET', path: origin.path, range: 'bytes=0-1023', patient: true }))
  t.is(err?.name, 'UpstreamUnavailableError')
  t.regex(err?.message ?? '', /no response within 700 ms \(for bytes of a blob under way\), --upstream-idle-timeout/)
})
