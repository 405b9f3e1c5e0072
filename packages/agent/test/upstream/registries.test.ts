import test from 'ava'
import { parseUpstream } from '../../src/config/index.ts'
import { RegistryRouter } from '../../src/upstream/registries.ts'

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
  t.like(router().route('ghcr.io/org/app', null), { name: 'org/app', registry: { host: 'ghcr.io' } })
  t.like(router().route('docker.io/library/alpine', null), { name: 'library/alpine', registry: { host: 'docker.io' } })
  t.like(router().route('library/alpine', null), { name: 'library/alpine', registry: { host: '127.0.0.1:5000' } })
  t.like(router().route('quay.io/org/app', null), { name: 'quay.io/org/app', registry: { host: '127.0.0.1:5000' } })
  // containerd's ?ns= wins: the name is left as it is.
  t.like(router().route('ghcr.io/org/app', 'docker.io'), { name: 'ghcr.io/org/app', registry: { host: 'docker.io' } })
})
