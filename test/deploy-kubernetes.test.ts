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
import { containerView, resolvePort } from './helpers/pod-view.ts'
import { tempDir } from './helpers/temp.ts'

const missing = await kubectlMissing()
if (missing != null) console.warn(`deploy-kubernetes: skipped: ${missing}`)
const check = missing == null ? test : test.skip

check('the base renders; every object is valid against its schema, with no unknown field', async t => {
  const objects = await loadBase()
  t.deepEqual(objects.map(o => o.kind).sort(), ['ConfigMap', 'DaemonSet', 'Namespace', 'PrometheusRule', 'Secret', 'Service', 'Service', 'Service', 'ServiceMonitor', 'StatefulSet'])
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
  const view = await containerView(t, objects, pod, agent)
  t.is(view.args[0], 'agent')
  const config = await resolveAgentConfig({ argv: view.args.slice(1), env: {} })
  const args = agent.args ?? []

  // The mirror: loopback, where containerd on the node reaches it and the kubelet probes it.
  t.is(config.listen.host, '127.0.0.1')
  t.is(resolvePort(agent, 'mirror'), config.listen.port)
  t.is(agent.livenessProbe?.httpGet?.path, '/healthz')
  t.is(agent.readinessProbe?.httpGet?.path, '/readyz')
  for (const probe of [agent.livenessProbe, agent.readinessProbe]) {
    t.is(resolvePort(agent, probe?.httpGet?.port ?? -1), config.listen.port)
    t.is(probe?.httpGet?.host, config.listen.host)
  }

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
  const view = await containerView(t, objects, pod, agent)
  // The same args on this machine: listeners on loopback ports the OS chooses, and the cluster's
  // names asked of a DNS server on loopback that knows none of them.
  const argv = view.args.slice(1).map(a => a.startsWith('--listen=') ? '--listen=127.0.0.1:0' : a.startsWith('--p2p-listen=') ? '--p2p-listen=/ip4/127.0.0.1/tcp/0' : a)
  const dns = await startDnsServer()
  t.teardown(dns.stop)
  const dnsResolver = new Resolver({ timeout: 1_000, tries: 1 })
  dnsResolver.setServers([dns.address])
  const running = new Agent({ config: await resolveAgentConfig({ argv, env: {} }), dnsResolver, logger: testLogger() })
  await running.start()
  t.teardown(async () => { await running.stop() })
  for (const probe of [agent.livenessProbe, agent.readinessProbe]) {
    const res = await fetch(new URL(probe?.httpGet?.path ?? '/none', running.url))
    t.is(res.status, 200, probe?.httpGet?.path)
  }
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
  const agentView = await containerView(t, objects, pod, agent)
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
