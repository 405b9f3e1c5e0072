import test from 'ava'
import { randomBytes } from 'node:crypto'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'
import { noiseCrypto } from '../src/noise-crypto.ts'

const key = randomBytes(32)
const nonce = randomBytes(12)
const ad = randomBytes(32)
type Bytes = Parameters<typeof noiseCrypto.chaCha20Poly1305Decrypt>[0]
const bytes = (data: Uint8Array | { subarray: () => Uint8Array }): Uint8Array => data instanceof Uint8Array ? data : data.subarray()
/** A list as Noise passes it (Noise types lists with uint8arraylist 2, this test with 3: the same at run time). */
const list = (...parts: Uint8Array[]): Bytes => new Uint8ArrayList(...parts) as unknown as Bytes

// Sizes on both sides of the native threshold, a full Noise message, and inputs given as lists.
for (const size of [0, 100, 1199, 1200, 4096, 65_519]) {
  test(`${size} bytes: the same wire bytes as Noise's default crypto, and each decrypts the other's`, t => {
    const plaintext = randomBytes(size)
    const ours = noiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key)
    const theirs = defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key)
    t.deepEqual(Buffer.from(bytes(ours)), Buffer.from(bytes(theirs)))
    t.deepEqual(Buffer.from(bytes(noiseCrypto.chaCha20Poly1305Decrypt(theirs, nonce, ad, key))), plaintext)
    t.deepEqual(Buffer.from(bytes(defaultCrypto.chaCha20Poly1305Decrypt(ours, nonce, ad, key))), plaintext)
  })
}

test('list inputs (a message split across socket reads) give the same bytes', t => {
  const plaintext = randomBytes(65_519)
  const split = list(plaintext.subarray(0, 1000), plaintext.subarray(1000, 40_000), plaintext.subarray(40_000))
  const encrypted = noiseCrypto.chaCha20Poly1305Encrypt(split, nonce, ad, key)
  t.false(encrypted instanceof Uint8Array, 'the cipher\'s output and the tag are handed on as a list, not copied into one buffer')
  const ciphertext = bytes(encrypted)
  t.deepEqual(Buffer.from(ciphertext), Buffer.from(bytes(defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key))))
  const received = list(ciphertext.subarray(0, 30_000), ciphertext.subarray(30_000, 65_530), ciphertext.subarray(65_530))
  const decrypted = noiseCrypto.chaCha20Poly1305Decrypt(received, nonce, ad, key)
  t.false(decrypted instanceof Uint8Array, 'plaintext from several reads is not copied into one buffer')
  t.deepEqual(Buffer.from(bytes(decrypted)), plaintext)
})

test('a message whose tag or body was changed is refused', t => {
  const plaintext = randomBytes(8192)
  const ciphertext = Buffer.from(bytes(noiseCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, key)))
  for (const at of [0, 4000, ciphertext.byteLength - 1]) {
    const bad = Buffer.from(ciphertext)
    bad[at] = bad[at]! ^ 1
    t.throws(() => noiseCrypto.chaCha20Poly1305Decrypt(bad, nonce, ad, key), undefined, `byte ${at} flipped`)
  }
})
