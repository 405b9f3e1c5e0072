import test from 'ava'
import { configChanges } from '../../src/config/changes.ts'
import { resolveAgentConfig } from '../../src/config/index.ts'

const PEER = '/ip4/10.0.0.5/tcp/65002/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'

test('a reload applies upstreams, credentials, CA dirs, limits and GC settings; listen, data dir and p2p need a restart', async t => {
  const running = await resolveAgentConfig({ argv: ['--upstream', 'ghcr.io', '--listen', '127.0.0.1:7000', '--data-dir', '/var/lib/a', '--p2p-listen', '/ip4/0.0.0.0/tcp/65002'], env: {} })
  t.deepEqual(configChanges(running, running), { applied: [], needsRestart: [] })

  const next = await resolveAgentConfig({
    argv: ['--upstream', 'ghcr.io', '--upstream', 'quay.io', '--listen', '127.0.0.1:7001', '--data-dir', '/var/lib/b', '--p2p-listen', '/ip4/0.0.0.0/tcp/65003', '--bootstrap', PEER,
      '--certs-dir', '/etc/shoal/certs.d', '--origin-limit', '10MB', '--gc-max-age', '1d', '--storage-quota', '600MiB', '--drain-timeout', '5s'],
    env: {}
  })
  const changes = configChanges(running, next)
  t.deepEqual(changes.applied.sort(), ['certsDir', 'drainTimeoutMs', 'limits', 'storage', 'upstreams'])
  t.deepEqual(changes.needsRestart.sort(), ['dataDir', 'listen', 'p2p'])
})

test('warnings are not settings: a new warning alone changes nothing', async t => {
  const running = await resolveAgentConfig({ argv: [], env: {} })
  t.deepEqual(configChanges(running, { ...running, warnings: ['storageQuota: small'] }), { applied: [], needsRestart: [] })
})
