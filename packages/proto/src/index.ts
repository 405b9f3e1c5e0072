/**
 * @packageDocumentation
 *
 * shoal's shared vocabulary, used by the agent and the scheduler alike: parsed digests, the piece
 * arithmetic every agent agrees on, CIDs, and the peer and scheduler protocols: their ids, their
 * wire messages (src/proto/*.proto, compiled into src/gen by `pnpm gen:proto`) and the checks that
 * turn what a peer or a scheduler sends into trusted values (piece tables, bitfields). No I/O lives here.
 */
export { parseDigest, isDigest, digestAlgorithm, digestHex, digestOf } from './digest.ts'
export type { Digest, DigestAlgorithm } from './digest.ts'
export { pieceSizeFor, pieceCountFor, pieceSpan, pieceAt, MIN_PIECE_SIZE, MAX_PIECE_SIZE, TARGET_PIECE_COUNT, SMALL_PIECE_COUNT, SMALL_PIECE_SIZE_LIMIT,
  MAX_PIECE_COUNT, MAX_BLOB_SIZE, ORIGIN_RUN_BYTES, ORIGIN_MIN_RUNS, originReadPiecesFor, originRunFor, stripeBytes, stripeCountFor, stripePieces } from './pieces.ts'
export type { PieceSpan, PieceStripe } from './pieces.ts'
export { cidOfDigest, decodeMultihash, digestOfCid, parseCid, peerIdText, CID } from './cid.ts'
export {
  InvalidDigestError, InvalidPieceError, InvalidBitfieldError, InvalidPieceTableError, InvalidMessageError, InvalidReferenceError, namedError
} from './errors.ts'
export {
  isRegistryHost, isRepositoryName, isTag, isTagGlob, tagGlobMatcher, MAX_REPOSITORY_NAME_LENGTH, parseImageReference
} from './image-reference.ts'
export type { ImageReference } from './image-reference.ts'
export { PIECES_PROTOCOL, DHT_PROTOCOL, SCHEDULER_PROTOCOL } from './protocols.ts'
export { Bitfield, parseBitfieldResponse, bitfieldResponse } from './bitfield.ts'
export type { PeerBitfield } from './bitfield.ts'
export { isFullTable, mergePieceTables, parsePieceTable, pieceTableResponse } from './piece-table.ts'
export type { PieceTable, PieceTableExpectation } from './piece-table.ts'
export {
  decodePeerRequest, decodePeerResponse, MAX_MESSAGE_SIZE, Status, PeerRequest, PeerResponse,
  PieceTableRequest, BitfieldRequest, PieceRequest, CancelRequest, PieceTableResponse, BitfieldResponse, PieceResponse
} from './messages.ts'
export type { ParsedPeerRequest } from './messages.ts'
export { boundedLengthDecoder, varintLength } from './frame-length.ts'
export {
  decodeAgentMessage, decodeSchedulerMessage, MAX_ADDRESSES, MAX_ADDRESS_BYTES, MAX_PARENTS, MAX_MEMBERS_PER_MESSAGE, MAX_JOIN_TOKEN_LENGTH,
  AgentMessage, SchedulerMessage, Register, AnnounceTask, PiecesFinished, PieceFailed, TaskPieceTable, LeaveTask,
  Registered, Parents, Parent, OriginAssignment, PieceSource, FailureReason,
  PrefetchOrder, PrefetchCancel, PrefetchResolved, PrefetchProgress, PrefetchBlobState
} from './scheduler-messages.ts'
export type { ParsedAgentMessage, ParsedSchedulerMessage, PieceFailureReason } from './scheduler-messages.ts'
export {
  parseJobId, prefetchBlob, prefetchFailure, prefetchShareKey, stripeFields, PREFETCH_BLOB_STATES, PREFETCH_FAILURE_REASONS, MAX_PREFETCH_BLOBS, MAX_PREFETCH_IMAGES, MAX_PREFETCH_PLATFORMS,
  MAX_PREFETCH_REFERENCE_LENGTH, MAX_PREFETCH_TAG_FILTER_LENGTH, MAX_JOB_AUTHORIZATION_LENGTH, isJobAuthorization, isPlacementLabel, isPlatformText
} from './prefetch-messages.ts'
export type {
  JobId, ParsedPrefetchBlob, ParsedPrefetchFailure, ParsedPrefetchOrder, ParsedPrefetchProgress, ParsedPrefetchResolved, PrefetchBlobStateName, PrefetchFailureReason
} from './prefetch-messages.ts'
