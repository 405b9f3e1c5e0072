import { Bitfield, digestOf } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { parsePeerKey } from '../src/index.ts'
import type { PeerInfo, PeerKey } from '../src/index.ts'

const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'

/** base58btc, for making peer ids in tests (the package only decodes). */
export function base58btc (bytes: Uint8Array): string {
  let zeros = 0
  while (zeros < bytes.length && bytes[zeros] === 0) zeros++
  const digits: number[] = [] // base 58, least significant first
  for (let i = zeros; i < bytes.length; i++) {
    let carry = bytes[i]!
    for (let j = 0; j < digits.length; j++) {
      carry += digits[j]! * 256
      digits[j] = carry % 58
      carry = Math.floor(carry / 58)
    }
    while (carry > 0) {
      digits.push(carry % 58)
      carry = Math.floor(carry / 58)
    }
  }
  return '1'.repeat(zeros) + digits.reverse().map(d => ALPHABET[d]).join('')
}

/**
 * The n-th test peer: an Ed25519-shaped peer id (identity multihash of a protobuf public key), so
 * it reads `12D3KooW...`. Keys sort in an order unrelated to n.
 */
export function peerKey (n: number): PeerKey {
  const key = new Uint8Array(32)
  new DataView(key.buffer).setUint32(0, n * 2654435761 >>> 0)
  new DataView(key.buffer).setUint32(28, n)
  return parsePeerKey(base58btc(Uint8Array.of(0x00, 0x24, 0x08, 0x01, 0x12, 0x20, ...key)))
}

export function peer (n: number, init: Partial<Omit<PeerInfo, 'id'>> = {}): PeerInfo {
  return { id: peerKey(n), uploadSlots: 4, ...init }
}

export function taskDigest (n: number): Digest {
  return digestOf(new TextEncoder().encode(`task ${n}`))
}

export function bits (pieceCount: number, held: Iterable<number>): Bitfield {
  const bitfield = new Bitfield(pieceCount)
  for (const index of held) bitfield.set(index)
  return bitfield
}

export function fullBits (pieceCount: number): Bitfield {
  return bits(pieceCount, Array.from({ length: pieceCount }, (_, i) => i))
}

/** The piece size of the blobs these tests use (up to 64 pieces: 16 MiB, see pieceSizeFor): N * PIECE is a blob of N pieces. */
export const PIECE = 256 * 1024
