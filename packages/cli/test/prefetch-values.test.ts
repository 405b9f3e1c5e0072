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
  for (const bad of ['linux', 'linux/', '/amd64', 'linux/arm64/v8/x', 'linux/am d64']) t.true(t.throws(() => parsePlatformText('--platform', bad), usage)?.message.startsWith('--platform: '))
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

test('image references, tag globs and platforms are checked by the agent\'s parsers; the error names the field and keeps the cause', t => {
  const digest = `sha256:${'ab'.repeat(32)}`
  t.deepEqual(parseImageReference('IMAGE', ' team/app:v1 '), { registry: '', repository: 'team/app', tag: 'v1' })
  t.deepEqual(parseImageReference('IMAGE', `localhost:5000/a/b:v2@${digest}`), { registry: 'localhost:5000', repository: 'a/b', tag: 'v2', digest })
  for (const bad of ['', 'Team/app', 'app:', 'app@sha256:12', 'reg.example/', 'app:-x', 'a//b']) {
    const err = t.throws(() => parseImageReference('IMAGE 1', bad), usage)
    t.true(err?.message.startsWith('IMAGE 1: '), bad)
    t.is((err?.cause as Error).name, 'InvalidReferenceError')
  }
  t.is(parseTagGlob('--tags', 'v1.*'), 'v1.*')
  t.is(parseTagGlob('--tags', '*-latest'), '*-latest')
  for (const bad of ['', 'v1/*', 'a b', '[0-9]*', 'x'.repeat(129)]) {
    t.is((t.throws(() => parseTagGlob('--tags', bad), usage)?.cause as Error).name, 'InvalidTagFilterError', bad)
  }
  t.is((t.throws(() => parsePlatformText('--platform', 'linux'), usage)?.cause as Error).name, 'InvalidPlatformError')
})
