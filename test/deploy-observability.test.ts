import { execFile } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { skopeoCopy, verifyDirImage } from './fixtures/index.ts'
import { deadRegistryHost } from './helpers/agent.ts'
import type { TestAgent } from './helpers/agent.ts'
import { waitFor } from './helpers/http.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { pullBlob, setupCluster, startPeer } from './helpers/p2p-cluster.ts'
import { startPrometheus } from './helpers/prometheus.ts'
import type { PrometheusServer, QueryAnswer, Sample } from './helpers/prometheus.ts'
import { spawnScheduler } from './helpers/scheduler-process.ts'
import { tempDir } from './helpers/temp.ts'

const run = promisify(execFile)
const RULES = fileURLToPath(new URL('../deploy/prometheus/shoal-rules.yml', import.meta.url))
const RULE_TESTS = fileURLToPath(new URL('../deploy/prometheus/shoal-rules.test.yml', import.meta.url))
const SCRAPE_CONFIG = fileURLToPath(new URL('../deploy/prometheus/prometheus.yml', import.meta.url))
const DASHBOARD = fileURLToPath(new URL('../deploy/grafana/shoal-dashboard.json', import.meta.url))
/** The job names the rules select (and deploy/prometheus/prometheus.yml uses). */
const AGENT_JOB = 'shoal-agent'
const SCHEDULER_JOB = 'shoal-scheduler'

/** What Grafana puts for each template variable when everything is selected. */
const VARIABLES: Record<string, string> = {
  $job: AGENT_JOB,
  $instance: '.*',
  $scheduler_job: SCHEDULER_JOB,
  $__rate_interval: '1m',
  $__range: '5m'
}

interface Panel { id: number, title?: string, type: string, gridPos: { x: number, w: number }, datasource?: { uid?: string }, targets?: Array<{ expr: string, datasource?: { uid?: string } }>, panels?: Panel[] }
interface Dashboard { schemaVersion: number, panels: Panel[], templating: { list: Array<{ name: string, type: string, query?: string | { query: string } }> } }

function substitute (expr: string): string {
  // Longest names first: $__range must not eat the start of $__rate_interval.
  const names = Object.keys(VARIABLES).sort((a, b) => b.length - a.length)
  let out = expr
  for (const name of names) out = out.split(name).join(VARIABLES[name])
  if (out.includes('$')) throw new Error(`a template variable the test does not know: ${out}`)
  return out
}

function samples (answer: QueryAnswer): Sample[] {
  const result = answer.data?.result
  if (answer.data?.resultType === 'scalar' && result != null) return [{ metric: {}, value: result as [number, string] }]
  return (result as Sample[] | undefined) ?? []
}

test('promtool: the rules load, their unit tests pass, and the sample scrape config is valid', async t => {
  const check = await run('promtool', ['check', 'rules', RULES])
  t.regex(check.stdout, /SUCCESS: \d+ rules found/)
  const unit = await run('promtool', ['test', 'rules', RULE_TESTS])
  t.regex(unit.stdout, /SUCCESS/)
  const config = await run('promtool', ['check', 'config', SCRAPE_CONFIG])
  t.regex(config.stdout, /is valid prometheus config file syntax/)
})

