import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { X509Certificate } from 'node:crypto'
import { once } from 'node:events'
import { request as httpsRequest } from 'node:https'
import { connect } from 'node:net'
import type { TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { resolveAgentConfig } from '@shoal/agent'
import { parseDigest } from '@shoal/proto'
import { issueClientCert, issueServerCert, layerFixture, makeCa, pushImage, skopeoCopy, startRegistry, verifyDirImage } from './fixtures/index.ts'
import type { CertificateAuthority, OriginRegistry, PushedImage } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent, testAgentArgs } from './helpers/agent.ts'
import { runShoal } from './helpers/shoal-process.ts'

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-listener-tls-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

async function newCa (t: ExecutionContext, name: string): Promise<CertificateAuthority> {
  const dir = join(await tempDir(t), name)
  await mkdir(dir)
  return await makeCa(dir)
}

async function origin (t: ExecutionContext): Promise<{ registry: OriginRegistry, image: PushedImage }> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'site/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 300_000, seed: 71 }), layerFixture({ size: 5_000, seed: 72 })] })
  return { registry, image }
}

/** A skopeo cert dir: the CA that signed the agent's certificate, and a client certificate when given. */
async function certDir (t: ExecutionContext, caFile: string, client?: { certFile: string, keyFile: string }): Promise<string> {
  const dir = await tempDir(t)
  await copyFile(caFile, join(dir, 'ca.crt'))
  if (client != null) {
    await copyFile(client.certFile, join(dir, 'client.cert'))
    await copyFile(client.keyFile, join(dir, 'client.key'))
  }
  return dir
}

interface Answer { status?: number, error?: NodeJS.ErrnoException, fingerprint?: string }

/** One HTTPS GET with node:https: the status, or the error of a handshake that failed. */
async function get (url: string, opts: { ca: Buffer, cert?: Buffer, key?: Buffer }): Promise<Answer> {
  return await new Promise(resolve => {
    const req = httpsRequest(url, { ca: opts.ca, cert: opts.cert, key: opts.key, agent: false, signal: AbortSignal.timeout(10_000) }, res => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256
      res.resume()
      res.once('end', () => { resolve({ status: res.statusCode, fingerprint }) })
    })
    req.once('error', error => { resolve({ error }) })
    req.end()
  })
}

test('skopeo pulls through an agent with --tls-cert/--tls-key, verifying it against the CA; /healthz is HTTPS too', async t => {
  const { registry, image } = await origin(t)
  const ca = await newCa(t, 'ca')
  const cert = await issueServerCert(ca, { ipAddresses: ['127.0.0.1'] })
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile] })
  t.teardown(agent.stop)
  t.true(agent.url.startsWith('https://127.0.0.1:'), agent.url)

  const dest = await tempDir(t)
  await skopeoCopy({ image: `${await deadRegistryHost()}/site/app:v1`, mirror: agent.host, mirrorCertDir: await certDir(t, ca.certFile), destDir: dest })
  await verifyDirImage(dest, image)
  for (const digest of image.layers.map(layer => layer.digest)) {
    t.is(agent.agent.store.get(parseDigest(digest))?.state, 'complete', `${digest} came through the agent`)
  }
  t.is((await get(`${agent.url}/healthz`, { ca: await readFile(ca.certFile) })).status, 200)

  // A client that does not trust the CA cannot pull.
  const stranger = await newCa(t, 'stranger')
  await t.throwsAsync(skopeoCopy({ image: `${await deadRegistryHost()}/site/app:v1`, mirror: agent.host, mirrorCertDir: await certDir(t, stranger.certFile), destDir: await tempDir(t) }), { name: 'SkopeoCopyError' })
})

test('--tls-client-ca: no client certificate or one of another CA cannot complete the handshake; one signed by the CA pulls', async t => {
  const { registry, image } = await origin(t)
  const ca = await newCa(t, 'ca')
  const cert = await issueServerCert(ca, { ipAddresses: ['127.0.0.1'] })
  const clients = await newCa(t, 'clients')
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--tls-client-ca', clients.certFile] })
  t.teardown(agent.stop)
  const serverCa = await readFile(ca.certFile)

  const anonymous = await get(`${agent.url}/v2/`, { ca: serverCa })
  t.is(anonymous.status, undefined, 'no answer without a client certificate')
  t.truthy(anonymous.error, 'the handshake fails')

  const other = await newCa(t, 'other')
  const forged = await issueClientCert(other, { commonName: 'intruder' })
  const refused = await get(`${agent.url}/v2/`, { ca: serverCa, cert: await readFile(forged.certFile), key: await readFile(forged.keyFile) })
  t.is(refused.status, undefined, 'no answer with a certificate of another CA')

  const host = await issueClientCert(clients, { commonName: 'node-7' })
  const admitted = await get(`${agent.url}/healthz`, { ca: serverCa, cert: await readFile(host.certFile), key: await readFile(host.keyFile) })
  t.is(admitted.status, 200)

  await t.throwsAsync(skopeoCopy({ image: `${await deadRegistryHost()}/site/app:v1`, mirror: agent.host, mirrorCertDir: await certDir(t, ca.certFile), destDir: await tempDir(t) }), { name: 'SkopeoCopyError' })
  const dest = await tempDir(t)
  await skopeoCopy({ image: `${await deadRegistryHost()}/site/app:v1`, mirror: agent.host, mirrorCertDir: await certDir(t, ca.certFile, host), destDir: dest })
  await verifyDirImage(dest, image)
})

