import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { request } from 'undici'
import type { ExecutionContext } from 'ava'
import { resolveAgentConfig } from '@shoal/agent'
import { parseDigest } from '@shoal/proto'
import { MEDIA_TYPES, freePort, issueServerCert, layerFixture, makeCa, pushImage, skopeoCopy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import type { OriginRegistry, PushedImage } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'

const ACCEPT = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex].join(', ')

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-tls-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

/** A registry serving HTTPS with a certificate for 127.0.0.1 from a fresh test CA, holding one image. */
async function tlsOrigin (t: ExecutionContext): Promise<{ registry: OriginRegistry, caFile: string, image: PushedImage }> {
  const caDir = join(await tempDir(t), 'ca')
  await mkdir(caDir)
  const ca = await makeCa(caDir)
  const cert = await issueServerCert(ca, { ipAddresses: ['127.0.0.1'] })
  const registry = await startRegistry({ tls: { certFile: cert.certFile, keyFile: cert.keyFile } })
  t.teardown(registry.stop)
  t.true(registry.url.startsWith('https://'))
  const image = await pushImage(registry, {
    name: 'secure/app',
    tag: 'v1',
    format: 'oci',
    layers: [layerFixture({ size: 250_000, seed: 31 }), layerFixture({ size: 4_096, seed: 32 })],
    ca: await readFile(ca.certFile)
  })
  return { registry, caFile: ca.certFile, image }
}

test('an https origin signed by a CA in --certs-dir/<host:port>/ca.crt: the agent pulls it and the digests verify', async t => {
  const { registry, caFile, image } = await tlsOrigin(t)
  const certsDir = join(await tempDir(t), 'certs.d')
  await mkdir(join(certsDir, registry.host), { recursive: true })
  await copyFile(caFile, join(certsDir, registry.host, 'ca.crt'))
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--certs-dir', certsDir] })
  t.teardown(agent.stop)

  const dest = await tempDir(t)
  // The image's own host answers nothing: only the agent, over TLS to the origin, can deliver it.
  await skopeoCopy({ image: `${await deadRegistryHost()}/secure/app:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, image)
  for (const digest of [...image.layers.map(layer => layer.digest), image.configDigest]) {
    t.is(agent.agent.store.get(parseDigest(digest))?.state, 'complete', `${digest} came through the agent`)
  }
})

test('without the CA the agent answers a 5xx x509 error naming the certs.d file to create', async t => {
  const { registry } = await tlsOrigin(t)
  // A certs.d without this registry's directory: only the system CAs apply.
  const certsDir = join(await tempDir(t), 'certs.d')
  await mkdir(certsDir)
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--certs-dir', certsDir] })
  t.teardown(agent.stop)

  const res = await request(`${agent.url}/v2/secure/app/manifests/v1`, { headers: { accept: ACCEPT }, signal: AbortSignal.timeout(10_000) })
  const body = await res.body.text()
  t.true(res.statusCode >= 500 && res.statusCode < 600, `status ${res.statusCode}`)
  t.regex(String(res.headers['content-type']), /^application\/json/)
  const [error] = (JSON.parse(body) as { errors: Array<{ code: string, message: string }> }).errors
  t.log(error?.message)
  t.is(error?.code, 'UNAVAILABLE')
  t.regex(error?.message ?? '', /x509/)
  t.true(error?.message.includes(`${certsDir}/${registry.host}/ca.crt`), `names ${certsDir}/${registry.host}/ca.crt: ${error?.message}`)

  await t.throwsAsync(skopeoCopy({ image: `${await deadRegistryHost()}/secure/app:v1`, mirror: agent.host, destDir: await tempDir(t) }), { name: 'SkopeoCopyError' })
})

test('a plain-HTTP upstream not listed as insecure is refused at start with a ConfigError naming the field', async t => {
  const host = `127.0.0.1:${await freePort()}`
  const dataDir = await tempDir(t)
  const argv = ['--data-dir', dataDir, '--upstream', `http://${host}`]
  const err = await t.throwsAsync(resolveAgentConfig({ argv, env: {} }), { name: 'ConfigError' })
  t.regex(err?.message ?? '', /^--upstream\b/, 'names the field')
  t.true(err?.message.includes(host), err?.message)
  t.regex(err?.message ?? '', /list .* insecure|insecure-registry/i, 'says to list it as insecure')

  // Listed as insecure, the same upstream is accepted, over plain HTTP.
  const config = await resolveAgentConfig({ argv: [...argv, '--insecure-registry', host], env: {} })
  t.is(config.upstreams[0]?.baseUrl.href, `http://${host}/`)
  t.true(config.upstreams[0]?.insecure)
})
