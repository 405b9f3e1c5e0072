import test from 'ava'
import { parseRange } from '../../src/registry-mirror/range.ts'
import { parseRoute } from '../../src/registry-mirror/routes.ts'

test('single byte ranges parse against the size', t => {
  t.is(parseRange(undefined, 10), undefined)
  t.deepEqual(parseRange('bytes=0-', 10), { start: 0, end: 9 })
  t.deepEqual(parseRange('bytes=3-4', 10), { start: 3, end: 4 })
  t.deepEqual(parseRange('bytes=5-100', 10), { start: 5, end: 9 })
  t.deepEqual(parseRange('bytes=-3', 10), { start: 7, end: 9 })
  t.deepEqual(parseRange('bytes=-30', 10), { start: 0, end: 9 })
  for (const bad of ['bytes=10-', 'bytes=4-3', 'bytes=-', 'bytes=1-2,4-5', 'lines=1-2', 'bytes=-0', `bytes=${'9'.repeat(20)}-`]) {
    t.throws(() => parseRange(bad, 10), { name: 'RangeNotSatisfiableError' }, bad)
  }
})

test('routes validate names, tags and digests', t => {
  const digest = `sha256:${'a'.repeat(64)}`
  t.deepEqual(parseRoute('/v2/'), { kind: 'base' })
  t.like(parseRoute(`/v2/library/ubuntu/blobs/${digest}`), { kind: 'blob', name: 'library/ubuntu', digest })
  t.like(parseRoute('/v2/a/b/c/manifests/v1.2_x-y'), { kind: 'manifest', name: 'a/b/c', reference: { tag: 'v1.2_x-y' } })
  t.like(parseRoute('/v2/a/tags/list'), { kind: 'tags', name: 'a' })
  t.like(parseRoute('/v2/a/blobs/uploads/'), { kind: 'upload' })
  t.throws(() => parseRoute('/v2/A/manifests/v1'), { name: 'InvalidNameError' })
  t.throws(() => parseRoute('/v2/a//b/manifests/v1'), { name: 'InvalidNameError' })
  t.throws(() => parseRoute('/v2/a/manifests/.v1'), { name: 'InvalidNameError' })
  t.throws(() => parseRoute(`/v2/a/manifests/${'t'.repeat(129)}`), { name: 'InvalidNameError' })
  t.throws(() => parseRoute('/v2/a/blobs/sha256:1234'), { name: 'InvalidDigestError' })
})
