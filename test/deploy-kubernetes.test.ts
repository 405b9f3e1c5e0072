/**
 * deploy/kubernetes as `kubectl kustomize` renders it: every object valid against its schema, and
 * the agent's manifests checked against the real code: its args and the init container's parse
 * with the real parsers and agree with the ports, probes, mounts and Services.
 */
import { Resolver } from 'node:dns/promises'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { Agent, resolveAgentConfig } from '@shoal/agent'
import { loadSwarmKey } from '@shoal/p2p'
import { startDnsServer } from './fixtures/index.ts'
import { container, flagValue, kubectlMissing, loadBase, renderOverlay, selects, serviceForDnsName, tcpPort } from './helpers/deploy-base.ts'
import type { ServiceObject, Workload } from './helpers/deploy-base.ts'
import { testLogger } from './helpers/agent.ts'
import { runConfigure } from './helpers/configure.ts'
import { unknownFields } from './helpers/k8s-fields.ts'
import { findObject, validateObject } from './helpers/kustomize.ts'
import type { K8sObject } from './helpers/kustomize.ts'
import { containerView, resolvePort } from './helpers/pod-view.ts'
import { tempDir } from './helpers/temp.ts'

/** What stands in for the agent pod's address (on the host network: its node's) where args are only parsed. */
const NODE_IP = '10.1.2.3'

interface MonitorObject extends K8sObject { spec: { selector: { matchLabels: Record<string, string> }, endpoints: Array<{ port: string, path?: string }> } }
interface RuleObject extends K8sObject { spec: { groups: Array<{ rules: Array<{ expr: string }> }> } }

const missing = await kubectlMissing()
if (missing != null) console.warn(`deploy-kubernetes: skipped: ${missing}`)
const check = missing == null ? test : test.skip

check('the base renders; every object is valid against its schema, with no unknown field', async t => {
  const objects = await loadBase()
  t.deepEqual(objects.map(o => o.kind).sort(), ['ConfigMap', 'DaemonSet', 'Namespace', 'PrometheusRule', 'Secret', 'Service', 'Service', 'Service', 'ServiceMonitor', 'ServiceMonitor', 'StatefulSet'])
  for (const obj of objects) {
    t.notThrows(() => { validateObject(obj) }, `${obj.kind} ${obj.metadata.name}`)
    t.deepEqual(unknownFields(obj), [])
    t.is(obj.metadata.namespace, obj.kind === 'Namespace' ? undefined : 'shoal', `${obj.kind} ${obj.metadata.name}`)
  }
})

check('the agent runs on every node, on the host network, as tight as its role allows', async t => {
  const ds = findObject<Workload>(await loadBase(), 'DaemonSet', 'shoal-agent')
  const pod = ds.spec.template.spec
  t.is(pod.hostNetwork, true)
  t.is(pod.dnsPolicy, 'ClusterFirstWithHostNet')
  t.is(pod.priorityClassName, 'system-node-critical')
  t.deepEqual(pod.tolerations, [{ operator: 'Exists' }])
  t.is(pod.automountServiceAccountToken, false)
  t.true(selects(ds.spec.selector.matchLabels, ds.spec.template.metadata.labels))
  for (const c of [...pod.initContainers ?? [], ...pod.containers]) {
    t.truthy(c.resources?.requests?.cpu, c.name)
    t.truthy(c.resources?.requests?.memory, c.name)
    t.truthy(c.resources?.limits?.cpu, c.name)
    t.truthy(c.resources?.limits?.memory, c.name)
    t.like(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } }, c.name)
    t.is(c.securityContext?.capabilities?.add, undefined, c.name)
    t.not(c.securityContext?.privileged, true, c.name)
  }
  t.like(pod.securityContext, { seccompProfile: { type: 'RuntimeDefault' } })
})

