import test from 'ava'
import { cidOfDigest, digestOfCid, digestOf, parseCid, parseDigest } from '../src/index.ts'

test('a sha256 digest and its CID convert both ways', t => {
  const digest = digestOf(Buffer.from('piece'))
  const cid = cidOfDigest(digest)
  t.true(cid.toString().startsWith('bafkrei'))
  t.is(digestOfCid(parseCid(cid.toString())), digest)
})

test('sha512 has no CID here and junk is no CID', t => {
  t.throws(() => cidOfDigest(parseDigest(`sha512:${'0'.repeat(128)}`)), { name: 'InvalidDigestError' })
  t.throws(() => parseCid('not-a-cid'), { name: 'InvalidDigestError' })
})
