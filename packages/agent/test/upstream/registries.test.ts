import test from 'ava'
import { parseUpstream } from '../../src/config/index.ts'
import { RegistryRouter, registryFromPathComponent, registryPathComponent } from '../../src/upstream/registries.ts'

const insecure = ['127.0.0.1:5000']
const router = (allowAnyRegistry = false): RegistryRouter => new RegistryRouter({
  upstreams: ['http://127.0.0.1:5000', 'docker.io', 'ghcr.io'].map((u, i) => parseUpstream(`upstreams[${i}]`, u, insecure)),
  insecureRegistries: insecure,
  allowAnyRegistry
})

test('?ns= picks a configured registry; Docker Hub under any of its names', t => {
  t.is(router().resolve(null).host, '127.0.0.1:5000')
  t.is(router().resolve('ghcr.io').baseUrl.origin, 'https://ghcr.io')
  t.is(router().resolve('registry-1.docker.io').host, 'docker.io')
  t.is(router().resolve('docker.io').baseUrl.origin, 'https://registry-1.docker.io')
})

test('an unknown ?ns= is refused unless any registry is allowed', t => {
  t.throws(() => router().resolve('quay.io'), { name: 'UnknownRegistryError' })
  t.is(router(true).resolve('quay.io').baseUrl.origin, 'https://quay.io')
  t.is(router(true).resolve('127.0.0.1:5000').baseUrl.origin, 'http://127.0.0.1:5000')
  t.throws(() => router(true).resolve('bad host'), { name: 'UnknownRegistryError' })
})

test('a first path component naming a configured registry routes there (podman mirror locations)', t => {
  t.like(router().route('ghcr.io/org/app', { ns: null }), { name: 'org/app', registry: { host: 'ghcr.io' } })
  t.like(router().route('docker.io/library/alpine', { ns: null }), { name: 'library/alpine', registry: { host: 'docker.io' } })
  // A port is written with "_": the repository grammar has no ":".
  t.like(router().route('127.0.0.1_5000/test/a', { ns: null }), { name: 'test/a', registry: { host: '127.0.0.1:5000' } })
  // containerd's ?ns= wins: the name is left as it is.
  t.like(router().route('ghcr.io/org/app', { ns: 'docker.io' }), { name: 'ghcr.io/org/app', registry: { host: 'docker.io' } })
})

test('with several upstreams a request that names no registry is refused, never sent to the first', t => {
  for (const name of ['library/alpine', 'test/a', 'quay.io/org/app', '127.0.0.1_5001/test/a']) {
    const err = t.throws(() => router().route(name, { ns: null }), { name: 'UnroutableRequestError' })
    t.regex(err?.message ?? '', /\?ns=<registry>.*127\.0\.0\.1:65001\/127\.0\.0\.1_5000/)
  }
  // Not even with any registry allowed: the path names none.
  t.throws(() => router(true).route('test/a', { ns: null }), { name: 'UnroutableRequestError' })
})

test('dockerd\'s mirror requests go to Docker Hub; a single upstream takes every bare request', t => {
  const dockerd = 'docker/24.0.7 go/go1.20.10 git-commit/311b9ff kernel/6.1.0 os/linux arch/amd64 UpstreamClient(Docker-Client/24.0.7 \\(linux\\))'
  t.like(router().route('library/alpine', { ns: null, userAgent: dockerd }), { name: 'library/alpine', registry: { host: 'docker.io' } })
  t.is(router().pingTarget({ ns: null, userAgent: dockerd }).host, 'docker.io')
  t.is(router().pingTarget({ ns: null }).host, '127.0.0.1:5000')
  t.throws(() => router().route('library/alpine', { ns: null, userAgent: 'containers/5.24.1 (github.com/containers/image)' }), { name: 'UnroutableRequestError' })
  const noHub = new RegistryRouter({ upstreams: ['ghcr.io', 'quay.io'].map(u => parseUpstream('u', u, [])), insecureRegistries: [], allowAnyRegistry: false })
  t.throws(() => noHub.route('library/alpine', { ns: null, userAgent: dockerd }), { name: 'UnroutableRequestError' })
  const single = new RegistryRouter({ upstreams: [parseUpstream('u', 'http://127.0.0.1:5000', insecure)], insecureRegistries: insecure, allowAnyRegistry: false })
  t.like(single.route('test/a', { ns: null }), { name: 'test/a', registry: { host: '127.0.0.1:5000' } })
  t.like(single.route('127.0.0.1_5000/test/a', { ns: null }), { name: 'test/a', registry: { host: '127.0.0.1:5000' } })
})

test('registry path components: a port joined with "_", IPv6 not writable', t => {
  t.is(registryPathComponent('registry.local:5000'), 'registry.local_5000')
  t.is(registryPathComponent('ghcr.io'), 'ghcr.io')
  t.is(registryPathComponent('localhost'), 'localhost')
  t.is(registryPathComponent('[::1]:5000'), undefined)
  for (const host of ['registry.local:5000', 'ghcr.io', 'localhost:80', '10.0.0.1:5000']) {
    t.is(registryFromPathComponent(registryPathComponent(host) ?? ''), host)
  }
})
