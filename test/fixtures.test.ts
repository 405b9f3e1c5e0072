import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { Agent, request } from 'undici'
import type { ExecutionContext } from 'ava'
import {
  MEDIA_TYPES, ImageVerificationError, SkopeoCopyError, issueServerCert, layerFixture, makeCa, pushImage, pushIndex,
  sha256Digest, skopeoCopy, startCountingProxy, startRegistry, startTokenIssuer, verifyDirImage
} from './fixtures/index.ts'
import type { PushedImage } from './fixtures/index.ts'

async function tempDir (t: ExecutionContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `shoal-${prefix}-`))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

function smallLayers (seed: number): Buffer[] {
  return [layerFixture({ size: 1_000, seed }), layerFixture({ size: 40_000, seed: seed + 1 }), layerFixture({ size: 300_003, seed: seed + 2 })]
}

async function status (url: string, dispatcher?: Agent): Promise<number> {
  const res = await request(url, { dispatcher, signal: AbortSignal.timeout(5_000) })
  await res.body.dump()
  return res.statusCode
}

test('layerFixture is deterministic and seed-dependent', t => {
  const a = layerFixture({ size: 1_000_003, seed: 7 })
  t.is(a.length, 1_000_003)
  t.true(a.equals(layerFixture({ size: 1_000_003, seed: 7 })))
  t.false(a.subarray(0, 64).equals(layerFixture({ size: 64, seed: 8 })))
  t.false(layerFixture({ size: 64, seed: 0 }).equals(Buffer.alloc(64)))
})

test('docker and OCI images pushed to an open registry pull intact with skopeo', async t => {
  const registry = await startRegistry()
  t.teardown(async () => { await registry.stop() })
  for (const format of ['docker', 'oci'] as const) {
    const pushed = await pushImage(registry, { name: 'library/app', tag: format, format, layers: smallLayers(format === 'docker' ? 1 : 10) })
    t.is(pushed.mediaType, format === 'docker' ? MEDIA_TYPES.dockerManifest : MEDIA_TYPES.ociManifest)
    t.is(pushed.manifestDigest, sha256Digest(pushed.manifest))
    const dest = await tempDir(t, `pull-${format}`)
    await skopeoCopy({ image: `${registry.host}/library/app:${format}`, destDir: dest })
    await verifyDirImage(dest, pushed)
  }
})

test('an OCI index resolves to the requested platform, and verifyDirImage tells images apart', async t => {
  const registry = await startRegistry()
  t.teardown(async () => { await registry.stop() })
  const images: PushedImage[] = []
  for (const [i, architecture] of ['amd64', 'arm64'].entries()) {
    images.push(await pushImage(registry, { name: 'multi', tag: architecture, format: 'oci', platform: { os: 'linux', architecture }, layers: smallLayers(20 + 5 * i) }))
  }
  const [amd64, arm64] = images as [PushedImage, PushedImage]
  const index = await pushIndex(registry, { name: 'multi', tag: 'latest', manifests: images.map(image => ({ image, platform: image.platform })) })
  t.is(index.digest, sha256Digest(index.body))
  const dest = await tempDir(t, 'pull-index')
  await skopeoCopy({ image: `${registry.host}/multi:latest`, destDir: dest, platform: { os: 'linux', architecture: 'arm64' } })
  await verifyDirImage(dest, arm64)
  await t.throwsAsync(verifyDirImage(dest, amd64), { name: 'ImageVerificationError' })
})

test('htpasswd registry: push with credentials; anonymous GET /v2/ is 401', async t => {
  const user = { username: 'alice', password: 'wonderland' }
  const registry = await startRegistry({ auth: { kind: 'htpasswd', users: [user] } })
  t.teardown(async () => { await registry.stop() })
  t.is(await status(`${registry.url}/v2/`), 401)
  await t.throwsAsync(pushImage(registry, { name: 'app', tag: 'v1', format: 'docker', layers: smallLayers(30) }), { message: /Basic credentials/ })
  await t.throwsAsync(pushImage(registry, { name: 'app', tag: 'v1', format: 'docker', layers: smallLayers(30), auth: { ...user, password: 'wrong' } }), { message: /401/ })
  const pushed = await pushImage(registry, { name: 'app', tag: 'v1', format: 'docker', layers: smallLayers(30), auth: user })
  const dest = await tempDir(t, 'pull-htpasswd')
  await skopeoCopy({ image: `${registry.host}/app:v1`, destDir: dest, srcCreds: user })
  await verifyDirImage(dest, pushed)
})

