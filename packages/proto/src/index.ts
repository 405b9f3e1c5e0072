/**
 * @packageDocumentation
 *
 * shoal's shared vocabulary, used by the agent and the scheduler alike: parsed digests, the piece
 * arithmetic every agent agrees on, and CIDs. No I/O lives here.
 */
export { parseDigest, isDigest, digestAlgorithm, digestHex, digestOf } from './digest.ts'
export type { Digest, DigestAlgorithm } from './digest.ts'
export { pieceSizeFor, pieceCountFor, pieceSpan, pieceAt, MIN_PIECE_SIZE, MAX_PIECE_SIZE, TARGET_PIECE_COUNT } from './pieces.ts'
export type { PieceSpan } from './pieces.ts'
export { cidOfDigest, digestOfCid, parseCid, CID } from './cid.ts'
export { InvalidDigestError, InvalidPieceError, namedError } from './errors.ts'
