/**
 * deploy/kubernetes, the scheduler's side: its args parse with the real parser and agree with its
 * ports, probes, mounts and Services; the shipped join token placeholder keeps it from starting;
 * an overlay's token starts it, and it serves what the ServiceMonitor and the PrometheusRule expect.
 */
import { execFile } from 'node:child_process'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import test from 'ava'
import { parse } from 'yaml'
import type { ExecutionContext } from 'ava'
import { generateSwarmKey } from '@shoal/p2p'
import { JoinTokens } from '@shoal/scheduler'
import { resolveSchedulerConfig } from '@shoal/scheduler/cli'
import { container, flagValue, kubectlMissing, loadBase, renderOverlay, selects } from './helpers/deploy-base.ts'
import type { ServiceObject, Workload } from './helpers/deploy-base.ts'
import { findObject } from './helpers/kustomize.ts'
import type { K8sObject } from './helpers/kustomize.ts'
import { containerView, resolvePort } from './helpers/pod-view.ts'
import type { ContainerView } from './helpers/pod-view.ts'
import { PROMETHEUS_RULE_FILE, RULES_FILE, renderPrometheusRule } from '../scripts/gen-prometheusrule.ts'
import { spawnShoal } from './helpers/shoal-process.ts'
import { tempDir } from './helpers/temp.ts'

const run = promisify(execFile)
const missing = await kubectlMissing()
if (missing != null) console.warn(`deploy-kubernetes-scheduler: skipped: ${missing}`)
const check = missing == null ? test : test.skip
const promtool = await run('promtool', ['--version']).then(() => true, () => false)
if (missing == null && !promtool) console.warn('deploy-kubernetes-scheduler: promtool is not on PATH (Debian: prometheus): the rules are not checked with it')

interface Rule { alert: string, expr: string }
interface RuleObject extends K8sObject { spec: { groups: Array<{ name: string, rules: Rule[] }> } }
interface MonitorObject extends K8sObject { spec: { selector: { matchLabels: Record<string, string> }, endpoints: Array<{ port: string, path?: string }> } }

async function schedulerView (t: ExecutionContext, objects: K8sObject[]): Promise<{ sts: Workload, view: ContainerView }> {
  const sts = findObject<Workload>(objects, 'StatefulSet', 'shoal-scheduler')
  const pod = sts.spec.template.spec
  const claims = (sts.spec.volumeClaimTemplates ?? []).map(c => c.metadata.name)
  return { sts, view: await containerView(t, objects, pod, container(pod, 'scheduler'), { claims }) }
}

/** The scheduler's args with its listeners moved to loopback ports the OS chooses. */
function onLoopback (args: string[]): string[] {
  return args.map(a => a.startsWith('--listen=') ? '--listen=/ip4/127.0.0.1/tcp/0' : a.startsWith('--admin=') ? '--admin=127.0.0.1:0' : a)
}

check('the scheduler\'s args parse with its real parser and agree with its ports, probes, mounts and Services', async t => {
  const objects = await loadBase()
  const { sts, view } = await schedulerView(t, objects)
  const pod = sts.spec.template.spec
  const scheduler = container(pod, 'scheduler')
  t.is(view.args[0], 'scheduler')
  const config = resolveSchedulerConfig(view.args.slice(1), {})
  t.is(resolvePort(scheduler, 'admin'), config.admin.port)
  for (const probe of [scheduler.livenessProbe, scheduler.readinessProbe]) {
    t.is(probe?.httpGet?.path, '/healthz')
    t.is(resolvePort(scheduler, probe?.httpGet?.port ?? -1), config.admin.port)
  }
  t.is(resolvePort(scheduler, 'p2p'), Number(/\/tcp\/(\d+)/.exec(config.listen[0] ?? '')?.[1]))
  const args = scheduler.args ?? []
  t.like(view.mountOf(flagValue(args, 'data-dir') ?? ''), { readOnly: false, volumeClaim: 'data' })
  t.truthy(view.mountOf(flagValue(args, 'join-tokens') ?? '')?.volume?.secret, 'join tokens come from a Secret')
  // Headless, so its DNS name answers the pod's address (agents dial it as dns:NAME:PORT).
  const headless = findObject<ServiceObject>(objects, 'Service', sts.spec.serviceName ?? '')
  t.is(headless.spec.clusterIP, 'None')
  t.true(selects(headless.spec.selector, sts.spec.template.metadata.labels))
  t.like(pod.securityContext, { runAsNonRoot: true, runAsUser: 65532, fsGroup: 65532, seccompProfile: { type: 'RuntimeDefault' } })
  t.like(scheduler.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } })
})

