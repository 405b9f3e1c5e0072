import test from 'ava'
import type { ExecutionContext } from 'ava'
import { layerFixture, pushImage, skopeoCopy, startCountingProxy, startRegistry } from './fixtures/index.ts'
import { deadRegistryHost, startTestAgent } from './helpers/agent.ts'
import { fetchBody } from './helpers/http.ts'
import { tempDir } from './helpers/temp.ts'

const ALICE = { username: 'alice', password: 'wonderland' }
const BASIC_ALICE = `Basic ${Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64')}`

/**
 * alice pulls a private image through the agent; then the origin goes away. What the cached layer
 * is served to depends on the offline access policy: never to a client the origin never said yes to.
 * The access check's TTL is 0, so every answer below is the policy's, not a reused yes.
 */
async function pulledThenOffline (t: ExecutionContext, policy: string): Promise<{ blob: string }> {
  const registry = await startRegistry({ auth: { kind: 'htpasswd', users: [ALICE] } })
  t.teardown(registry.stop)
  const image = await pushImage(registry, { name: 'team/secret', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 40_000, seed: 61 })], auth: ALICE })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const agent = await startTestAgent({ upstreams: [origin.url], args: ['--offline-access', policy, '--access-check-ttl', '0s'] })
  t.teardown(agent.stop)
  await skopeoCopy({ image: `${await deadRegistryHost()}/team/secret:v1`, mirror: agent.host, destDir: await tempDir(t, 'offline-access'), mirrorAuth: ALICE })
  origin.mode = 'down'
  return { blob: `${agent.url}/v2/team/secret/blobs/${image.layers[0]?.digest ?? ''}` }
}

test('origin unreachable, policy recent (the default): credentials the origin said yes to get the cached layer, a stranger gets 503', async t => {
  const { blob } = await pulledThenOffline(t, 'recent')
  const stranger = await fetchBody(blob)
  t.is(stranger.status, 503)
  t.regex(stranger.body.toString(), /offline access policy: recent/)
  const other = await fetchBody(blob, { headers: { authorization: `Basic ${Buffer.from('mallory:guess').toString('base64')}` } })
  t.is(other.status, 503, 'other credentials are strangers too')
  const alice = await fetchBody(blob, { headers: { authorization: BASIC_ALICE } })
  t.is(alice.status, 200)
  t.is(alice.body.byteLength, 40_000)
})

test('origin unreachable, policy deny: nobody gets cached content of a private repository', async t => {
  const { blob } = await pulledThenOffline(t, 'deny')
  const alice = await fetchBody(blob, { headers: { authorization: BASIC_ALICE } })
  t.is(alice.status, 503)
  t.regex(alice.body.toString(), /policy is deny/)
})

test('origin unreachable, policy allow: anyone on the host gets the cached layer', async t => {
  const { blob } = await pulledThenOffline(t, 'allow')
  t.is((await fetchBody(blob)).status, 200)
})
