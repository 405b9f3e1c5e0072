import { CID } from 'multiformats/cid'
import { base58btc } from 'multiformats/bases/base58'
import * as raw from 'multiformats/codecs/raw'
import { create as createMultihash, decode as decodeMultihashBytes } from 'multiformats/hashes/digest'
import type { MultihashDigest } from 'multiformats/hashes/interface'
import { sha256 } from 'multiformats/hashes/sha2'
import { digestAlgorithm, digestHex } from './digest.ts'
import type { Digest } from './digest.ts'
import { InvalidDigestError } from './errors.ts'

/**
 * A piece or blob identified by its sha256 as a CIDv1 with the raw codec: the form the DHT and
 * the piece table use, so a piece can be looked up by content alone.
 */
export function cidOfDigest (digest: Digest): CID {
  if (digestAlgorithm(digest) !== 'sha256') {
    throw new InvalidDigestError(`only sha256 digests have a CID here, not ${digest}`)
  }
  return CID.createV1(raw.code, createMultihash(sha256.code, Buffer.from(digestHex(digest), 'hex')))
}

/** The sha256 digest a raw-codec CID names. */
export function digestOfCid (cid: CID): Digest {
  if (cid.code !== raw.code || cid.multihash.code !== sha256.code) {
    throw new InvalidDigestError(`CID ${cid.toString()} is not a raw sha2-256 CID`)
  }
  return `sha256:${Buffer.from(cid.multihash.digest).toString('hex')}` as Digest
}

export function parseCid (value: string): CID {
  try {
    return CID.parse(value)
  } catch (err) {
    throw new InvalidDigestError(`"${value.slice(0, 80)}" is not a CID`, { cause: err })
  }
}

/** A binary multihash (a libp2p peer id on the wire is one); InvalidDigestError when it is not. */
export function decodeMultihash (bytes: Uint8Array): MultihashDigest {
  try {
    return decodeMultihashBytes(bytes)
  } catch (err) {
    throw new InvalidDigestError(`${bytes.byteLength} bytes that are not a multihash`, { cause: err })
  }
}

/** The text form of a libp2p peer id (base58btc of its multihash, `12D3Koo...`) from its wire bytes. */
export function peerIdText (bytes: Uint8Array): string {
  decodeMultihash(bytes)
  return base58btc.baseEncode(bytes)
}

export { CID }
