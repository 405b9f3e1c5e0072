import test from 'ava'
import { isPeerKey, parsePeerInfo, parsePeerKey, MAX_LABEL_LENGTH } from '../src/index.ts'
import { base58btc, peerKey } from './helpers.ts'

// Made by @libp2p/crypto + @libp2p/peer-id.
const ED25519 = '12D3KooWK8ArHukrMRjynvbMauWHxXqnR8nDJgLhwkRYrJXt2W95'
const SECP256K1 = '16Uiu2HAmKMxycFJurEPtRzHacNXYYSUR33JBradCBUKUaVdw3sMA'
const RSA = 'QmZokyT1cWyYt3vcXpLJUEfBscLSSHzQC3bCuak6aJHT7B'

test('parsePeerKey accepts Ed25519, secp256k1 and RSA peer ids in base58btc', t => {
  for (const id of [ED25519, SECP256K1, RSA]) {
    t.is(parsePeerKey(id) as string, id)
    t.true(isPeerKey(id))
  }
  t.regex(peerKey(7), /^12D3KooW/, 'the test helper makes ids of the same shape')
})

test('parsePeerKey refuses what is not a base58btc peer id, by name', t => {
  const refused = [
    '',
    'bafzaajaiaejcbcsi23sybwckpemqk7tlclqsplednn42gqxbzk5ldjqplu2a346a', // the CID form
    ED25519.replace('K8', 'K0'), // 0 is not in the alphabet
    ED25519.replace('K8', 'Kl'), // nor l
    `${ED25519} `,
    ED25519.slice(0, -1), // one byte short of its multihash length
    `${ED25519}1`, // one byte too many
    RSA.slice(0, -2), // sha2-256 digest too short
    base58btc(Uint8Array.of(0x12, 0x20, ...new Uint8Array(31))), // length says 32, 31 follow
    base58btc(Uint8Array.of(0x13, 0x20, ...new Uint8Array(32))), // sha2-512 code
    base58btc(Uint8Array.of(0x00, 43, ...new Uint8Array(43))), // an inlined key of 43 bytes
    base58btc(Uint8Array.of(0x00, 0)), // an empty inlined key
    '1'.repeat(65),
    'sha256:abc',
    'Qm'
  ]
  for (const value of refused) {
    const err = t.throws(() => parsePeerKey(value), undefined, value)
    t.is(err?.name, 'InvalidPeerKeyError', value)
    t.false(isPeerKey(value))
  }
  t.true(isPeerKey(base58btc(Uint8Array.of(0x00, 42, ...new Uint8Array(42)))), 'an inlined key of 42 bytes is the limit')
})

test('parsePeerInfo checks upload slots and labels; empty labels mean none', t => {
  t.deepEqual(parsePeerInfo({ id: ED25519, site: 'rack-7', zone: 'eu-west-1a', uploadSlots: 8 }),
    { id: parsePeerKey(ED25519), site: 'rack-7', zone: 'eu-west-1a', uploadSlots: 8 })
  t.deepEqual(parsePeerInfo({ id: ED25519, site: '', zone: '', uploadSlots: 0 }), { id: parsePeerKey(ED25519), uploadSlots: 0 })
  for (const uploadSlots of [-1, 1.5, Number.NaN, 1_000_000]) {
    t.is(t.throws(() => parsePeerInfo({ id: ED25519, uploadSlots }))?.name, 'InvalidPeerInfoError')
  }
  t.is(t.throws(() => parsePeerInfo({ id: ED25519, site: 'x'.repeat(MAX_LABEL_LENGTH + 1), uploadSlots: 1 }))?.name, 'InvalidPeerInfoError')
  t.is(t.throws(() => parsePeerInfo({ id: ED25519, zone: 'a\nb', uploadSlots: 1 }))?.name, 'InvalidPeerInfoError')
  t.is(t.throws(() => parsePeerInfo({ id: 'nope', uploadSlots: 1 }))?.name, 'InvalidPeerKeyError')
})
