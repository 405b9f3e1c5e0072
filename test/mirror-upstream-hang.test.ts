import test from 'ava'
import { layerFixture, pushImage, skopeoCopy, startRegistry, startTcpSwitch, verifyDirImage } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { fetchBody, scrapeMetric } from './helpers/http.ts'
import { tempDir } from './helpers/temp.ts'

/** The agent's response timeout in this test, and the slack its answer may take beyond it. */
const RESPONSE_TIMEOUT_MS = 1_000
const ANSWER_SLACK_MS = 1_500
/** A request that fails fast does no network round trip at all. */
const FAIL_FAST_MAX_MS = 300
/** How long the circuit stays open in the first test: long enough for its fail-fast checks. */
const COOLDOWN_MS = 8_000

interface OciErrorBody { errors?: Array<{ code?: string, message?: string }> }

test('an upstream that accepts connections and never answers: a 503 with an OCI error within the response timeout, then fail-fast once the circuit opens, while cached content is still served', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const upstream = await startTcpSwitch(registry)
  t.teardown(upstream.stop)
  const cached = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 300_000, seed: 81 })] })
  const other = await pushImage(registry, { name: 'team/app', tag: 'v2', format: 'oci', layers: [layerFixture({ size: 200_000, seed: 82 })] })
  const agent = await startTestAgent({
    upstreams: [upstream.url],
    args: ['--manifest-ttl', '100ms', '--upstream-response-timeout', `${RESPONSE_TIMEOUT_MS}ms`, '--upstream-failures', '2', '--upstream-cooldown', `${COOLDOWN_MS}ms`]
  })
  t.teardown(agent.stop)
  const dead = await deadRegistryHost()
  const warm = await tempDir(t, 'hang-warm')
  await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: warm })
  await verifyDirImage(warm, cached)

  upstream.mode = 'hang'
  const endpoint = `http://${upstream.host}`
  const otherBlob = `${agent.url}/v2/team/app/blobs/${other.layers[0]?.digest}`
  for (let i = 0; i < 2; i++) {
    const started = performance.now()
    const res = await fetchBody(otherBlob, { signal: AbortSignal.timeout(RESPONSE_TIMEOUT_MS + 10_000) })
    const elapsed = performance.now() - started
    t.is(res.status, 503, `request ${i}: a 503, not a hang`)
    const body = JSON.parse(res.body.toString('utf8')) as OciErrorBody
    t.is(body.errors?.[0]?.code, 'UNAVAILABLE')
    t.regex(body.errors?.[0]?.message ?? '', /no response within 1000 ms, --upstream-response-timeout/, 'the body says what timed out and which setting bounds it')
    t.true(elapsed < RESPONSE_TIMEOUT_MS + ANSWER_SLACK_MS, `request ${i} answered in ${Math.round(elapsed)} ms, within the response timeout (no retries of a hang)`)
    t.true(elapsed >= RESPONSE_TIMEOUT_MS * 0.8, `request ${i} did wait for the upstream (${Math.round(elapsed)} ms)`)
  }
  t.is(await scrapeMetric(agent.url, 'shoal_agent_upstream_breaker_state', { endpoint }), 2, 'two failures in a row opened the circuit')
  const openedAt = performance.now()

  const hungBefore = upstream.hungConnections
  const started = performance.now()
  const fast = await fetchBody(otherBlob)
  const elapsed = performance.now() - started
  t.is(fast.status, 503)
  t.regex((JSON.parse(fast.body.toString('utf8')) as OciErrorBody).errors?.[0]?.message ?? '', /failing fast.*failed 2 times in a row: network timeout/)
  t.true(elapsed < FAIL_FAST_MAX_MS, `the open circuit answered in ${Math.round(elapsed)} ms`)
  t.is(upstream.hungConnections, hungBefore, 'and opened no connection to the hanging upstream')
  t.true(await scrapeMetric(agent.url, 'shoal_agent_upstream_failed_fast_total', { registry: upstream.host }) >= 1)

  // Meanwhile what the agent holds still pulls, at once: the tag (stale), its manifest and blobs.
  const pullStarted = performance.now()
  const offline = await tempDir(t, 'hang-cached')
  await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: offline })
  await verifyDirImage(offline, cached)
  const pullMs = performance.now() - pullStarted
  t.true(pullMs < RESPONSE_TIMEOUT_MS + ANSWER_SLACK_MS, `the cached image pulled in ${Math.round(pullMs)} ms, without waiting on the upstream`)
  t.is(upstream.hungConnections, hungBefore, 'the cached pull asked nothing of the hanging upstream')
  t.true(performance.now() - openedAt < COOLDOWN_MS, 'all of that within the cool-down')

  // The upstream answers again: after the cool-down one request probes it, and its success closes the circuit.
  upstream.mode = 'pass'
  t.is((await fetchBody(otherBlob)).status, 503, 'still failing fast during the cool-down')
  await new Promise(resolve => setTimeout(resolve, COOLDOWN_MS - (performance.now() - openedAt) + 100))
  const probe = await fetchBody(otherBlob)
  t.is(probe.status, 200)
  t.is(`${probe.body.length}`, `${other.layers[0]?.size}`)
  t.is(await scrapeMetric(agent.url, 'shoal_agent_upstream_breaker_state', { endpoint }), 0, 'closed again')
})

test('a hanging endpoint and a refusing registry: one pass over both, not repeated (a retry would wait on the hang again)', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const hang = await startTcpSwitch(registry, { mode: 'hang' })
  t.teardown(hang.stop)
  const refusing = `http://${await deadRegistryHost()}`
  const agent = await startTestAgent({
    upstreams: [refusing],
    args: ['--insecure-registry', hang.host, '--upstream-endpoint', `${new URL(refusing).host}=${hang.url}`,
      '--upstream-response-timeout', `${RESPONSE_TIMEOUT_MS}ms`, '--upstream-failures', '10']
  })
  t.teardown(agent.stop)
  const started = performance.now()
  const res = await fetchBody(`${agent.url}/v2/team/app/manifests/v1`, { signal: AbortSignal.timeout(RESPONSE_TIMEOUT_MS * 10) })
  const elapsed = performance.now() - started
  t.is(res.status, 503)
  t.regex((JSON.parse(res.body.toString('utf8')) as OciErrorBody).errors?.[0]?.message ?? '', /cannot reach/)
  t.is(hang.hungConnections, 1, 'the hanging endpoint was asked once')
  t.true(elapsed < RESPONSE_TIMEOUT_MS + ANSWER_SLACK_MS, `answered in ${Math.round(elapsed)} ms`)
})