test('a real Prometheus scraping a real agent pair and scheduler: every dashboard query is valid and has data after a pull; every rule evaluates', async t => {
  const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard
  const panels = dashboard.panels.flatMap(p => [p, ...p.panels ?? []]).filter(p => p.type !== 'row')
  const queries = panels.flatMap(p => (p.targets ?? []).map(target => ({ panel: p.title ?? '?', expr: target.expr, uid: target.datasource?.uid ?? p.datasource?.uid })))
  t.true(queries.length >= 20, `${queries.length} queries`)
  t.true(queries.every(q => q.uid === '${datasource}'), 'every query uses the datasource variable')
  t.true(dashboard.schemaVersion >= 36)
  const all = dashboard.panels.flatMap(p => [p, ...p.panels ?? []])
  t.is(new Set(all.map(p => p.id)).size, all.length, 'panel ids are unique')
  t.true(all.every(p => p.gridPos.x + p.gridPos.w <= 24), 'every panel fits the 24-column grid')
  t.deepEqual(dashboard.templating.list.map(v => v.name), ['datasource', 'job', 'instance', 'scheduler_job'])

  const cluster = await setupCluster(t)
  const scheduler = await spawnScheduler(t, { dataDir: await tempDir(t, 'observe-scheduler'), swarmKey: cluster.swarmKey })
  // Scraped as deploy/prometheus/prometheus.yml and the Kubernetes base do: on the metrics listener.
  const [seed, leech] = await Promise.all([0, 1].map(async () => startPeer(t, cluster, { args: ['--scheduler', scheduler.addr, '--metrics-listen', '127.0.0.1:0'] }))) as [TestAgent, TestAgent]
  await waitFor('both agents registered', () => seed.agent.schedulersConnected === 1 && leech.agent.schedulersConnected === 1)
  const metricsHost = (agent: TestAgent): string => new URL(agent.agent.metricsUrl ?? 'http://none').host
  const prometheus = await startPrometheus(t, {
    jobs: { [AGENT_JOB]: [metricsHost(seed), metricsHost(leech)], [SCHEDULER_JOB]: [new URL(scheduler.admin).host] },
    ruleFiles: [RULES]
  })
  await waitFor('all three targets up', async () => samples(await prometheus.query('up == 1')).length === 3)

  // Each counter grows in two steps with a scrape between them, so that rates and quantiles over
  // the window are numbers: a series first seen at its final value has a rate of 0.
  const ref = `${await deadRegistryHost()}/lib/p2p:v1`
  const pullImage = async (agent: TestAgent): Promise<void> => {
    const dest = await tempDir(t, 'observe-pull')
    await skopeoCopy({ image: ref, mirror: agent.host, destDir: dest })
    await verifyDirImage(dest, cluster.image)
  }
  const scraped = async (): Promise<void> => { await prometheus.scrapedSince(Date.now()) }
  await pullBlob(seed, cluster.digests[0] as string) // from the origin
  await scraped()
  await pullImage(seed) // the rest from the origin
  await pullBlob(leech, cluster.digests[0] as string) // from the seed
  await scraped()
  await pullImage(leech) // the other layer from the seed
  await pullImage(seed) // all local now
  await scraped()
  await pullImage(leech)
  await scraped()
  const peerBytes = (await scrapeMetrics(leech.url)).value('shoal_agent_blob_received_bytes_total', { source: 'peer' })
  t.true(peerBytes > 0, 'the leech took bytes from its peer')
  const inPrometheus = samples(await prometheus.query(`shoal_agent_blob_received_bytes_total{source="peer", instance="${metricsHost(leech)}"}`))
  t.is(Number(inPrometheus[0]?.value[1]), peerBytes, 'Prometheus has the last pull')

  const empty: string[] = []
  for (const { panel, expr } of queries) {
    const answer = await prometheus.query(substitute(expr))
    t.is(answer.status, 'success', `${panel}: ${expr}: ${answer.error ?? ''}`)
    const values = samples(answer).map(s => Number(s.value[1]))
    if (!values.some(Number.isFinite)) empty.push(`${panel}: ${expr} -> ${JSON.stringify(samples(answer))}`)
  }
  t.deepEqual(empty, [], 'every panel query returns a number')
  const peerShare = Number(samples(await prometheus.query(substitute(queries.find(q => q.panel === 'Origin egress saved')?.expr ?? '')))[0]?.value[1])
  t.true(peerShare > 0 && peerShare < 1, `peer share ${peerShare}: some bytes from the seed, some from the origin`)

  // The template variables' label_values(METRIC, LABEL) as the PromQL Grafana runs for them.
  for (const variable of dashboard.templating.list.filter(v => v.type === 'query')) {
    const query = typeof variable.query === 'string' ? variable.query : variable.query?.query ?? ''
    const match = /^label_values\((.+), (\w+)\)$/.exec(query)
    if (match == null) { t.fail(`variable ${variable.name}: ${query}`); continue }
    const values = samples(await prometheus.query(substitute(`count by (${match[2]}) (${match[1]})`))).map(s => s.metric[match[2] as string])
    t.true(values.length > 0 && values.every(v => v != null && v !== ''), `variable ${variable.name}: ${query} -> ${JSON.stringify(values)}`)
  }

  await checkRules(t, prometheus)
})

async function checkRules (t: ExecutionContext, prometheus: PrometheusServer): Promise<void> {
  await waitFor('every rule evaluated', async () => (await prometheus.rules()).every(r => !r.lastEvaluation.startsWith('0001-')), { timeoutMs: 10_000, intervalMs: 200 })
  const rules = await prometheus.rules()
  t.true(rules.filter(r => r.type === 'alerting').length >= 6, 'agent down, scheduler down, origin errors, cache full, bans, rounds')
  for (const rule of rules) {
    t.is(rule.health, 'ok', `${rule.name}: ${rule.lastError ?? ''}`)
    const answer = await prometheus.query(rule.query)
    t.is(answer.status, 'success', `${rule.name}: ${answer.error ?? ''}`)
  }
  // The recording rules have data from the live agents (the upstream error ratio is 0: no errors).
  for (const rule of rules.filter(r => r.type === 'recording')) {
    t.true(samples(await prometheus.query(rule.name)).length > 0, `${rule.name} recorded`)
  }
}