check('the agent\'s args parse with its real parser and agree with its ports, probes, mounts and Services', async t => {
  const objects = await loadBase()
  const ds = findObject<Workload>(objects, 'DaemonSet', 'shoal-agent')
  const pod = ds.spec.template.spec
  const agent = container(pod, 'agent')
  const view = await containerView(t, objects, pod, agent, { fields: { 'status.podIP': NODE_IP } })
  t.is(view.args[0], 'agent')
  const config = await resolveAgentConfig({ argv: view.args.slice(1), env: {} })
  const args = agent.args ?? []

  // The mirror: loopback, where containerd on the node reaches it and nobody else.
  t.is(config.listen.host, '127.0.0.1')
  t.is(resolvePort(agent, 'mirror'), config.listen.port)
  // The metrics listener: on the pod's address (the node's), where the Service's endpoints point and
  // the kubelet probes (a probe without a host goes to the pod's address).
  t.deepEqual(agent.env?.find(e => e.name === 'POD_IP')?.valueFrom, { fieldRef: { fieldPath: 'status.podIP' } })
  t.is(config.metricsListen?.host, NODE_IP)
  t.is(resolvePort(agent, 'metrics'), config.metricsListen?.port)
  t.is(agent.livenessProbe?.httpGet?.path, '/healthz')
  t.is(agent.readinessProbe?.httpGet?.path, '/readyz')
  for (const probe of [agent.livenessProbe, agent.readinessProbe]) {
    t.is(resolvePort(agent, probe?.httpGet?.port ?? -1), config.metricsListen?.port)
    t.is(probe?.httpGet?.host, undefined)
  }
  // No port of one shoal pod is another's: agents and the scheduler may share a node.
  const ports = objects.filter(o => o.kind === 'DaemonSet' || o.kind === 'StatefulSet')
    .flatMap(w => (w as Workload).spec.template.spec.containers.flatMap(c => (c.ports ?? []).map(p => p.containerPort)))
  t.is(new Set(ports).size, ports.length, `ports ${ports.join(', ')}`)

  // Peers on the port the headless Service names and agents bootstrap from.
  const p2pPort = tcpPort(config.p2p?.listen[0] ?? '')
  t.is(resolvePort(agent, 'p2p'), p2pPort)
  const bootstrap = config.p2p?.bootstrapDns[0]
  const agents = bootstrap == null ? undefined : serviceForDnsName(objects, bootstrap.name)
  t.is(agents?.spec.clusterIP, 'None', 'bootstrap names a headless Service')
  t.true(selects(agents?.spec.selector, ds.spec.template.metadata.labels))
  const agentPort = agents?.spec.ports.find(p => p.port === bootstrap?.port)
  t.is(resolvePort(agent, agentPort?.targetPort ?? -1), p2pPort)

  // The scheduler by DNS: a headless Service in front of the scheduler pod's p2p port.
  const schedulerTarget = config.p2p?.schedulerDns[0]
  const schedulers = schedulerTarget == null ? undefined : serviceForDnsName(objects, schedulerTarget.name)
  t.is(schedulers?.spec.clusterIP, 'None', '--scheduler names a headless Service')
  const sts = findObject<Workload>(objects, 'StatefulSet', 'shoal-scheduler')
  t.true(selects(schedulers?.spec.selector, sts.spec.template.metadata.labels))
  const schedulerPort = schedulers?.spec.ports.find(p => p.port === schedulerTarget?.port)
  const scheduler = container(sts.spec.template.spec, 'scheduler')
  t.is(resolvePort(scheduler, schedulerPort?.targetPort ?? -1), tcpPort(flagValue(scheduler.args ?? [], 'listen') ?? ''))

  // Files the args name are on the right mounts: the data dir on the host and writable, the join
  // token from the membership Secret (membership by scheduler), the config from its ConfigMap.
  const data = view.mountOf(flagValue(args, 'data-dir') ?? '')
  t.like(data, { readOnly: false, volume: { hostPath: { path: '/var/lib/shoal', type: 'DirectoryOrCreate' } } })
  t.is(config.p2p?.membership.kind, 'scheduler')
  const token = view.mountOf(flagValue(args, 'join-token') ?? '')
  t.truthy(token?.volume?.secret, 'the join token comes from a Secret')
  // The swarm key too; the base's placeholder is one the agent refuses at start.
  t.is(config.p2p?.swarmKeyFile, join(view.mountOf(flagValue(args, 'swarm-key') ?? '')?.dir ?? '', 'swarm.key'))
  t.truthy(view.mountOf(flagValue(args, 'swarm-key') ?? '')?.volume?.secret, 'the swarm key comes from a Secret')
  await t.throwsAsync(loadSwarmKey(config.p2p?.swarmKeyFile ?? ''), { name: 'SwarmKeyError' })
  t.truthy(view.mountOf(flagValue(args, 'config') ?? '')?.volume?.configMap, 'the config comes from a ConfigMap')
  t.not(await readFile(join(token?.dir ?? '', 'join-token'), 'utf8'), '')
})

