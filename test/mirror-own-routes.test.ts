import test from 'ava'
import { request } from 'undici'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { scrapeMetrics } from './helpers/metrics.ts'

const REQUESTS = 'shoal_agent_requests_total'

test('/metrics, /healthz and /readyz are counted under routes of their own, not as invalid registry requests', async t => {
  const agent = await startTestAgent({ upstreams: [`http://${await deadRegistryHost()}`] })
  t.teardown(agent.stop)

  for (const path of ['/healthz', '/healthz', '/readyz', '/metrics']) {
    const res = await request(`${agent.url}${path}`, { signal: AbortSignal.timeout(10_000) })
    t.is(res.statusCode, 200, path)
    await res.body.dump()
  }
  const bad = await request(`${agent.url}/v2/Not..A..Name/manifests/latest`, { signal: AbortSignal.timeout(10_000) })
  t.is(bad.statusCode, 400)
  await bad.body.dump()

  // This scrape sees the requests above; its own is counted once it has been answered.
  const scrape = await scrapeMetrics(agent.url)
  t.is(scrape.value(REQUESTS, { route: 'healthz', method: 'GET', status: '200' }), 2)
  t.is(scrape.value(REQUESTS, { route: 'readyz', method: 'GET', status: '200' }), 1)
  t.is(scrape.value(REQUESTS, { route: 'metrics', method: 'GET', status: '200' }), 1)
  t.is(scrape.value(REQUESTS, { route: 'invalid', method: 'GET', status: '400' }), 1, 'a malformed registry path is still invalid')
  t.false(/route="invalid",method="GET",status="200"/.test(scrape.text), 'no 200 answer is counted as invalid')
  t.is(scrape.value('shoal_agent_request_seconds_count', { route: 'healthz' }), 2, 'each answer is timed under its route')
  t.is(scrape.value('shoal_agent_request_seconds_count', { route: 'invalid' }), 1)
})
