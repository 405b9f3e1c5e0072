import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { resolveAgentConfig } from '../../src/config/index.ts'

test('defaults: loopback listener, Docker Hub upstream', async t => {
  const config = await resolveAgentConfig({ argv: [], env: {} })
  t.deepEqual(config.listen, { host: '127.0.0.1', port: 65001 })
  t.is(config.upstreams[0]?.host, 'docker.io')
  t.is(config.upstreams[0]?.baseUrl.href, 'https://registry-1.docker.io/')
  t.false(config.allowAnyRegistry)
  t.is(config.storage.highWatermark, 0.85)
})

test('flags win over environment, environment over the YAML file', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  const file = join(dir, 'agent.yaml')
  await writeFile(file, 'listen: 127.0.0.1:7000\ndataDir: /var/lib/from-file\nupstreams: [ghcr.io, "http://127.0.0.1:5000"]\ninsecureRegistries: ["127.0.0.1:5000"]\nmanifestTtl: 5m\ncredentials:\n  ghcr.io: { username: u, password: p }\n')
  const config = await resolveAgentConfig({ argv: ['--config', file, '--listen', '127.0.0.1:7002'], env: { SHOAL_LISTEN: '127.0.0.1:7001', SHOAL_DATA_DIR: '/var/lib/from-env' } })
  t.is(config.listen.port, 7002)
  t.is(config.dataDir, '/var/lib/from-env')
  t.deepEqual(config.upstreams.map(u => u.baseUrl.origin), ['https://ghcr.io', 'http://127.0.0.1:5000'])
  t.is(config.manifestTagTtlMs, 300_000)
  t.deepEqual(config.credentials['ghcr.io'], { username: 'u', password: 'p' })
  const fromEnv = await resolveAgentConfig({ argv: [], env: { SHOAL_UPSTREAM: 'quay.io, docker.io', SHOAL_STORAGE_QUOTA: '2GiB' } })
  t.deepEqual(fromEnv.upstreams.map(u => u.host), ['quay.io', 'docker.io'])
  t.is(fromEnv.storage.quotaBytes, 2 * 2 ** 30)
})

test('bandwidth limits in bytes per second; the offline access policy', async t => {
  const defaults = await resolveAgentConfig({ argv: [], env: {} })
  t.deepEqual(defaults.limits, { uploadBytesPerS: undefined, downloadBytesPerS: undefined, originBytesPerS: undefined })
  t.deepEqual(defaults.offlineAccess, { policy: 'recent', windowMs: 24 * 3600_000 })
  const config = await resolveAgentConfig({
    argv: ['--upload-limit', '100MB', '--download-limit', '1GiB/s', '--offline-access', 'deny', '--offline-access-window', '2h'],
    env: { SHOAL_ORIGIN_LIMIT: '500000' }
  })
  t.deepEqual(config.limits, { uploadBytesPerS: 100e6, downloadBytesPerS: 2 ** 30, originBytesPerS: 500_000 })
  t.deepEqual(config.offlineAccess, { policy: 'deny', windowMs: 2 * 3600_000 })
})

test('invalid values are ConfigErrors that name the field', async t => {
  const cases: Array<[string[], NodeJS.ProcessEnv, RegExp]> = [
    [['--listen', '127.0.0.1'], {}, /--listen/],
    [['--listen', '127.0.0.1:99999'], {}, /--listen/],
    [['--upstream', 'http://127.0.0.1:5000'], {}, /--upstream\[0\].*insecure/],
    [['--upstream', 'https://host/path'], {}, /--upstream\[0\]/],
    [['--storage-quota', 'lots'], {}, /--storage-quota/],
    [['--gc-high-watermark', '1.5'], {}, /--gc-high-watermark/],
    [['--gc-low-watermark', '0.9'], {}, /gcLowWatermark/],
    [['--manifest-ttl', '10'], {}, /--manifest-ttl/],
    [['--bogus'], {}, /bogus/],
    [['--public-repository', 'no-slash'], {}, /--public-repository\[0\]/],
    [[], { SHOAL_LISTEN: 'x' }, /SHOAL_LISTEN/],
    [['--upload-limit', 'fast'], {}, /--upload-limit/],
    [['--origin-limit', '0'], {}, /--origin-limit.*more than 0/],
    [['--offline-access', 'maybe'], {}, /--offline-access.*deny, recent or allow/],
    [['--offline-access-window', 'soon'], {}, /--offline-access-window/],
    [['--config', '/nonexistent/shoal.yaml'], {}, /--config/]
  ]
  for (const [argv, env, message] of cases) {
    await t.throwsAsync(resolveAgentConfig({ argv, env }), { name: 'ConfigError', message }, argv.join(' '))
  }
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  await writeFile(join(dir, 'bad.yaml'), 'listne: 127.0.0.1:1\n')
  await t.throwsAsync(resolveAgentConfig({ argv: ['--config', join(dir, 'bad.yaml')], env: {} }), { name: 'ConfigError', message: /unknown key "listne"/ })
})

test('a storage quota that cannot hold one piece is refused, naming the field; a small one is accepted with a warning', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  const file = join(dir, 'agent.yaml')
  await writeFile(file, 'storageQuota: 12\n')
  await t.throwsAsync(resolveAgentConfig({ argv: ['--config', file], env: {} }), { name: 'ConfigError', message: /agent\.yaml: storageQuota: 12 bytes cannot hold one piece/ })
  await t.throwsAsync(resolveAgentConfig({ argv: ['--storage-quota', '0'], env: {} }), { name: 'ConfigError', message: /^--storage-quota: 0 bytes/ })
  await t.throwsAsync(resolveAgentConfig({ argv: [], env: { SHOAL_STORAGE_QUOTA: '262143' } }), { name: 'ConfigError', message: /^SHOAL_STORAGE_QUOTA: / })

  const onePiece = await resolveAgentConfig({ argv: ['--storage-quota', '1MiB'], env: {} })
  t.is(onePiece.storage.quotaBytes, 2 ** 20, 'the floor itself (one piece of the smallest size) is accepted')
  t.is(onePiece.warnings.length, 1)
  t.regex(onePiece.warnings[0] ?? '', /^--storage-quota: 1 MiB holds only a few image layers/)
  const small = await resolveAgentConfig({ argv: ['--config', file], env: { SHOAL_STORAGE_QUOTA: '100MB' } })
  t.regex(small.warnings.join('\n'), /^SHOAL_STORAGE_QUOTA: 95\.4 MiB/)
  t.deepEqual((await resolveAgentConfig({ argv: ['--storage-quota', '512MiB'], env: {} })).warnings, [])
  t.deepEqual((await resolveAgentConfig({ argv: [], env: {} })).warnings, [], 'no quota: the disk, no warning')
})
