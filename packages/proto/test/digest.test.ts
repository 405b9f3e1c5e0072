import test from 'ava'
import { parseDigest, digestOf, isDigest, digestHex } from '../src/index.ts'

const HEX = 'a'.repeat(64)

test('parses sha256 and sha512 digests', t => {
  t.is<string, string>(parseDigest(`sha256:${HEX}`), `sha256:${HEX}`)
  t.is(digestHex(parseDigest(`sha512:${'0'.repeat(128)}`)), '0'.repeat(128))
})

test('rejects malformed digests by name', t => {
  for (const bad of ['', 'sha256', `sha256:${HEX.toUpperCase()}`, `sha256:${HEX}0`, `md5:${HEX}`, `sha256:../../${HEX.slice(6)}`, `:${HEX}`]) {
    t.throws(() => parseDigest(bad), { name: 'InvalidDigestError' }, bad)
    t.false(isDigest(bad))
  }
})

test('digestOf hashes bytes', t => {
  t.is<string, string>(digestOf(Buffer.from('')), 'sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
})