test('a registry whose port another registry holds fails to start: the other one\'s answer is not taken for its own', async t => {
  const open = await startRegistry()
  t.teardown(async () => { await open.stop() })
  // The race a free port can lose between tests, made certain: the open registry answers 200 on the
  // port while this one fails to bind it.
  await t.throwsAsync(startRegistry({ port: open.port, auth: { kind: 'htpasswd', users: [{ username: 'alice', password: 'wonderland' }] } }), { message: /address already in use/ })
  t.is(await status(`${open.url}/v2/`), 200)
})

test('token registry: users push, anonymous pulls public repositories only', async t => {
  const alice = { username: 'alice', password: 'a-secret' }
  const bob = { username: 'bob', password: 'b-secret' }
  const issuer = await startTokenIssuer({ users: [alice, bob], publicRepositories: ['library/public'], access: { bob: ['team/bob'] } })
  t.teardown(async () => { await issuer.stop() })
  const registry = await startRegistry({ auth: { kind: 'token', issuer } })
  t.teardown(async () => { await registry.stop() })

  const publicImage = await pushImage(registry, { name: 'library/public', tag: 'v1', format: 'oci', layers: smallLayers(40), auth: alice })
  await pushImage(registry, { name: 'team/private', tag: 'v1', format: 'docker', layers: smallLayers(50), auth: alice })
  t.true(issuer.requests >= 2)
  await t.throwsAsync(pushImage(registry, { name: 'team/private', tag: 'bob', format: 'docker', layers: smallLayers(60), auth: bob }), { message: /401/ })
  await pushImage(registry, { name: 'team/bob', tag: 'v1', format: 'docker', layers: smallLayers(60), auth: bob })
  await t.throwsAsync(pushImage(registry, { name: 'team/bob', tag: 'v2', format: 'docker', layers: smallLayers(60), auth: { ...bob, password: 'nope' } }), { message: /token request .* 401/ })

  const publicDest = await tempDir(t, 'pull-public')
  await skopeoCopy({ image: `${registry.host}/library/public:v1`, destDir: publicDest })
  await verifyDirImage(publicDest, publicImage)
  const privateDest = await tempDir(t, 'pull-private')
  const err = await t.throwsAsync(skopeoCopy({ image: `${registry.host}/team/private:v1`, destDir: privateDest }), { name: 'SkopeoCopyError' })
  t.regex(err?.message ?? '', /unauthorized|authentication required/i)
})

test('counting proxy counts one GET per blob of a skopeo copy; corrupt mode breaks the digest; down mode drops', async t => {
  const registry = await startRegistry()
  t.teardown(async () => { await registry.stop() })
  const pushed = await pushImage(registry, { name: 'library/app', tag: 'v1', format: 'docker', layers: smallLayers(70) })
  const proxy = await startCountingProxy(registry)
  t.teardown(async () => { await proxy.stop() })

  const dest = await tempDir(t, 'pull-proxy')
  await skopeoCopy({ image: `${proxy.host}/library/app:v1`, destDir: dest })
  await verifyDirImage(dest, pushed)
  for (const digest of [...pushed.layers.map(layer => layer.digest), pushed.configDigest]) t.is(proxy.blobGets(digest), 1, digest)
  t.is(proxy.blobGets(), pushed.layers.length + 1)
  const blobBytes = pushed.layers.reduce((sum, layer) => sum + layer.size, 0)
  t.true(proxy.egressBytes >= blobBytes)

  proxy.reset()
  proxy.mode = 'corrupt-blobs'
  const corruptDest = await tempDir(t, 'pull-corrupt')
  const err = await t.throwsAsync(skopeoCopy({ image: `${proxy.host}/library/app:v1`, destDir: corruptDest }), { instanceOf: SkopeoCopyError })
  t.regex(err?.stderr ?? '', /Digest did not match/)
  t.true(proxy.blobGets() >= 1)
  // The bytes themselves differ: fetch one blob through the proxy and hash it.
  const [layer] = pushed.layers
  if (layer == null) throw new Error('no layers')
  const res = await request(`${proxy.url}/v2/library/app/blobs/${layer.digest}`, { signal: AbortSignal.timeout(5_000) })
  const body = Buffer.from(await res.body.arrayBuffer())
  t.is(body.length, layer.size)
  t.not(sha256Digest(body), layer.digest)

  proxy.mode = 'down'
  await t.throwsAsync(skopeoCopy({ image: `${proxy.host}/library/app:v1`, destDir: await tempDir(t, 'pull-down') }), { name: 'SkopeoCopyError' })
  t.true(proxy.counts.requests.some(r => r.status === 0))
})

