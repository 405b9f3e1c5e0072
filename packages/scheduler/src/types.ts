import { InvalidPeerInfoError, InvalidPeerKeyError } from './errors.ts'
import { MAX_LABEL_LENGTH, MAX_UPLOAD_SLOTS } from './constants.ts'

/**
 * A libp2p peer id in its base58btc text form (`12D3KooW...` for Ed25519 keys, `16Uiu2HA...` for
 * secp256k1, `Qm...` for RSA), parsed by `parsePeerKey`. One peer has one key: base58btc has a single
 * spelling for each byte string, so keys compare as strings.
 */
export type PeerKey = string & { readonly __brand: 'PeerKey' }

/** A registered agent as the scheduler's policies see it. */
export interface PeerInfo {
  id: PeerKey
  /** The narrowest locality label (a rack, a building, an edge site); absent when not configured. */
  site?: string
  /** A wider locality label (a data-centre zone, a region); absent when not configured. */
  zone?: string
  /** How many piece uploads the peer serves at once; 0 makes it a leech that is never a parent. */
  uploadSlots: number
}

const BASE58_ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
const BASE58_DIGITS = new Int8Array(128).fill(-1)
for (let i = 0; i < BASE58_ALPHABET.length; i++) {
  BASE58_DIGITS[BASE58_ALPHABET.charCodeAt(i)] = i
}
/** Multihash codes of libp2p peer ids: the key itself (identity) or its sha2-256. */
const IDENTITY = 0x00
const SHA2_256 = 0x12
/** libp2p inlines public keys of at most 42 bytes (protobuf-wrapped) with the identity hash. */
const MAX_INLINE_KEY_BYTES = 42
/** An identity multihash of 42 bytes plus its 2-byte header is at most 61 base58 characters. */
const MAX_PEER_KEY_CHARS = 64

/**
 * Parses a libp2p peer id in base58btc: a multihash, either identity (an inlined public key of at
 * most 42 bytes) or sha2-256 (32 bytes). CID forms (`bafz...`) and anything else are refused.
 */
export function parsePeerKey (value: string): PeerKey {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PEER_KEY_CHARS) {
    throw new InvalidPeerKeyError(`peer id "${truncate(String(value))}" is not 1 to ${MAX_PEER_KEY_CHARS} characters of base58btc`)
  }
  const bytes = decodeBase58btc(value)
  if (bytes == null) {
    throw new InvalidPeerKeyError(`peer id "${truncate(value)}" is not base58btc`)
  }
  const code = bytes[0]
  const length = bytes[1]
  const valid = length != null && bytes.length === 2 + length && (
    (code === SHA2_256 && length === 32) ||
    (code === IDENTITY && length >= 1 && length <= MAX_INLINE_KEY_BYTES)
  )
  if (!valid) {
    throw new InvalidPeerKeyError(`peer id "${truncate(value)}" is not an identity or sha2-256 multihash of a public key`)
  }
  return value as PeerKey
}

export function isPeerKey (value: string): value is PeerKey {
  try {
    parsePeerKey(value)
    return true
  } catch {
    return false
  }
}

/**
 * Checks a peer's registration. Empty labels mean "not configured" (protobuf's default for an
 * absent string) and are dropped; labels are otherwise 1 to MAX_LABEL_LENGTH printable characters.
 */
export function parsePeerInfo (input: { id: string, site?: string, zone?: string, uploadSlots: number }): PeerInfo {
  const id = parsePeerKey(input.id)
  const { uploadSlots } = input
  if (!Number.isSafeInteger(uploadSlots) || uploadSlots < 0 || uploadSlots > MAX_UPLOAD_SLOTS) {
    throw new InvalidPeerInfoError(`uploadSlots ${uploadSlots} of peer ${id} is not an integer in [0, ${MAX_UPLOAD_SLOTS}]`)
  }
  const info: PeerInfo = { id, uploadSlots }
  const site = parseLabel(input.site, 'site', id)
  const zone = parseLabel(input.zone, 'zone', id)
  if (site != null) info.site = site
  if (zone != null) info.zone = zone
  return info
}

function parseLabel (value: string | undefined, field: string, id: PeerKey): string | undefined {
  if (value == null || value === '') {
    return undefined
  }
  if (value.length > MAX_LABEL_LENGTH || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new InvalidPeerInfoError(`${field} label of peer ${id} must be at most ${MAX_LABEL_LENGTH} characters with no control characters`)
  }
  return value
}

/** A peer key's wire form (the multihash bytes), as agents are told members and parents. */
export function peerKeyBytes (key: PeerKey): Uint8Array<ArrayBuffer> {
  const bytes = decodeBase58btc(key)
  if (bytes == null) throw new InvalidPeerKeyError(`peer id "${truncate(key)}" is not base58btc`)
  return new Uint8Array(bytes)
}

/** Decodes base58btc (leading '1's are zero bytes); undefined for a character outside the alphabet. */
function decodeBase58btc (text: string): Uint8Array | undefined {
  let zeros = 0
  while (zeros < text.length && text.charCodeAt(zeros) === 0x31) {
    zeros++
  }
  // The value in base 256, least significant byte first.
  const value: number[] = []
  for (let i = zeros; i < text.length; i++) {
    const code = text.charCodeAt(i)
    let carry = code < 128 ? BASE58_DIGITS[code]! : -1
    if (carry < 0) {
      return undefined
    }
    for (let j = 0; j < value.length; j++) {
      carry += value[j]! * 58
      value[j] = carry & 0xff
      carry >>= 8
    }
    while (carry > 0) {
      value.push(carry & 0xff)
      carry >>= 8
    }
  }
  const bytes = new Uint8Array(zeros + value.length)
  for (let j = 0; j < value.length; j++) {
    bytes[bytes.length - 1 - j] = value[j]!
  }
  return bytes
}

function truncate (value: string): string {
  return value.length > 80 ? `${value.slice(0, 80)}...` : value
}
