import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { resolveAgentConfig } from '../../src/config/index.ts'

test('upstream timeouts and breaker: defaults of a few seconds, settable by flag, variable and YAML; bad values name the field', async t => {
  const defaults = await resolveAgentConfig({ argv: [], env: {} })
  t.deepEqual(defaults.upstreamTimeouts, { connectMs: 3_000, responseMs: 5_000, bodyIdleMs: 30_000 })
  t.deepEqual(defaults.upstreamBreaker, { failureThreshold: 3, cooldownMs: 30_000 })
  t.true(defaults.accessLog)
  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  const file = join(dir, 'agent.yaml')
  await writeFile(file, 'upstreamConnectTimeout: 2s\nupstreamIdleTimeout: 1m\nupstreamCooldown: 10s\nnoAccessLog: true\n')
  const config = await resolveAgentConfig({ argv: ['--config', file, '--upstream-response-timeout', '750ms'], env: { SHOAL_UPSTREAM_FAILURES: '5' } })
  t.deepEqual(config.upstreamTimeouts, { connectMs: 2_000, responseMs: 750, bodyIdleMs: 60_000 })
  t.deepEqual(config.upstreamBreaker, { failureThreshold: 5, cooldownMs: 10_000 })
  t.false(config.accessLog)
  await t.throwsAsync(resolveAgentConfig({ argv: ['--upstream-response-timeout', '0s'], env: {} }), { name: 'ConfigError', message: /^--upstream-response-timeout: a timeout must be more than 0/ })
  await t.throwsAsync(resolveAgentConfig({ argv: ['--upstream-connect-timeout', 'soon'], env: {} }), { name: 'ConfigError', message: /^--upstream-connect-timeout: "soon" is not a duration/ })
  await t.throwsAsync(resolveAgentConfig({ argv: [], env: { SHOAL_UPSTREAM_FAILURES: '0' } }), { name: 'ConfigError', message: /^SHOAL_UPSTREAM_FAILURES: "0" must be a whole number of at least 1/ })
})

test('--upstream-endpoint REGISTRY=URL: mirror endpoints in the given order, from flags, the variable or the YAML map', async t => {
  const config = await resolveAgentConfig({
    argv: ['--upstream', 'docker.io', '--upstream', 'http://127.0.0.1:5000', '--insecure-registry', '127.0.0.1:5000', '--insecure-registry', '127.0.0.1:5001',
      '--upstream-endpoint', 'docker.io=https://harbor-1.example.com', '--upstream-endpoint', 'registry-1.docker.io=https://harbor-2.example.com:8443',
      '--upstream-endpoint', '127.0.0.1:5000=http://127.0.0.1:5001'],
    env: {}
  })
  t.deepEqual(config.upstreams[0]?.endpoints?.map(e => e.baseUrl.origin), ['https://harbor-1.example.com', 'https://harbor-2.example.com:8443'])
  t.deepEqual(config.upstreams[0]?.endpoints?.map(e => e.host), ['harbor-1.example.com', 'harbor-2.example.com:8443'], 'credentials and certs.d apply per endpoint host')
  t.deepEqual(config.upstreams[1]?.endpoints?.map(e => [e.baseUrl.origin, e.insecure]), [['http://127.0.0.1:5001', true]])

  const fromEnv = await resolveAgentConfig({ argv: [], env: { SHOAL_UPSTREAM_ENDPOINT: 'docker.io=https://a.example.com, docker.io=https://b.example.com' } })
  t.deepEqual(fromEnv.upstreams[0]?.endpoints?.map(e => e.baseUrl.origin), ['https://a.example.com', 'https://b.example.com'])

  const dir = await mkdtemp(join(tmpdir(), 'shoal-config-'))
  const file = join(dir, 'agent.yaml')
  await writeFile(file, 'upstreams: [ghcr.io]\nupstreamEndpoints:\n  ghcr.io: ["https://node-1.example.com", "https://node-2.example.com"]\n')
  const fromYaml = await resolveAgentConfig({ argv: ['--config', file], env: {} })
  t.deepEqual(fromYaml.upstreams[0]?.endpoints?.map(e => e.baseUrl.origin), ['https://node-1.example.com', 'https://node-2.example.com'])
})

test('--upstream-endpoint errors name the field and say what is wrong', async t => {
  const bad = async (argv: string[], message: RegExp): Promise<void> => {
    await t.throwsAsync(resolveAgentConfig({ argv, env: {} }), { name: 'ConfigError', message })
  }
  await bad(['--upstream-endpoint', 'https://harbor.example.com'], /^--upstream-endpoint\[0\]: "https:\/\/harbor.example.com" must be REGISTRY=URL/)
  await bad(['--upstream-endpoint', 'ghcr.io=https://harbor.example.com'], /^--upstream-endpoint: ghcr.io is not a mirrored registry \(add it with --upstream ghcr.io\)/)
  await bad(['--upstream-endpoint', 'docker.io=http://harbor.example.com'], /^--upstream-endpoint\[0\]: "http:\/\/harbor.example.com" is plain HTTP; list harbor.example.com under insecureRegistries/)
  await bad(['--upstream-endpoint', 'docker.io=https://registry-1.docker.io'], /^--upstream-endpoint: https:\/\/registry-1.docker.io is docker.io itself/)
  await bad(['--upstream-endpoint', 'docker.io=https://harbor.example.com/path'], /^--upstream-endpoint\[0\]: .* must be http\(s\):\/\/host\[:port\] with no path/)
})
