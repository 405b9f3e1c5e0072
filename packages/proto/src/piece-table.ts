import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { Digest as Multihash } from 'multiformats/hashes/digest'
import { sha256 } from 'multiformats/hashes/sha2'
import { cidOfDigest } from './cid.ts'
import { digestAlgorithm } from './digest.ts'
import type { Digest } from './digest.ts'
import { InvalidPieceTableError } from './errors.ts'
import { Status } from './gen/pieces.js'
import type { PieceTableResponse } from './gen/pieces.js'
import { MAX_BLOB_SIZE, pieceCountFor, pieceSizeFor } from './pieces.ts'

/**
 * The digests of a blob's pieces, checked against the blob: what every piece is verified against.
 * A holder that is still downloading the blob knows only the pieces it has verified: its table has
 * holes (undefined), which fill as it goes (mergePieceTables).
 */
export interface PieceTable {
  digest: Digest
  size: number
  pieceSize: number
  /** One raw sha2-256 CID per piece, in order; undefined where the holder does not know it yet. */
  pieces: Array<CID | undefined>
}

export interface PieceTableExpectation {
  /** The blob the table was asked for. */
  digest: Digest
  /** The blob's size when the caller knows it (from a manifest or the origin); the table must agree. */
  size?: number
}

/**
 * Turns a peer's PieceTableResponse into a PieceTable, or throws InvalidPieceTableError. Nothing in
 * the message is taken on trust: the size must be in range (and match the expected one), the piece
 * size and count must be those every agent computes from the size, and every piece must be a raw
 * sha2-256 CID or empty (not known yet). A blob of one piece is its own piece, so that CID must be
 * the blob's.
 */
export function parsePieceTable (message: PieceTableResponse, expected: PieceTableExpectation): PieceTable {
  const { digest } = expected
  if (digestAlgorithm(digest) !== 'sha256') {
    throw new InvalidPieceTableError(`blobs are cut into pieces only when their digest is sha256, not ${digest}`)
  }
  if (message.status !== Status.OK) {
    throw new InvalidPieceTableError(`a response with status ${message.status} carries no piece table for ${digest}`)
  }
  if (message.size > BigInt(MAX_BLOB_SIZE)) {
    throw new InvalidPieceTableError(`the piece table of ${digest} claims ${message.size} bytes, more than the ${MAX_BLOB_SIZE} allowed`)
  }
  const size = Number(message.size)
  if (expected.size != null && size !== expected.size) {
    throw new InvalidPieceTableError(`the piece table of ${digest} claims ${size} bytes, the blob has ${expected.size}`)
  }
  const pieceSize = pieceSizeFor(size)
  if (message.pieceSize !== pieceSize) {
    throw new InvalidPieceTableError(`the piece table of ${digest} has pieces of ${message.pieceSize} bytes, a blob of ${size} bytes has ${pieceSize}`)
  }
  const count = pieceCountFor(size)
  if (message.pieces.length !== count) {
    throw new InvalidPieceTableError(`the piece table of ${digest} lists ${message.pieces.length} pieces, a blob of ${size} bytes has ${count}`)
  }
  const pieces = message.pieces.map((bytes, index) => bytes.byteLength === 0 ? undefined : pieceCid(bytes, index, digest))
  const only = pieces[0]
  if (count === 1 && only != null && !only.equals(cidOfDigest(digest))) {
    throw new InvalidPieceTableError(`${digest} is one piece, but the table names another: ${only.toString()}`)
  }
  return { digest, size, pieceSize, pieces }
}

/** Whether the table names every piece (a holder that has the whole blob). */
export function isFullTable (table: PieceTable): boolean {
  return table.pieces.every(cid => cid != null)
}

/**
 * A newer answer of the same holder merged into what was known: the holes it filled are taken, a
 * piece it names differently from before is an InvalidPieceTableError (a peer that changes its story
 * is not believed twice). Returns the number of pieces learned.
 */
export function mergePieceTables (known: PieceTable, fresh: PieceTable): number {
  if (fresh.digest !== known.digest || fresh.size !== known.size) {
    throw new InvalidPieceTableError(`a piece table of ${fresh.digest} (${fresh.size} bytes) cannot update one of ${known.digest} (${known.size} bytes)`)
  }
  let learned = 0
  fresh.pieces.forEach((cid, index) => {
    const before = known.pieces[index]
    if (cid == null) return
    if (before == null) {
      known.pieces[index] = cid
      learned++
    } else if (!before.equals(cid)) {
      throw new InvalidPieceTableError(`piece ${index} of ${known.digest} was ${before.toString()} and is now ${String(cid)}`)
    }
  })
  return learned
}

/** The PieceTableResponse (status OK) a holder of `table` sends; a piece it does not know is empty. */
export function pieceTableResponse (table: PieceTable): PieceTableResponse {
  return {
    status: Status.OK,
    size: BigInt(table.size),
    pieceSize: table.pieceSize,
    pieces: table.pieces.map(cid => cid == null ? new Uint8Array(0) : cid.bytes.slice())
  }
}

/** A CIDv1 (1) of the raw codec (0x55) over a sha2-256 multihash (0x12, 32 bytes): 36 bytes. */
const PIECE_CID_LENGTH = 36

function pieceCid (bytes: Uint8Array, index: number, digest: Digest): CID {
  if (bytes.byteLength !== PIECE_CID_LENGTH) {
    throw new InvalidPieceTableError(`piece ${index} of ${digest} has ${bytes.byteLength} bytes, a piece CID has ${PIECE_CID_LENGTH}`)
  }
  // What every well-formed entry is: CIDv1, raw, sha2-256, 32 bytes (one varint byte each), then
  // the digest. Made directly, without CID.decode's varint parsing: a scheduler parses every
  // agent's table (decoding was a tenth of its CPU in `bench scheduler`). Anything else is decoded
  // below, for the error that names what it is.
  if (bytes[0] === 1 && bytes[1] === raw.code && bytes[2] === sha256.code && bytes[3] === 32) {
    const copy = bytes.slice()
    return new CID(1, raw.code, new Multihash(sha256.code, 32, copy.subarray(4), copy.subarray(2)), copy)
  }
  let cid: CID
  try {
    // a copy, so that the table does not pin or share the received frame; decode() rejects
    // trailing bytes, so one encoding names one piece
    cid = CID.decode(bytes.slice())
  } catch (err) {
    throw new InvalidPieceTableError(`piece ${index} of ${digest} is not a CID`, { cause: err })
  }
  if (cid.version !== 1 || cid.code !== raw.code || cid.multihash.code !== sha256.code ||
      cid.multihash.size !== 32) {
    throw new InvalidPieceTableError(`piece ${index} of ${digest} is ${cid.toString()}, not a raw sha2-256 CIDv1`)
  }
  return cid
}