check('the shipped secrets are placeholders the real scheduler refuses to start with', async t => {
  const { sts, view } = await schedulerView(t, await loadBase())
  const start = async (): Promise<unknown> => await spawnShoal(t, { what: 'shoal scheduler', args: onLoopback(view.args), ready: out => /admin at/.test(out) ? true : undefined })
  const badKey = await t.throwsAsync(start())
  t.regex(badKey?.message ?? '', /exited \(code 1.*swarm key \S+swarm\.key: expected 3 lines/s)
  // With a real swarm key in its place, the join token placeholder stops it.
  const keyFile = flagValue(container(sts.spec.template.spec, 'scheduler').args ?? [], 'swarm-key') ?? ''
  await writeFile(join(view.mountOf(keyFile)?.dir ?? '', 'swarm.key'), generateSwarmKey())
  const badToken = await t.throwsAsync(start())
  t.regex(badToken?.message ?? '', /exited \(code 2.*a token must be 16 to 256 characters \(for example: openssl rand -base64 32\)/s)
})

check('with an overlay\'s join token and swarm key the real scheduler starts and serves the probes, the ServiceMonitor and the rules', async t => {
  const { objects, joinToken: token } = await renderOverlay(t)
  const { sts, view } = await schedulerView(t, objects)
  const scheduler = container(sts.spec.template.spec, 'scheduler')
  const tokens = new JoinTokens(join(view.mountOf(flagValue(scheduler.args ?? [], 'join-tokens') ?? '')?.dir ?? '', 'join-token'))
  t.is(await tokens.load(), 1)
  t.truthy(await tokens.check(token))

  const started = await spawnShoal(t, { what: 'shoal scheduler', args: onLoopback(view.args), ready: out => /admin at (http:\/\/\S+)/.exec(out)?.[1] })
  t.regex(started.stdout(), /agents presenting a join token from .* are admitted/)
  for (const probe of [scheduler.livenessProbe, scheduler.readinessProbe]) {
    t.is((await fetch(new URL(probe?.httpGet?.path ?? '/none', started.ready))).status, 200)
  }
  const monitor = findObject<MonitorObject>(objects, 'ServiceMonitor', 'shoal-scheduler')
  const metrics = await fetch(new URL(monitor.spec.endpoints[0]?.path ?? '/metrics', started.ready))
  t.is(metrics.status, 200)
  const body = await metrics.text()
  // Every scheduler metric the rules use is one the scheduler exports (a histogram by its base name).
  const rules = findObject<RuleObject>(objects, 'PrometheusRule', 'shoal')
  const used = rules.spec.groups.flatMap(g => g.rules).flatMap(r => [...r.expr.matchAll(/\b(shoal_scheduler_[a-z0-9_]+)/g)].map(m => m[1] ?? ''))
  t.true(used.length > 0)
  for (const name of used) {
    t.regex(body, new RegExp(`^# TYPE ${name.replace(/_(bucket|count|sum)$/, '')} `, 'm'), `${name} is not among the scheduler's metrics`)
  }
})

check('the PrometheusRule is deploy/prometheus/shoal-rules.yml, as gen:k8s-rules writes it', async t => {
  const committed = await readFile(PROMETHEUS_RULE_FILE, 'utf8')
  const rules = await readFile(RULES_FILE, 'utf8')
  t.is(committed, renderPrometheusRule(rules), 'run pnpm gen:k8s-rules')
  const rendered = findObject<RuleObject>(await loadBase(), 'PrometheusRule', 'shoal')
  t.deepEqual(rendered.spec.groups, (parse(rules) as { groups: unknown }).groups)
})

check('the ServiceMonitor scrapes a named port of a Service that reaches the scheduler\'s admin listener', async t => {
  const objects = await loadBase()
  const monitor = findObject<MonitorObject>(objects, 'ServiceMonitor', 'shoal-scheduler')
  const services = (objects.filter(o => o.kind === 'Service') as ServiceObject[]).filter(s => selects(monitor.spec.selector.matchLabels, s.metadata.labels))
  t.true(services.length > 0, 'the ServiceMonitor selects no Service')
  const { sts, view } = await schedulerView(t, objects)
  const admin = resolveSchedulerConfig(view.args.slice(1), {}).admin
  for (const endpoint of monitor.spec.endpoints) {
    t.is(endpoint.path ?? '/metrics', '/metrics')
    const port = services.flatMap(s => s.spec.ports.map(p => ({ s, p }))).find(({ p }) => p.name === endpoint.port)
    t.truthy(port, `no selected Service has a port named ${endpoint.port}`)
    t.true(selects(port?.s.spec.selector, sts.spec.template.metadata.labels))
    t.is(resolvePort(container(sts.spec.template.spec, 'scheduler'), port?.p.targetPort ?? -1), admin.port)
  }
  // Prometheus Operator names the job after the Service: the rules select that name (every job's
  // Service is checked in deploy-kubernetes.test.ts).
  t.true(services.some(s => s.metadata.name === 'shoal-scheduler'))
})

;(promtool ? check : test.skip)('promtool accepts the PrometheusRule\'s groups', async t => {
  const rules = findObject<RuleObject>(await loadBase(), 'PrometheusRule', 'shoal')
  const file = join(await tempDir(t, 'rules'), 'rules.json')
  await writeFile(file, JSON.stringify({ groups: rules.spec.groups }))
  const { stdout } = await run('promtool', ['check', 'rules', file])
  t.regex(stdout, /SUCCESS: \d+ rules found/)
})
