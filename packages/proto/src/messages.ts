import type { Uint8ArrayList } from 'uint8arraylist'
import { parseDigest } from './digest.ts'
import type { Digest } from './digest.ts'
import { InvalidMessageError } from './errors.ts'
import { PeerRequest, PeerResponse } from './gen/pieces.js'
import { MAX_PIECE_COUNT } from './pieces.ts'

export {
  Status, PeerRequest, PeerResponse, PieceTableRequest, BitfieldRequest, PieceRequest, CancelRequest,
  PieceTableResponse, BitfieldResponse, PieceResponse
} from './gen/pieces.js'

/**
 * The largest protocol message (not piece payload) a peer may send: a piece table of
 * MAX_PIECE_COUNT CIDs is about 2.4 MiB. Use it as the frame limit when reading messages.
 */
export const MAX_MESSAGE_SIZE = 4 * 1024 * 1024

/** A PeerRequest whose body has been checked, with its digest parsed. */
export type ParsedPeerRequest =
  | { id: number, kind: 'pieceTable', digest: Digest }
  | { id: number, kind: 'bitfield', digest: Digest }
  | { id: number, kind: 'piece', digest: Digest, index: number }
  | { id: number, kind: 'cancel', cancelId: number }

/** Decodes and checks a request from a peer; throws InvalidMessageError on anything malformed. */
export function decodePeerRequest (bytes: Uint8Array | Uint8ArrayList): ParsedPeerRequest {
  const message = decodeFrame(bytes, 'PeerRequest', () => PeerRequest.decode(bytes))
  const { id } = message
  if (message.pieceTable != null) {
    return { id, kind: 'pieceTable', digest: wireDigest(message.pieceTable.digest) }
  }
  if (message.bitfield != null) {
    return { id, kind: 'bitfield', digest: wireDigest(message.bitfield.digest) }
  }
  if (message.piece != null) {
    const { index } = message.piece
    if (index >= MAX_PIECE_COUNT) {
      throw new InvalidMessageError(`piece index ${index} is beyond the ${MAX_PIECE_COUNT} pieces a blob may have`)
    }
    return { id, kind: 'piece', digest: wireDigest(message.piece.digest), index }
  }
  if (message.cancel != null) {
    return { id, kind: 'cancel', cancelId: message.cancel.id }
  }
  throw new InvalidMessageError(`PeerRequest ${id} has no body`)
}

/**
 * Decodes a response from a peer, with exactly one body and at most MAX_PIECE_COUNT pieces in a
 * piece table. The body is then checked by parsePieceTable / parseBitfieldResponse, or against the
 * piece span for a PieceResponse.
 */
export function decodePeerResponse (bytes: Uint8Array | Uint8ArrayList): PeerResponse {
  const message = decodeFrame(bytes, 'PeerResponse', () => PeerResponse.decode(bytes, {
    limits: { pieceTable: { pieces: MAX_PIECE_COUNT } }
  }))
  if (message.pieceTable == null && message.bitfield == null && message.piece == null) {
    throw new InvalidMessageError(`PeerResponse ${message.id} has no body`)
  }
  return message
}

/** Runs a protons decoder on a frame no larger than MAX_MESSAGE_SIZE; any failure is InvalidMessageError. */
export function decodeFrame<T> (bytes: Uint8Array | Uint8ArrayList, type: string, decoder: () => T): T {
  if (bytes.byteLength > MAX_MESSAGE_SIZE) {
    throw new InvalidMessageError(`a ${type} of ${bytes.byteLength} bytes is larger than ${MAX_MESSAGE_SIZE}`)
  }
  try {
    return decoder()
  } catch (err) {
    throw new InvalidMessageError(`malformed ${type}: ${(err as Error).message}`, { cause: err })
  }
}

/** A digest from the wire; InvalidMessageError when it is not one. */
export function wireDigest (value: string): Digest {
  try {
    return parseDigest(value)
  } catch (err) {
    throw new InvalidMessageError('a request names an invalid blob digest', { cause: err })
  }
}
