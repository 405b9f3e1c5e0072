import test from 'ava'
import { SkopeoCopyError, layerFixture, pushImage, skopeoCopy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { fetchBody, waitFor } from './helpers/http.ts'
import { captureLogs } from './helpers/log-capture.ts'
import type { LogLine } from './helpers/log-capture.ts'
import { tempDir } from './helpers/temp.ts'

interface OciErrorBody { errors?: Array<{ code?: string, message?: string, detail?: { error?: string, causes?: string[] } }> }

test('an unreachable upstream: skopeo prints the agent\'s sentence, and the OCI error body carries it as message and detail', async t => {
  const upstream = await deadRegistryHost()
  const agent = await startTestAgent({ upstreams: [`http://${upstream}`], args: ['--upstream-failures', '100'] })
  t.teardown(agent.stop)
  const dead = await deadRegistryHost()
  const sentence = `cannot reach http://${upstream} (ECONNREFUSED): is the registry up and the address right?`

  const error = await t.throwsAsync(skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: await tempDir(t, 'errors-skopeo') }), { instanceOf: SkopeoCopyError })
  t.true((error as SkopeoCopyError).stderr.includes(`503 Service Unavailable: ${sentence}`), `skopeo says why: ${(error as SkopeoCopyError).stderr}`)

  const res = await fetchBody(`${agent.url}/v2/team/app/manifests/v1`)
  t.is(res.status, 503)
  const body = JSON.parse(res.body.toString('utf8')) as OciErrorBody
  t.is(body.errors?.[0]?.code, 'UNAVAILABLE')
  t.is(body.errors?.[0]?.message, sentence)
  t.is(body.errors?.[0]?.detail?.error, 'UpstreamUnavailableError')
  t.true(body.errors?.[0]?.detail?.causes?.some(c => c.includes('ECONNREFUSED')), 'the detail carries the cause')
})

test('the access log: one info line per blob and manifest request, with client, registry, repository, digest, source, bytes and time, and never the client\'s credentials', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 150_000, seed: 91 })] })
  const logs = captureLogs()
  const agent = await startTestAgent({ upstreams: [registry.url], logger: logs.logger })
  t.teardown(agent.stop)
  const dead = await deadRegistryHost()
  const dest = await tempDir(t, 'access-log')
  await skopeoCopy({ image: `${dead}/team/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, image)

  const layer = image.layers[0]
  const pulls = (): LogLine[] => logs.lines.filter(l => l.msg === 'pull')
  await waitFor('the access lines of the pull', () => pulls().some(l => l.digest === layer?.digest) && pulls().some(l => l.kind === 'manifest'))
  const layerLines = pulls().filter(l => l.digest === layer?.digest && l.method === 'GET')
  t.is(layerLines.length, 1, 'one line for the layer GET')
  t.like(layerLines[0], { level: 'info', client: '127.0.0.1', registry: registry.host, repository: 'team/app', kind: 'blob', status: 200, source: 'origin', bytes: layer?.size, complete: true })
  t.is(typeof layerLines[0]?.ms, 'number')
  const manifestLines = pulls().filter(l => l.kind === 'manifest' && l.status === 200)
  t.true(manifestLines.length >= 1)
  t.like(manifestLines[0], { registry: registry.host, repository: 'team/app', tag: 'v1', digest: image.manifestDigest, bytes: image.manifest.length })

  const secret = Buffer.from('someone:hunter2-secret').toString('base64')
  const again = await fetchBody(`${agent.url}/v2/team/app/blobs/${layer?.digest}`, { headers: { authorization: `Basic ${secret}` } })
  t.is(again.status, 200)
  const fromStore = (): LogLine[] => pulls().filter(l => l.digest === layer?.digest && l.source === 'local')
  await waitFor('the access line of the second GET', () => fromStore().length > 0)
  const local = fromStore()
  t.is(local.length, 1, 'the second GET of the layer came from the store')
  t.like(local[0], { bytes: layer?.size, status: 200, complete: true })
  t.false(logs.text().includes(secret) || logs.text().includes('hunter2'), 'credentials never reach the log')
})

test('--no-access-log: no pull lines', async t => {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 10_000, seed: 92 })] })
  const logs = captureLogs()
  const agent = await startTestAgent({ upstreams: [registry.url], logger: logs.logger, args: ['--no-access-log'] })
  t.teardown(agent.stop)
  const res = await fetchBody(`${agent.url}/v2/team/app/blobs/${image.layers[0]?.digest}`)
  t.is(res.status, 200)
  t.is(logs.lines.filter(l => l.msg === 'pull').length, 0)
})
