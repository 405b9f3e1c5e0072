import test from 'ava'
import { base58btc } from 'multiformats/bases/base58'
import { cidOfDigest, digestOfCid, digestOf, parseCid, parseDigest, peerIdText } from '../src/index.ts'

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

test('a peer id on the wire (its multihash) reads back as its usual text', t => {
  const text = '12D3KooWEBAyrjmBMVB4jK8gufgbqknrYcCSoqkovSdBz1QZVcSW'
  const bytes = base58btc.baseDecode(text)
  t.is(peerIdText(bytes), text)
  t.throws(() => peerIdText(new Uint8Array([0x12, 0x20, 1, 2])), { name: 'InvalidDigestError' })
})
