import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { request } from 'undici'
import type { ExecutionContext } from 'ava'
import {
  MEDIA_TYPES, layerFixture, parseChallenge, pushImage, skopeoCopy, startCountingProxy, startRegistry, startTokenIssuer, verifyDirImage
} from './fixtures/index.ts'
import type { CountingProxy, Credentials, PushedImage, TokenIssuer } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'

/** bob pulls team/private with his own token; carol is the agent's own identity. */
const BOB = { username: 'bob', password: 'b-secret' }
const CAROL = { username: 'carol', password: 'c-secret-8f3a' }

const ACCEPT = [MEDIA_TYPES.dockerManifest, MEDIA_TYPES.ociManifest, MEDIA_TYPES.ociIndex].join(', ')

async function tempDir (t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-auth-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  return dir
}

interface Reply { status: number, headers: Record<string, string | undefined>, body: string }

/** One raw GET; every header flattened to a string. */
async function get (url: string, headers: Record<string, string> = {}): Promise<Reply> {
  const res = await request(url, { headers, signal: AbortSignal.timeout(10_000) })
  const flat: Record<string, string | undefined> = {}
  for (const [name, value] of Object.entries(res.headers)) flat[name] = Array.isArray(value) ? value.join(', ') : value
  return { status: res.statusCode, headers: flat, body: await res.body.text() }
}

function layers (seed: number): Buffer[] {
  return [layerFixture({ size: 180_001, seed }), layerFixture({ size: 3_000, seed: seed + 1 })]
}

function assertEachBlobFetchedOnce (t: ExecutionContext, origin: CountingProxy, image: PushedImage): void {
  for (const digest of [...image.layers.map(layer => layer.digest), image.configDigest]) t.is(origin.blobGets(digest), 1, `${digest} left the origin once`)
}

/** A token for `creds` (anonymous without) from the issuer, as a client gets it from the challenge's realm. */
async function tokenFor (issuer: TokenIssuer, scope: string, creds?: Credentials): Promise<string> {
  const url = new URL(issuer.realm)
  url.searchParams.set('service', issuer.service)
  url.searchParams.set('scope', scope)
  const headers: Record<string, string> = creds == null ? {} : { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` }
  const reply = await get(url.href, headers)
  if (reply.status !== 200) throw new Error(`token request answered ${reply.status}: ${reply.body}`)
  return (JSON.parse(reply.body) as { token: string }).token
}

test('htpasswd origin: the client\'s Basic credentials pass through the agent; without them the origin\'s challenge comes back unchanged', async t => {
  const alice = { username: 'alice', password: 'wonderland' }
  const registry = await startRegistry({ auth: { kind: 'htpasswd', users: [alice] } })
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/app', tag: 'v1', format: 'docker', layers: layers(1), auth: alice })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const agent = await startTestAgent({ upstreams: [origin.url] })
  t.teardown(agent.stop)
  const ref = `${await deadRegistryHost()}/team/app:v1`

  const dest = await tempDir(t)
  await skopeoCopy({ image: ref, mirror: agent.host, destDir: dest, mirrorAuth: alice })
  await verifyDirImage(dest, image)
  assertEachBlobFetchedOnce(t, origin, image)

  // The image is now cached in the agent: an anonymous client must still be refused.
  origin.reset()
  const err = await t.throwsAsync(skopeoCopy({ image: ref, mirror: agent.host, destDir: await tempDir(t) }), { name: 'SkopeoCopyError' })
  t.regex(err?.message ?? '', /unauthorized|authentication required|401/i)
  const direct = await get(`${registry.url}/v2/team/app/manifests/v1`, { accept: ACCEPT })
  t.is(direct.status, 401)
  t.regex(direct.headers['www-authenticate'] ?? '', /^Basic realm="shoal-test-registry"/)
  const viaAgent = await get(`${agent.url}/v2/team/app/manifests/v1`, { accept: ACCEPT })
  t.is(viaAgent.status, 401)
  t.is(viaAgent.headers['www-authenticate'], direct.headers['www-authenticate'], 'the origin\'s challenge, unchanged')
  t.false(viaAgent.body.includes(image.manifest.toString('utf8')))
  const blob = await get(`${agent.url}/v2/team/app/blobs/${image.layers[0]?.digest ?? ''}`)
  t.is(blob.status, 401, 'a cached blob is not served to an anonymous client')
  t.is(origin.blobGets(), 0, 'the origin sent no blob to the anonymous client')
})

async function tokenOrigin (t: ExecutionContext): Promise<{ issuer: TokenIssuer, origin: CountingProxy, publicImage: PushedImage, privateImage: PushedImage }> {
  const alice = { username: 'alice', password: 'a-secret' }
  const issuer = await startTokenIssuer({ users: [alice, BOB, CAROL], publicRepositories: ['library/public'], access: { bob: ['team/private'], carol: ['team/private'] } })
  t.teardown(issuer.stop)
  const registry = await startRegistry({ auth: { kind: 'token', issuer } })
  t.teardown(registry.stop)
  const publicImage = await pushImage(registry, { name: 'library/public', tag: 'v1', format: 'oci', layers: layers(10), auth: alice })
  const privateImage = await pushImage(registry, { name: 'team/private', tag: 'v1', format: 'docker', layers: layers(20), auth: alice })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  return { issuer, origin, publicImage, privateImage }
}

test('token origin: an anonymous client pulls a public repository through the agent with an anonymous token', async t => {
  const { origin, publicImage } = await tokenOrigin(t)
  const agent = await startTestAgent({ upstreams: [origin.url] })
  t.teardown(agent.stop)
  const dest = await tempDir(t)
  await skopeoCopy({ image: `${await deadRegistryHost()}/library/public:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, publicImage)
  assertEachBlobFetchedOnce(t, origin, publicImage)
})

