/**
 * The crypto Noise runs with: its default (native ChaCha20-Poly1305 for large messages, WASM for
 * small ones; native SHA-256 and X25519), except that the transport messages reuse one KeyObject
 * per cipher key. Noise's default passes the raw key bytes to createCipheriv, which makes a new
 * KeyObject for every 64 KiB message: about 17 µs of the ~70 µs a message costs (profiled on the
 * receiving agent of `bench peer-link`). Same cipher, same bytes on the wire.
 *
 * A message's ciphertext (or plaintext) is returned as the list of what the cipher gave, never
 * concatenated: each 64 KiB buffer allocated is external memory to V8, and V8 starts a full
 * garbage collection every ~64 MiB of it; the agents of `bench peer-link` spent a quarter of their
 * CPU in full collections. Noise appends what it gets to a list anyway.
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

type Bytes = Parameters<ICryptoInterface['chaCha20Poly1305Encrypt']>[0]
/**
 * What Noise takes back. Noise types its lists with uint8arraylist 2, libp2p (and this file) use 3:
 * one class at run time as far as Noise and libp2p can tell (both test a shared symbol, and both
 * versions have the same methods), two types to the compiler.
 */
type Out = ReturnType<ICryptoInterface['chaCha20Poly1305Encrypt']>
const asOut = (list: Uint8ArrayList): Out => list as unknown as Out

const ALGORITHM = 'chacha20-poly1305'
const TAG_BYTES = 16
/** Below this, the default's WASM implementation beats a native cipher's set-up (Noise's own threshold). */
const NATIVE_MIN_BYTES = 1200

/** Noise keeps each key in one Uint8Array for the life of its cipher state: key the cache on it. */
const keys = new WeakMap<Uint8Array, KeyObject>()

function keyObject (k: Uint8Array): KeyObject {
  let key = keys.get(k)
  if (key == null) {
    key = createSecretKey(k)
    keys.set(k, key)
  }
  return key
}

function chunks (data: Bytes): Iterable<Uint8Array> {
  return data instanceof Uint8Array ? [data] : data
}

export const noiseCrypto: ICryptoInterface = {
  ...defaultCrypto,

  chaCha20Poly1305Encrypt (plaintext, nonce, ad, k) {
    if (plaintext.byteLength < NATIVE_MIN_BYTES) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
    const cipher = createCipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES })
    cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
    const out = new Uint8ArrayList()
    for (const chunk of chunks(plaintext)) out.append(cipher.update(chunk))
    // ChaCha20-Poly1305 is a stream cipher: final() gives nothing, but it must be called before the tag.
    const final = cipher.final()
    if (final.byteLength > 0) out.append(final)
    out.append(cipher.getAuthTag())
    return asOut(out)
  },

  chaCha20Poly1305Decrypt (ciphertext, nonce, ad, k, dst) {
    if (ciphertext.byteLength < NATIVE_MIN_BYTES) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
    const length = ciphertext.byteLength - TAG_BYTES
    const decipher = createDecipheriv(ALGORITHM, keyObject(k), nonce, { authTagLength: TAG_BYTES })
    decipher.setAAD(ad, { plaintextLength: length })
    decipher.setAuthTag(ciphertext.subarray(length))
    const body = ciphertext instanceof Uint8Array ? ciphertext.subarray(0, length) : ciphertext.sublist(0, length)
    const parts: Uint8Array[] = []
    for (const chunk of chunks(body)) parts.push(decipher.update(chunk))
    // final() throws when the tag does not match: nothing decrypted is returned then.
    const final = decipher.final()
    if (final.byteLength > 0) parts.push(final)
    return parts.length === 1 ? parts[0]! : asOut(new Uint8ArrayList(...parts))
  }
}
