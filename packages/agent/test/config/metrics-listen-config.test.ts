import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { configChanges } from '../../src/config/changes.ts'
import { resolveAgentConfig } from '../../src/config/index.ts'
import { AGENT_USAGE } from '../../src/config/options.ts'

test('no metrics listener by default', async t => {
  t.is((await resolveAgentConfig({ argv: [], env: {} })).metricsListen, undefined)
})

test('--metrics-listen, SHOAL_METRICS_LISTEN and metricsListen give it, flag over environment over file; IPv6 in brackets', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-metrics-listen-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const file = join(dir, 'agent.yaml')
  await writeFile(file, 'metricsListen: 0.0.0.0:65005\n')
  t.deepEqual((await resolveAgentConfig({ argv: ['--config', file], env: {} })).metricsListen, { host: '0.0.0.0', port: 65005 })
  t.deepEqual((await resolveAgentConfig({ argv: ['--config', file], env: { SHOAL_METRICS_LISTEN: '[::]:65006' } })).metricsListen, { host: '::', port: 65006 })
  t.deepEqual((await resolveAgentConfig({ argv: ['--config', file, '--metrics-listen', '[fd00::5]:65007'], env: { SHOAL_METRICS_LISTEN: '[::]:65006' } })).metricsListen, { host: 'fd00::5', port: 65007 })
  // A non-loopback metrics listener needs neither TLS nor --insecure-listen, and warns of nothing: it serves no image data.
  t.deepEqual((await resolveAgentConfig({ argv: ['--metrics-listen', '0.0.0.0:65005'], env: {} })).warnings, [])
  t.regex(AGENT_USAGE, /--metrics-listen HOST:PORT .*\/metrics, \/healthz and \/readyz/s)
})

test('a value that is no HOST:PORT is a ConfigError naming the field', async t => {
  for (const [argv, env, field] of [
    [['--metrics-listen', '65005'], {}, '--metrics-listen'],
    [['--metrics-listen', '0.0.0.0:70000'], {}, '--metrics-listen'],
    [['--metrics-listen', '::1:65005'], {}, '--metrics-listen'],
    [[], { SHOAL_METRICS_LISTEN: 'node-a' }, 'SHOAL_METRICS_LISTEN']
  ] as Array<[string[], NodeJS.ProcessEnv, string]>) {
    const err = await t.throwsAsync(resolveAgentConfig({ argv, env }), { name: 'ConfigError' })
    t.true(err?.message.startsWith(`${field}: `), err?.message)
    t.regex(err?.message ?? '', /must be HOST:PORT/)
  }
})

test('the mirror\'s or the peer network\'s address is a ConfigError naming both; port 0 and other ports are not', async t => {
  const mirror = await t.throwsAsync(resolveAgentConfig({ argv: ['--metrics-listen', '127.0.0.1:65001'], env: {} }), { name: 'ConfigError' })
  t.regex(mirror?.message ?? '', /^--metrics-listen: 127\.0\.0\.1:65001 is where the mirror listens \(listen 127\.0\.0\.1:65001\)/)
  // A wildcard takes the port on every address, loopback too.
  const wildcard = await t.throwsAsync(resolveAgentConfig({ argv: ['--listen', '[::1]:7000', '--metrics-listen', '[::]:7000'], env: {} }), { name: 'ConfigError' })
  t.regex(wildcard?.message ?? '', /^--metrics-listen: \[::\]:7000 is where the mirror listens \(--listen \[::1\]:7000\)/)
  const p2p = await t.throwsAsync(resolveAgentConfig({ argv: ['--metrics-listen', '10.0.0.5:65002'], env: {} }), { name: 'ConfigError' })
  t.regex(p2p?.message ?? '', /^--metrics-listen: 10\.0\.0\.5:65002 is where the peer network listens \(\/ip4\/0\.0\.0\.0\/tcp\/65002\)/)
  // Without the peer network its port is free.
  t.deepEqual((await resolveAgentConfig({ argv: ['--no-p2p', '--metrics-listen', '10.0.0.5:65002'], env: {} })).metricsListen, { host: '10.0.0.5', port: 65002 })
  t.deepEqual((await resolveAgentConfig({ argv: ['--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], env: {} })).metricsListen, { host: '127.0.0.1', port: 0 })
  t.deepEqual((await resolveAgentConfig({ argv: ['--metrics-listen', '127.0.0.2:65001'], env: {} })).metricsListen, { host: '127.0.0.2', port: 65001 })
})

test('a SIGHUP cannot move the metrics listener: a change needs a restart', async t => {
  const running = await resolveAgentConfig({ argv: ['--metrics-listen', '127.0.0.1:65005'], env: {} })
  for (const argv of [['--metrics-listen', '127.0.0.1:65006'], []]) {
    t.deepEqual(configChanges(running, await resolveAgentConfig({ argv, env: {} })), { applied: [], needsRestart: ['metricsListen'] })
  }
})