test('token origin: a user\'s Bearer token from the origin\'s realm is forwarded unchanged; anonymous clients get the origin\'s challenge', async t => {
  const { issuer, origin, privateImage } = await tokenOrigin(t)
  const agent = await startTestAgent({ upstreams: [origin.url] })
  t.teardown(agent.stop)
  const ref = `${await deadRegistryHost()}/team/private:v1`

  // The agent has no credentials: a 200 can only come from the client's own token, passed on.
  const token = await tokenFor(issuer, 'repository:team/private:pull', BOB)
  const withToken = await get(`${agent.url}/v2/team/private/manifests/v1`, { accept: ACCEPT, authorization: `Bearer ${token}` })
  t.is(withToken.status, 200)
  t.is(withToken.body, privateImage.manifest.toString('utf8'))
  t.true(origin.counts.requests.some(r => r.method === 'GET' && r.path === '/v2/team/private/manifests/v1' && r.status === 200))

  const dest = await tempDir(t)
  await skopeoCopy({ image: ref, mirror: agent.host, destDir: dest, mirrorAuth: BOB })
  await verifyDirImage(dest, privateImage)
  assertEachBlobFetchedOnce(t, origin, privateImage)

  // Cached now, and still not for anonymous clients, with or without an anonymous token.
  origin.reset()
  await t.throwsAsync(skopeoCopy({ image: ref, mirror: agent.host, destDir: await tempDir(t) }), { name: 'SkopeoCopyError' })
  const anonymous = await get(`${agent.url}/v2/team/private/manifests/v1`, { accept: ACCEPT })
  t.is(anonymous.status, 401)
  const challenge = anonymous.headers['www-authenticate'] ?? ''
  t.regex(challenge, /^Bearer /)
  t.is(parseChallenge(challenge).realm, issuer.realm)
  const anonymousToken = await tokenFor(issuer, 'repository:team/private:pull')
  const withAnonymousToken = await get(`${agent.url}/v2/team/private/manifests/v1`, { accept: ACCEPT, authorization: `Bearer ${anonymousToken}` })
  t.is(withAnonymousToken.status, 401)
  const blob = await get(`${agent.url}/v2/team/private/blobs/${privateImage.layers[0]?.digest ?? ''}`, { authorization: `Bearer ${anonymousToken}` })
  t.is(blob.status, 401, 'a cached blob is not served on an anonymous token')
  t.is(origin.blobGets(), 0)
})

async function agentWithConfig (t: ExecutionContext, origin: CountingProxy, creds: Credentials): Promise<{ url: string, host: string, configFile: string }> {
  const configFile = join(await tempDir(t), 'agent.yaml')
  await writeFile(configFile, `credentials:\n  ${JSON.stringify(origin.host)}:\n    username: ${JSON.stringify(creds.username)}\n    password: ${JSON.stringify(creds.password)}\n`)
  const agent = await startTestAgent({ upstreams: [origin.url], args: ['--config', configFile] })
  t.teardown(agent.stop)
  return { url: agent.url, host: agent.host, configFile }
}

test('the agent\'s own credentials from --config let an anonymous client pull a private image', async t => {
  const { issuer, origin, privateImage } = await tokenOrigin(t)
  const agent = await agentWithConfig(t, origin, CAROL)
  const tokensBefore = issuer.requests
  const dest = await tempDir(t)
  await skopeoCopy({ image: `${await deadRegistryHost()}/team/private:v1`, mirror: agent.host, destDir: dest })
  await verifyDirImage(dest, privateImage)
  assertEachBlobFetchedOnce(t, origin, privateImage)
  t.true(issuer.requests > tokensBefore, 'the agent fetched tokens from the origin\'s realm')
})

test('wrong agent credentials: the client gets a 401 naming where they came from, never the password', async t => {
  const { origin } = await tokenOrigin(t)
  const wrong = { username: CAROL.username, password: 'not-the-password-5d1e' }
  const agent = await agentWithConfig(t, origin, wrong)
  await t.throwsAsync(skopeoCopy({ image: `${await deadRegistryHost()}/team/private:v1`, mirror: agent.host, destDir: await tempDir(t) }), { name: 'SkopeoCopyError' })

  const reply = await get(`${agent.url}/v2/team/private/manifests/v1`, { accept: ACCEPT })
  t.is(reply.status, 401)
  t.regex(reply.headers['content-type'] ?? '', /^application\/json/)
  const [error] = (JSON.parse(reply.body) as { errors: Array<{ code: string, message: string }> }).errors
  t.is(error?.code, 'UNAUTHORIZED')
  t.log(error?.message)
  t.true(error?.message.includes(`credentials."${origin.host}"`), error?.message)
  const everything = JSON.stringify(reply.headers) + reply.body
  t.false(everything.includes(wrong.password), 'the password never leaves the agent')
  t.false(everything.includes(Buffer.from(`${wrong.username}:${wrong.password}`).toString('base64')))
  t.is(origin.blobGets(), 0)
})
