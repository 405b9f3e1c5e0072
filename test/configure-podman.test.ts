/**
 * `shoal configure podman` against the real client: podman 4 reads the registries.conf the command
 * wrote (CONTAINERS_REGISTRIES_CONF) and pulls through a real agent from real registries.
 */
import { join } from 'node:path'
import test from 'ava'
import { podmanPull, pushImage, startRegistry, tarLayer } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { runConfigure } from './helpers/configure.ts'
import { scrapeMetrics } from './helpers/metrics.ts'
import { tempDir } from './helpers/temp.ts'

test('two registries with ports, one agent: podman gets each registry\'s own image through the agent', async t => {
  const a = await startRegistry()
  t.teardown(a.stop)
  const b = await startRegistry()
  t.teardown(b.stop)
  // The same name and tag in both registries, different content.
  const imageA = await pushImage(a, { name: 'test/a', tag: 'v1', format: 'docker', layers: [tarLayer({ 'etc/origin': 'A\n' })] })
  const imageB = await pushImage(b, { name: 'test/a', tag: 'v1', format: 'docker', layers: [tarLayer({ 'etc/origin': 'B\n' })] })
  t.not(imageA.manifestDigest, imageB.manifestDigest)
  const agent = await startTestAgent({ upstreams: [a.url, b.url] })
  t.teardown(agent.stop)

  const root = await tempDir(t, 'configure-podman')
  const configured = await runConfigure(['podman', '--root', root, '--mirror', agent.host, '--registry', a.host, '--registry', b.host])
  t.is(configured.code, 0, configured.stderr.join('\n'))
  const registriesConf = join(root, 'etc/containers/registries.conf')

  const pulledB = await podmanPull({ image: `${b.host}/test/a:v1`, registriesConf })
  t.is(pulledB.digest, imageB.manifestDigest, `podman got ${pulledB.digest}; A's is ${imageA.manifestDigest}`)
  const pulledA = await podmanPull({ image: `${a.host}/test/a:v1`, registriesConf })
  t.is(pulledA.digest, imageA.manifestDigest)
  // Both came through the agent (podman falls back to the registry when the mirror fails).
  const metrics = await scrapeMetrics(agent.url)
  t.is(metrics.value('shoal_agent_manifest_cache_total', { result: 'miss' }), 2)
})

test('agent down: podman pulls from a plain-HTTP registry itself, marked insecure from the agent\'s settings', async t => {
  const origin = await startRegistry()
  t.teardown(origin.stop)
  const image = await pushImage(origin, { name: 'test/a', tag: 'v1', format: 'oci', layers: [tarLayer({ 'etc/origin': 'direct\n' })] })
  const root = await tempDir(t, 'configure-podman-down')
  // Nothing listens at the mirror address: the agent is down.
  const configured = await runConfigure(['podman', '--root', root, '--mirror', await deadRegistryHost(), '--upstream', origin.host, '--insecure-registry', origin.host])
  t.is(configured.code, 0, configured.stderr.join('\n'))
  // Without insecure = true on the registry itself, podman would try HTTPS only ("server gave HTTP response to HTTPS client").
  const pulled = await podmanPull({ image: `${origin.host}/test/a:v1`, registriesConf: join(root, 'etc/containers/registries.conf') })
  t.is(pulled.digest, image.manifestDigest)
})
