import test from 'ava'
import { startRegistry } from '../../../../test/fixtures/index.ts'
import { parseUpstream } from '../../src/config/index.ts'
import { UpstreamClient } from '../../src/upstream/client.ts'

test('a Basic registry that refuses the agent\'s own credentials: the client gets the origin\'s 401 and challenge; the refusal is reported once, naming where the credentials came from', async t => {
  const registry = await startRegistry({ auth: { kind: 'htpasswd', users: [{ username: 'deploy', password: 'right' }] } })
  t.teardown(registry.stop)
  const host = new URL(registry.url).host
  const refused: Array<{ registry: string, source: string }> = []
  const client = new UpstreamClient({
    credentials: new Map([[host, { username: 'deploy', password: 'wrong', source: 'the test\'s credentials' }]]),
    certsDir: '/nonexistent',
    onCredentialsRefused: e => refused.push(e)
  })
  t.teardown(async () => { await client.stop() })
  const upstream = parseUpstream('upstreams[0]', registry.url, [host])
  for (let i = 0; i < 3; i++) {
    const res = await client.send({ registry: upstream, method: 'GET', path: '/v2/', retries: 0 })
    t.is(res.status, 401)
    t.regex(res.headers['www-authenticate'] ?? '', /^Basic /i, 'the origin\'s challenge goes to the client')
    await res.body.dump()
  }
  t.deepEqual(refused, [{ registry: host, source: 'the test\'s credentials' }], 'reported once a minute, not per request')
})
