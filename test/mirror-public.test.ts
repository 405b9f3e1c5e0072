import test from 'ava'
import { request } from 'undici'
import { layerFixture, pushImage, startCountingProxy, startRegistry } from './fixtures/index.ts'
import { startTestAgent } from './helpers/agent.ts'

const ALICE = { username: 'alice', password: 'wonderland' }
const basic = `Basic ${Buffer.from(`${ALICE.username}:${ALICE.password}`).toString('base64')}`

test('cached content of a repository listed public is served without asking the origin; others are confirmed', async t => {
  const registry = await startRegistry({ auth: { kind: 'htpasswd', users: [ALICE] } })
  t.teardown(registry.stop)
  const pub = await pushImage(registry, { name: 'open/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 50_000, seed: 1 })], auth: ALICE })
  const priv = await pushImage(registry, { name: 'closed/app', tag: 'v1', format: 'oci', layers: [layerFixture({ size: 50_000, seed: 2 })], auth: ALICE })
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const agent = await startTestAgent({ upstreams: [origin.url], args: ['--public-repository', `${origin.host}/open/*`] })
  t.teardown(agent.stop)
  const blob = (name: string, digest: string) => `${agent.url}/v2/${name}/blobs/${digest}`
  const pubLayer = pub.layers[0]?.digest ?? ''
  const privLayer = priv.layers[0]?.digest ?? ''

  // Alice's pulls fill the cache.
  for (const url of [blob('open/app', pubLayer), blob('closed/app', privLayer)]) {
    const res = await request(url, { headers: { authorization: basic } })
    t.is(res.statusCode, 200)
    await res.body.arrayBuffer()
  }
  origin.reset()
  const anonymousPublic = await request(blob('open/app', pubLayer))
  t.is(anonymousPublic.statusCode, 200)
  t.is((await anonymousPublic.body.arrayBuffer()).byteLength, 50_000)
  t.is(origin.counts.requests.length, 0, 'no access check for a public repository')

  const anonymousPrivate = await request(blob('closed/app', privLayer))
  t.is(anonymousPrivate.statusCode, 401)
  t.regex(String(anonymousPrivate.headers['www-authenticate']), /^Basic/)
  await anonymousPrivate.body.dump()
  t.true(origin.counts.requests.some(r => r.method === 'HEAD' && r.path.includes(privLayer)), 'the origin was asked')
  t.is(origin.blobGets(), 0)
})
