/**
 * Stale-on-error across clients: a manifest one runtime pulled is served, with the origin down, to
 * every client whose Accept admits its media type (issue 10, item 3). containerd pulls first, then
 * skopeo, whose Accept is another list.
 */
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { MEDIA_TYPES, skopeoCopy, startContainerd, tarLayer, verifyDirImage } from './fixtures/index.ts'
import { runConfigure } from './helpers/configure.ts'
import { fetchBody, scrapeMetric } from './helpers/http.ts'
import { startMirroredOrigin } from './helpers/mirrored-origin.ts'
import { tempDir } from './helpers/temp.ts'

const MANIFEST_TTL = '100ms'
const PAST_TTL_MS = 300
const SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+prettyjws'

test('origin down: the manifest containerd pulled is served to skopeo; a schema1-only client is told why not', async t => {
  const { origin, image, agent } = await startMirroredOrigin(t, {
    image: { name: 'team/app', tag: 'v1', format: 'docker', layers: [tarLayer({ 'etc/app': 'v1\n' })] },
    agent: { args: ['--manifest-ttl', MANIFEST_TTL] }
  })
  const containerd = await startContainerd()
  t.teardown(containerd.stop)

  const root = await tempDir(t, 'stale-accept')
  const configured = await runConfigure(['containerd', '--root', root, '--mirror', agent.host, '--upstream', origin.url, '--insecure-registry', origin.host])
  t.is(configured.code, 0, configured.stderr.join('\n'))
  const pulled = await containerd.pull({ image: `${origin.host}/team/app:v1`, hostsDir: join(root, 'etc/containerd/certs.d') })
  t.is(pulled.digest, image.manifestDigest)

  await sleep(PAST_TTL_MS)
  origin.mode = 'down'
  // skopeo's Accept lists other types than containerd's (OCI and schema1 too, no */*), so the
  // answer cached for containerd's Accept is not the same key; its media type is admitted all the same.
  const dest = await tempDir(t, 'stale-accept-skopeo')
  await skopeoCopy({ image: `${origin.host}/team/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, image)
  t.true(await scrapeMetric(agent.url, 'shoal_agent_manifest_cache_total', { result: 'stale' }) >= 1)

  // A client that takes only schema1 would get a conversion from the registry, which the agent
  // does not have: an error that says so, not the schema2 bytes.
  const schema1 = await fetchBody(`${agent.url}/v2/team/app/manifests/v1`, { headers: { accept: SCHEMA1 } })
  t.is(schema1.status, 503)
  const message = (JSON.parse(schema1.body.toString()) as { errors: Array<{ code: string, message: string }> }).errors[0]
  t.is(message?.code, 'UNAVAILABLE')
  t.true(message?.message.includes(`is ${MEDIA_TYPES.dockerManifest}, which this request's Accept (${SCHEMA1}) does not admit`), message?.message)
  // By digest, the bytes are served as they are, whatever the Accept.
  const byDigest = await fetchBody(`${agent.url}/v2/team/app/manifests/${image.manifestDigest}`, { headers: { accept: SCHEMA1 } })
  t.is(byDigest.status, 200)
  t.deepEqual(byDigest.body, image.manifest)
})