check('a real agent started with the DaemonSet\'s args and an overlay\'s secrets answers its probes with 200', async t => {
  const { objects } = await renderOverlay(t)
  const pod = findObject<Workload>(objects, 'DaemonSet', 'shoal-agent').spec.template.spec
  const agent = container(pod, 'agent')
  // This machine's loopback stands in for the node's address.
  const view = await containerView(t, objects, pod, agent, { fields: { 'status.podIP': '127.0.0.1' } })
  // The same args on this machine: listeners on loopback ports the OS chooses, and the cluster's
  // names asked of a DNS server on loopback that knows none of them.
  const argv = view.args.slice(1).map(a => a.startsWith('--listen=') ? '--listen=127.0.0.1:0' : a.startsWith('--p2p-listen=') ? '--p2p-listen=/ip4/127.0.0.1/tcp/0' : a.startsWith('--metrics-listen=') ? a.replace(/:\d+$/, ':0') : a)
  const dns = await startDnsServer()
  t.teardown(dns.stop)
  const dnsResolver = new Resolver({ timeout: 1_000, tries: 1 })
  dnsResolver.setServers([dns.address])
  const running = new Agent({ config: await resolveAgentConfig({ argv, env: {} }), dnsResolver, logger: testLogger() })
  await running.start()
  t.teardown(async () => { await running.stop() })
  const metricsUrl = running.metricsUrl ?? ''
  t.regex(metricsUrl, /^http:\/\/127\.0\.0\.1:\d+$/)
  for (const probe of [agent.livenessProbe, agent.readinessProbe]) {
    const res = await fetch(new URL(probe?.httpGet?.path ?? '/none', metricsUrl))
    t.is(res.status, 200, probe?.httpGet?.path)
  }
  // What the ServiceMonitor scrapes there: every agent metric the rules use (a histogram by its base name).
  const monitor = findObject<MonitorObject>(objects, 'ServiceMonitor', 'shoal-agent')
  const scrape = await fetch(new URL(monitor.spec.endpoints[0]?.path ?? '/metrics', metricsUrl))
  t.is(scrape.status, 200)
  const body = await scrape.text()
  const rules = findObject<RuleObject>(objects, 'PrometheusRule', 'shoal')
  const used = rules.spec.groups.flatMap(g => g.rules).flatMap(r => [...r.expr.matchAll(/(?<![\w:])(shoal_agent_[a-z0-9_]+)(?![\w:])/g)].map(m => m[1] ?? ''))
  t.true(used.length > 0)
  for (const name of used) {
    t.regex(body, new RegExp(`^# TYPE ${name.replace(/_(bucket|count|sum)$/, '')} `, 'm'), `${name} is not among the agent's metrics`)
  }
  // And no registry API: the port is reachable from other hosts.
  t.is((await fetch(new URL('/v2/', metricsUrl))).status, 404)
})

