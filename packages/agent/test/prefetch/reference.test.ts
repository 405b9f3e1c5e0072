import test from 'ava'
import {
  formatImageReference, hostPlatform, parseImageReference, parsePlatform, parseTagFilter, platformMatches
} from '../../src/prefetch/index.ts'

const HEX = 'a'.repeat(64)

test('parseImageReference: Docker\'s rule for the registry, library/ under docker.io, tag and digest', t => {
  t.deepEqual(parseImageReference('team/app'), { registry: '', repository: 'team/app' })
  t.deepEqual(parseImageReference('app:v1'), { registry: '', repository: 'app', tag: 'v1' }, 'no library/ for the default upstream')
  t.deepEqual(parseImageReference('docker.io/nginx'), { registry: 'docker.io', repository: 'library/nginx' })
  t.deepEqual(parseImageReference('docker.io/bitnami/redis:7.2'), { registry: 'docker.io', repository: 'bitnami/redis', tag: '7.2' })
  t.deepEqual(parseImageReference('localhost/app:v2'), { registry: 'localhost', repository: 'app', tag: 'v2' })
  t.deepEqual(parseImageReference('127.0.0.1:5000/team/app:v1'), { registry: '127.0.0.1:5000', repository: 'team/app', tag: 'v1' })
  t.deepEqual(parseImageReference('registry.example.com:8443/a/b/c'), { registry: 'registry.example.com:8443', repository: 'a/b/c' })
  t.deepEqual(parseImageReference(`ghcr.io/org/app@sha256:${HEX}`), { registry: 'ghcr.io', repository: 'org/app', digest: `sha256:${HEX}` })
  t.deepEqual(parseImageReference(`ghcr.io/org/app:v1@sha256:${HEX}`), { registry: 'ghcr.io', repository: 'org/app', tag: 'v1', digest: `sha256:${HEX}` })
  t.deepEqual(parseImageReference('team-a/app_x__y.z'), { registry: '', repository: 'team-a/app_x__y.z' }, 'a first component without . or : is a path')
})

test('parseImageReference: bad names, tags, digests and registries are InvalidReferenceError', t => {
  for (const bad of [
    '', 'Team/App', 'app:', 'app:-v1', `app:${'x'.repeat(129)}`, 'app@sha256:abc', `app@md5:${HEX}`, 'team//app', '/app',
    'app/', 'a..b/c', 'reg.io/', 'bad_host.io/app', 'app:v1:v2', 'app with space', `${'a'.repeat(256)}:v1`, 'x'.repeat(600)
  ]) {
    const err = t.throws(() => parseImageReference(bad), { name: 'InvalidReferenceError' }, bad)
    t.true((err?.message ?? '').length > 0)
  }
})

test('formatImageReference: the parsed form back as text', t => {
  for (const text of ['team/app:v1', '127.0.0.1:5000/team/app:v1', `ghcr.io/org/app@sha256:${HEX}`, 'docker.io/library/nginx:1']) {
    t.is(formatImageReference(parseImageReference(text)), text)
  }
})

test('parsePlatform: os/architecture[/variant]; anything else is InvalidPlatformError', t => {
  t.deepEqual(parsePlatform('linux/amd64'), { os: 'linux', architecture: 'amd64' })
  t.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' })
  t.deepEqual(parsePlatform('Linux/PPC64LE'), { os: 'linux', architecture: 'ppc64le' })
  for (const bad of ['', 'linux', 'linux/', '/amd64', 'linux/amd64/v8/x', 'linux/am d64', 'linux/amd64/', 'linux;rm/amd64']) {
    t.throws(() => parsePlatform(bad), { name: 'InvalidPlatformError' }, bad)
  }
})

test('hostPlatform: linux and the OCI name of this host\'s architecture', t => {
  const host = hostPlatform()
  t.is(host.os, 'linux')
  const expected: Record<string, string> = { x64: 'amd64', arm64: 'arm64', ia32: '386', arm: 'arm' }
  const arch = expected[process.arch]
  if (arch != null) t.is(host.architecture, arch)
  t.notThrows(() => parsePlatform([host.os, host.architecture, host.variant].filter(p => p != null).join('/')))
})

test('platformMatches: os and architecture; the variant only when the wanted platform names one (arm64 means v8)', t => {
  const arm64 = { os: 'linux', architecture: 'arm64' }
  const arm64v8 = { os: 'linux', architecture: 'arm64', variant: 'v8' }
  const armv6 = { os: 'linux', architecture: 'arm', variant: 'v6' }
  const armv7 = { os: 'linux', architecture: 'arm', variant: 'v7' }
  t.true(platformMatches(arm64, arm64v8))
  t.true(platformMatches(arm64v8, arm64))
  t.true(platformMatches({ os: 'linux', architecture: 'arm' }, armv6))
  t.false(platformMatches(armv7, armv6))
  t.false(platformMatches({ os: 'linux', architecture: 'amd64' }, arm64))
  t.false(platformMatches({ os: 'windows', architecture: 'arm64' }, arm64))
})

test('parseTagFilter: * and ? over a tag\'s characters; other characters are InvalidTagFilterError', t => {
  const latest = parseTagFilter('*-latest')
  t.true(latest.matches('api-latest'))
  t.false(latest.matches('latest'))
  t.false(latest.matches('api-latest2'))
  const v1 = parseTagFilter('v1.?')
  t.true(v1.matches('v1.2'))
  t.false(v1.matches('v1.10'))
  t.false(v1.matches('v1x2'), '. is a dot, not any character')
  t.true(parseTagFilter('**').matches('anything'))
  for (const bad of ['', 'v1/*', 'v[12]', 'v1|v2', '(.*)', 'x'.repeat(129)]) t.throws(() => parseTagFilter(bad), { name: 'InvalidTagFilterError' }, bad)
})