test('SIGHUP reload takes a certificate rotated in place; new connections get it', async t => {
  const { registry } = await origin(t)
  const first = await newCa(t, 'first')
  const cert = await issueServerCert(first, { ipAddresses: ['127.0.0.1'] })
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile] })
  t.teardown(agent.stop)
  t.is((await get(`${agent.url}/healthz`, { ca: await readFile(first.certFile) })).fingerprint, new X509Certificate(await readFile(cert.certFile)).fingerprint256)

  const second = await newCa(t, 'second')
  const rotated = await issueServerCert(second, { ipAddresses: ['127.0.0.1'] })
  await copyFile(rotated.certFile, cert.certFile)
  await copyFile(rotated.keyFile, cert.keyFile)
  const argv = testAgentArgs(agent.dataDir, [registry.url], ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile])
  const result = await agent.agent.reload(await resolveAgentConfig({ argv, env: {} }))
  t.deepEqual(result.needsRestart, [])
  t.true(result.applied.some(a => /TLS/.test(a)), result.applied.join(', '))

  t.truthy((await get(`${agent.url}/healthz`, { ca: await readFile(first.certFile) })).error, 'the old CA no longer verifies it')
  const now = await get(`${agent.url}/healthz`, { ca: await readFile(second.certFile) })
  t.is(now.status, 200)
  t.is(now.fingerprint, new X509Certificate(await readFile(rotated.certFile)).fingerprint256)

  // Turning client certificates on needs a new listener: reported, the running TLS stays.
  const withClients = testAgentArgs(agent.dataDir, [registry.url], ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--tls-client-ca', second.certFile])
  const later = await agent.agent.reload(await resolveAgentConfig({ argv: withClients, env: {} }))
  t.deepEqual(later.needsRestart, ['tlsCert, tlsKey, tlsClientCa'])
  t.is((await get(`${agent.url}/healthz`, { ca: await readFile(second.certFile) })).status, 200, 'still no client certificate asked for')
})

test('shoal agent on a non-loopback --listen without TLS exits 2 naming the field and the remedy', async t => {
  const dataDir = await tempDir(t)
  const { code, stderr } = await runShoal(['agent', '--listen', '0.0.0.0:0', '--data-dir', dataDir, '--no-p2p'])
  t.is(code, 2, stderr)
  t.regex(stderr, /invalid configuration: --listen: 0\.0\.0\.0:0 is reachable from other hosts/)
  t.regex(stderr, /--tls-cert FILE and --tls-key FILE/)
  t.regex(stderr, /--insecure-listen/)
})

test('shoal agent with a key that is not the certificate\'s exits 2 naming the key file', async t => {
  const dir = await tempDir(t)
  const ca = await newCa(t, 'ca')
  const a = await issueServerCert(ca)
  const b = await issueServerCert(ca)
  const { code, stderr } = await runShoal(['agent', '--listen', '127.0.0.1:0', '--data-dir', dir, '--no-p2p', '--tls-cert', a.certFile, '--tls-key', b.keyFile])
  t.is(code, 2, stderr)
  t.true(stderr.includes(`tlsKey: ${b.keyFile} is not the private key of the certificate in ${a.certFile}`), stderr)
})

test('over TLS the connection limits count TCP connections, handshake or not: one past them is closed at once', async t => {
  const { registry } = await origin(t)
  const ca = await newCa(t, 'ca')
  const cert = await issueServerCert(ca, { ipAddresses: ['127.0.0.1'] })
  const agent = await startTestAgent({ upstreams: [registry.url], args: ['--tls-cert', cert.certFile, '--tls-key', cert.keyFile, '--max-client-connections', '2'] })
  t.teardown(agent.stop)
  const serverCa = await readFile(ca.certFile)
  // Two TCP connections that never start a handshake hold the client's slots.
  const held = await Promise.all([1, 2].map(async () => {
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(agent.url).port) })
    await once(socket, 'connect')
    return socket
  }))
  t.teardown(() => { for (const s of held) s.destroy() })
  await new Promise(resolve => setTimeout(resolve, 100))
  const refused = await get(`${agent.url}/healthz`, { ca: serverCa })
  t.is(refused.status, undefined)
  t.truthy(refused.error)

  const one = held.pop()
  one?.destroy()
  if (one != null) await once(one, 'close')
  await new Promise(resolve => setTimeout(resolve, 200))
  t.is((await get(`${agent.url}/healthz`, { ca: serverCa })).status, 200, 'a slot freed is taken again')
})
