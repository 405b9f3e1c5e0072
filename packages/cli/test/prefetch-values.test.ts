import test from 'ava'
import { parseDuration, parseImageReference, parseIntegerIn, parsePlatformText, parseScope, parseTagGlob, scopeOnWire } from '../src/prefetch/values.ts'

const usage = { name: 'PrefetchUsageError' }
const PEER = '12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'

test('durations: units, sums, and the flag in every error', t => {
  t.is(parseDuration('--timeout', '30s', 86_400_000), 30_000)
  t.is(parseDuration('--timeout', '10m', 86_400_000), 600_000)
  t.is(parseDuration('--timeout', '1h', 86_400_000), 3_600_000)
  t.is(parseDuration('--timeout', '1h30m', 86_400_000), 5_400_000)
  t.is(parseDuration('--timeout', '250ms', 86_400_000), 250)
  t.is(parseDuration('--timeout', '1.5s', 86_400_000), 1500)
  for (const bad of ['', '30', 's', '5x', '1h 30m', '-1s', '0s', '2d']) {
    const err = t.throws(() => parseDuration('--timeout', bad, 86_400_000), usage)
    t.true(err?.message.startsWith('--timeout: '), bad)
  }
})

test('whole numbers in a range', t => {
  t.is(parseIntegerIn('--concurrency', '1', { min: 1, max: 64 }), 1)
  t.is(parseIntegerIn('--concurrency', '64', { min: 1, max: 64 }), 64)
  for (const bad of ['0', '65', '1.5', '', 'four', '1e1', '-3']) {
    t.regex(t.throws(() => parseIntegerIn('--concurrency', bad, { min: 1, max: 64 }), usage)?.message ?? '', /^--concurrency: .* from 1 to 64$/)
  }
})

test('platforms are os/arch[/variant], lower-cased', t => {
  t.is(parsePlatformText('--platform', 'linux/amd64'), 'linux/amd64')
  t.is(parsePlatformText('--platform', 'Linux/ARM64/v8'), 'linux/arm64/v8')
  for (const bad of ['linux', 'linux/', '/amd64', 'linux/arm64/v8/x', 'linux/am d64']) t.throws(() => parsePlatformText('--platform', bad), usage)
})

test('scopes: grammar and the wire form', t => {
  t.deepEqual(parseScope('--scope', 'all'), { kind: 'all' })
  t.deepEqual(parseScope('--scope', 'agent'), { kind: 'agent' })
  t.deepEqual(parseScope('--scope', `agent:${PEER}`), { kind: 'agent', agent: PEER })
  t.deepEqual(parseScope('--scope', 'site:edge-1'), { kind: 'site', site: 'edge-1' })
  t.is(scopeOnWire({ kind: 'site', site: 'edge-1' }), 'site:edge-1')
  t.is(scopeOnWire({ kind: 'agent', agent: PEER }), `agent:${PEER}`)
  t.is(scopeOnWire({ kind: 'all' }), 'all')
  for (const bad of ['site:', 'site:-x', 'agent:nope', 'everything', 'site', 'zone:a']) {
    t.true(t.throws(() => parseScope('--scope', bad), usage)?.message.startsWith('--scope: '), bad)
  }
})

test('image references: registry, repository, tag, digest', t => {
  const digest = `sha256:${'ab'.repeat(32)}`
  t.deepEqual(parseImageReference('IMAGE', 'alpine'), { registry: undefined, repository: 'alpine', tag: undefined, digest: undefined })
  t.deepEqual(parseImageReference('IMAGE', 'team/app:v1'), { registry: undefined, repository: 'team/app', tag: 'v1', digest: undefined })
  t.deepEqual(parseImageReference('IMAGE', 'localhost:5000/team/app'), { registry: 'localhost:5000', repository: 'team/app', tag: undefined, digest: undefined })
  t.deepEqual(parseImageReference('IMAGE', `reg.example/a/b:v2@${digest}`), { registry: 'reg.example', repository: 'a/b', tag: 'v2', digest })
  t.deepEqual(parseImageReference('IMAGE', `[::1]:5000/app@${digest}`), { registry: '[::1]:5000', repository: 'app', tag: undefined, digest })
  for (const bad of ['', 'Team/app', 'app:', 'app@sha256:12', 'reg.example/', 'app:-x', 'a//b']) t.throws(() => parseImageReference('IMAGE 1', bad), usage)
})

test('tag globs: tag characters and * ?', t => {
  t.is(parseTagGlob('--tags', 'v1.*'), 'v1.*')
  t.is(parseTagGlob('--tags', '*-latest'), '*-latest')
  for (const bad of ['', 'v1/*', 'a b', '[0-9]*', 'x'.repeat(129)]) t.throws(() => parseTagGlob('--tags', bad), usage)
})