check('the ServiceMonitors scrape named ports of Services that reach the listeners the args open; each rule\'s job is one of those Services', async t => {
  const objects = await loadBase()
  const services = objects.filter(o => o.kind === 'Service') as ServiceObject[]
  const workloads = objects.filter(o => o.kind === 'DaemonSet' || o.kind === 'StatefulSet') as Workload[]
  const jobs = new Set<string>()
  for (const monitor of objects.filter(o => o.kind === 'ServiceMonitor') as MonitorObject[]) {
    const selected = services.filter(s => selects(monitor.spec.selector.matchLabels, s.metadata.labels))
    t.true(selected.length > 0, `${monitor.metadata.name} selects no Service`)
    for (const endpoint of monitor.spec.endpoints) {
      t.is(endpoint.path ?? '/metrics', '/metrics')
      for (const service of selected) {
        const port = service.spec.ports.find(p => p.name === endpoint.port)
        t.truthy(port, `${monitor.metadata.name}: Service ${service.metadata.name} has no port named ${endpoint.port}`)
        const pods = workloads.filter(w => selects(service.spec.selector, w.spec.template.metadata.labels))
        t.true(pods.length > 0 && pods.every(w => w.spec.template.spec.containers.some(c => resolvePort(c, port?.targetPort ?? -1) != null)), `${service.metadata.name} ${endpoint.port}`)
        jobs.add(service.metadata.name)
      }
    }
  }
  // The agents' monitor reaches the port their --metrics-listen opens.
  const ds = findObject<Workload>(objects, 'DaemonSet', 'shoal-agent')
  const agent = container(ds.spec.template.spec, 'agent')
  const view = await containerView(t, objects, ds.spec.template.spec, agent, { fields: { 'status.podIP': NODE_IP } })
  const config = await resolveAgentConfig({ argv: view.args.slice(1), env: {} })
  const agentMonitor = findObject<MonitorObject>(objects, 'ServiceMonitor', 'shoal-agent')
  const agentService = services.find(s => selects(agentMonitor.spec.selector.matchLabels, s.metadata.labels))
  const metricsPort = agentService?.spec.ports.find(p => p.name === agentMonitor.spec.endpoints[0]?.port)
  t.is(resolvePort(agent, metricsPort?.targetPort ?? -1), config.metricsListen?.port)
  // The Prometheus Operator names a job after the Service: every job the rules select is scraped.
  const rules = findObject<RuleObject>(objects, 'PrometheusRule', 'shoal')
  const ruleJobs = new Set(rules.spec.groups.flatMap(g => g.rules).flatMap(r => [...r.expr.matchAll(/job="([^"]+)"/g)].map(m => m[1] ?? '')))
  t.deepEqual([...ruleJobs].sort(), ['shoal-agent', 'shoal-scheduler'])
  for (const job of ruleJobs) t.true(jobs.has(job), `job "${job}" is no Service a ServiceMonitor scrapes`)
})

check('the init container points containerd on the host at the agent, for every upstream', async t => {
  const objects = await loadBase()
  const pod = findObject<Workload>(objects, 'DaemonSet', 'shoal-agent').spec.template.spec
  const init = container(pod, 'configure-containerd', true)
  const agent = container(pod, 'agent')
  const view = await containerView(t, objects, pod, init)
  t.deepEqual(view.args.slice(0, 2), ['configure', 'containerd'])
  const hostRoot = flagValue(init.args ?? [], 'root') ?? ''
  // The files land under --root in the host's /etc/containerd/certs.d, mounted writable.
  const certs = view.mountOf(`${hostRoot}/etc/containerd/certs.d/docker.io/hosts.toml`)
  t.like(certs, { readOnly: false, mountPath: `${hostRoot.replace(/\/$/, '')}/etc/containerd/certs.d`, volume: { hostPath: { path: '/etc/containerd/certs.d' } } })

  const root = await tempDir(t, 'configure-root')
  const run = await runConfigure(view.args.slice(1).map(a => a.startsWith('--root=') ? `--root=${root}` : a))
  t.is(run.code, 0, run.stderr.join('\n'))
  const agentView = await containerView(t, objects, pod, agent, { fields: { 'status.podIP': NODE_IP } })
  const config = await resolveAgentConfig({ argv: agentView.args.slice(1), env: {} })
  t.true(config.upstreams.length > 0)
  for (const upstream of config.upstreams) {
    const hosts = await readFile(join(root, 'etc/containerd/certs.d', upstream.host, 'hosts.toml'), 'utf8')
    t.true(hosts.includes(`[host."http://${config.listen.host}:${config.listen.port}"]`), hosts)
  }
})

check('every Service selects pods of the render and targets ports they declare', async t => {
  const objects = await loadBase()
  const workloads = objects.filter(o => o.kind === 'DaemonSet' || o.kind === 'StatefulSet') as Workload[]
  for (const service of objects.filter(o => o.kind === 'Service') as ServiceObject[]) {
    const targets = workloads.filter(w => selects(service.spec.selector, w.spec.template.metadata.labels))
    t.true(targets.length > 0, `${service.metadata.name} selects no pod`)
    for (const port of service.spec.ports) {
      const found = targets.some(w => w.spec.template.spec.containers.some(c => resolvePort(c, port.targetPort ?? port.port) != null))
      t.true(found, `${service.metadata.name} port ${port.name ?? port.port}`)
    }
  }
})