test('counting proxy throttle paces bodies, can be lifted mid-body, and Range headers are recorded', async t => {
  const registry = await startRegistry()
  t.teardown(async () => { await registry.stop() })
  const layer = layerFixture({ size: 1024 * 1024, seed: 90 })
  const pushed = await pushImage(registry, { name: 'library/slow', tag: 'v1', format: 'docker', layers: [layer] })
  const digest = pushed.layers[0]?.digest ?? ''
  const proxy = await startCountingProxy(registry, { bytesPerSecond: 2 * 1024 * 1024 })
  t.teardown(async () => { await proxy.stop() })
  const url = `${proxy.url}/v2/library/slow/blobs/${digest}`

  let started = performance.now()
  const slow = await request(url, { signal: AbortSignal.timeout(10_000) })
  t.true(Buffer.from(await slow.body.arrayBuffer()).equals(layer))
  t.true(performance.now() - started >= 400, `1 MiB at 2 MiB/s took ${Math.round(performance.now() - started)} ms`)

  proxy.bytesPerSecond = 64 * 1024
  started = performance.now()
  const lifted = await request(url, { headers: { range: 'bytes=1000-' }, signal: AbortSignal.timeout(10_000) })
  setTimeout(() => { proxy.bytesPerSecond = undefined }, 300)
  t.true(Buffer.from(await lifted.body.arrayBuffer()).equals(layer.subarray(1000)))
  t.true(performance.now() - started < 5_000, 'lifting the throttle speeds up a body in flight')
  t.deepEqual(proxy.counts.requests.map(r => [r.status, r.range]), [[200, undefined], [206, 'bytes=1000-']])
})

test('registry restart keeps port and data; every process it spawns is handed to track', async t => {
  const tracked: ChildProcess[] = []
  const registry = await startRegistry({ track: child => { tracked.push(child) } })
  t.teardown(async () => { await registry.stop() })
  const pushed = await pushImage(registry, { name: 'app', tag: 'v1', format: 'oci', layers: smallLayers(80) })
  const { url } = registry
  await registry.restart()
  t.is(registry.url, url)
  t.is(await status(`${url}/v2/`), 200)
  const dest = await tempDir(t, 'pull-restart')
  await skopeoCopy({ image: `${registry.host}/app:v1`, destDir: dest })
  await t.notThrowsAsync(verifyDirImage(dest, pushed))
  // The first process was stopped by the restart; the second serves until stop().
  t.is(tracked.length, 2)
  t.false(running(tracked[0]!))
  t.true(running(tracked[1]!))
  await registry.stop()
  t.false(running(tracked[1]!))
})

function running (child: ChildProcess): boolean {
  return child.exitCode == null && child.signalCode == null
}

test('TLS registry with a test CA: trusted with the CA, refused without it', async t => {
  const ca = await makeCa(await tempDir(t, 'ca'))
  const cert = await issueServerCert(ca, { ipAddresses: ['127.0.0.1'] })
  const registry = await startRegistry({ tls: cert })
  t.teardown(async () => { await registry.stop() })
  t.true(registry.url.startsWith('https://127.0.0.1:'))
  const caPem = await readFile(cert.caFile)
  const trusting = new Agent({ connect: { ca: caPem } })
  t.teardown(async () => { await trusting.close() })
  t.is(await status(`${registry.url}/v2/`, trusting), 200)
  await t.throwsAsync(status(`${registry.url}/v2/`))
  const pushed = await pushImage(registry, { name: 'app', tag: 'v1', format: 'docker', layers: smallLayers(90), ca: caPem })
  const dest = await tempDir(t, 'pull-tls')
  await skopeoCopy({ image: `${registry.host}/app:v1`, destDir: dest })
  await verifyDirImage(dest, pushed)
})

test('verifyDirImage reports a tampered layer', async t => {
  const registry = await startRegistry()
  t.teardown(async () => { await registry.stop() })
  const pushed = await pushImage(registry, { name: 'app', tag: 'v1', format: 'docker', layers: smallLayers(100) })
  const dest = await tempDir(t, 'pull-tamper')
  await skopeoCopy({ image: `${registry.host}/app:v1`, destDir: dest })
  const [layer] = pushed.layers
  if (layer == null) throw new Error('no layers')
  await writeFile(join(dest, layer.digest.slice('sha256:'.length)), 'tampered')
  await t.throwsAsync(verifyDirImage(dest, pushed), { instanceOf: ImageVerificationError, message: /hashes to/ })
})
