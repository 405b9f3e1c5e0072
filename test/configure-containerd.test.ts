/**
 * `shoal configure containerd` against the real client: a containerd 1.6 of the test's own pulls
 * with `ctr images pull --hosts-dir` from the hosts.toml files the command wrote.
 */
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import test from 'ava'
import { pushImage, startContainerd, startRegistry, tarLayer } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'
import { runConfigure } from './helpers/configure.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { tempDir } from './helpers/temp.ts'

test('a plain-HTTP registry from the agent\'s config: containerd pulls through the agent, and from the registry over HTTP when the agent is down', async t => {
  const origin = await startRegistry()
  t.teardown(origin.stop)
  const v1 = await pushImage(origin, { name: 'test/a', tag: 'v1', format: 'oci', layers: [tarLayer({ 'etc/version': '1\n' })] })
  const v2 = await pushImage(origin, { name: 'test/a', tag: 'v2', format: 'oci', layers: [tarLayer({ 'etc/version': '2\n' })] })
  const agent = await startTestAgent({ upstreams: [origin.url] })
  let agentRunning = true
  t.teardown(async () => { if (agentRunning) await agent.stop() })
  const containerd = await startContainerd()
  t.teardown(containerd.stop)

  // The agent's own config file: the registry is insecure, so the agent speaks plain HTTP to it.
  const root = await tempDir(t, 'configure-containerd')
  const agentConfig = join(root, 'agent.yaml')
  await writeFile(agentConfig, `upstreams: [${JSON.stringify(origin.host)}]\ninsecureRegistries: [${JSON.stringify(origin.host)}]\n`)
  const configured = await runConfigure(['containerd', '--root', root, '--mirror', agent.host, '--config', agentConfig])
  t.is(configured.code, 0, configured.stderr.join('\n'))
  const hostsDir = join(root, 'etc/containerd/certs.d')

  const throughAgent = await containerd.pull({ image: `${origin.host}/test/a:v1`, hostsDir })
  t.is(throughAgent.digest, v1.manifestDigest)
  t.is((await scrapeMetrics(agent.url)).value('shoal_agent_manifest_cache_total', { result: 'miss' }), 1)

  await agent.stop()
  agentRunning = false
  // containerd tries the agent, then `server`: an https:// server here fails with "server gave HTTP
  // response to HTTPS client".
  const direct = await containerd.pull({ image: `${origin.host}/test/a:v2`, hostsDir })
  t.is(direct.digest, v2.manifestDigest)
})
