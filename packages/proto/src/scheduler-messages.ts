import type { Uint8ArrayList } from 'uint8arraylist'
import { Bitfield } from './bitfield.ts'
import type { Digest } from './digest.ts'
import { InvalidMessageError } from './errors.ts'
import { Status } from './gen/pieces.js'
import { AgentMessage, FailureReason, PieceSource, SchedulerMessage } from './gen/scheduler.js'
import type { TaskPieceTable } from './gen/scheduler.js'
import { decodeFrame, wireDigest } from './messages.ts'
import { parsePieceTable } from './piece-table.ts'
import { isPlacementLabel, MAX_PREFETCH_BLOBS, MAX_PREFETCH_IMAGES, MAX_PREFETCH_PLATFORMS, parseJobId, parsePrefetchOrder, parsePrefetchProgress, parsePrefetchResolved } from './prefetch-messages.ts'
import type { JobId, ParsedPrefetchOrder, ParsedPrefetchProgress, ParsedPrefetchResolved } from './prefetch-messages.ts'
import type { PieceTable } from './piece-table.ts'
import { MAX_BLOB_SIZE, MAX_PIECE_COUNT, pieceCountFor } from './pieces.ts'

export {
  AgentMessage, SchedulerMessage, Register, AnnounceTask, PiecesFinished, PieceFailed, TaskPieceTable, LeaveTask,
  Registered, Parents, Parent, OriginAssignment, PieceSource, FailureReason, Members,
  PrefetchOrder, PrefetchCancel, PrefetchResolved, PrefetchProgress, PrefetchBlobState
} from './gen/scheduler.js'

/** Addresses an agent or a parent may list, and the bytes of one (a binary multiaddr). */
export const MAX_ADDRESSES = 16
export const MAX_ADDRESS_BYTES = 512
/** Parents in one list. */
export const MAX_PARENTS = 64
/** Peer ids in one Members message: a larger set goes out as a full message and added-only ones after it. */
export const MAX_MEMBERS_PER_MESSAGE = 50_000
/** A join token's characters. */
export const MAX_JOIN_TOKEN_LENGTH = 256
/** Host names as DNS allows; site and zone labels are short identifiers. */
const MAX_HOST_NAME_LENGTH = 253
/** The binary form of a libp2p peer id: an identity or sha2-256 multihash, well under this. */
const MAX_PEER_ID_BYTES = 128

export type PieceFailureReason = 'timeout' | 'refused' | 'unavailable' | 'bad-piece' | 'bad-table'

/** An AgentMessage with its one body checked and its values parsed. */
export type ParsedAgentMessage =
  | { kind: 'register', addresses: Uint8Array[], hostName: string, site?: string, zone?: string, uploadSlots: number, uploadBytesPerSecond?: number, joinToken?: string }
  | { kind: 'announceTask', digest: Digest, size: number, bitfield: Bitfield, wantsPieces: boolean }
  | { kind: 'piecesFinished', digest: Digest, indexes: number[], source: 'peer' | 'origin', parent?: Uint8Array, bytes: number, originBytes?: number, reading?: number[] }
  | { kind: 'pieceFailed', digest: Digest, index: number, parent?: Uint8Array, reason: PieceFailureReason }
  | { kind: 'pieceTable', table: PieceTable }
  | { kind: 'leaveTask', digest: Digest }
  | ParsedPrefetchResolved
  | ParsedPrefetchProgress

/** A SchedulerMessage with its one body checked (bitfields and tables are checked against the blob by the agent, which knows its size). */
export type ParsedSchedulerMessage =
  | { kind: 'registered', reportIntervalMs: number }
  | { kind: 'parents', digest: Digest, parents: Array<{ peerId: Uint8Array, addresses: Uint8Array[], bitfield: Uint8Array }> }
  | { kind: 'origin', digest: Digest, pieces: number[] }
  | { kind: 'pieceTable', digest: Digest, message: TaskPieceTable }
  | ParsedPrefetchOrder
  | { kind: 'prefetchCancel', job: JobId }
  | { kind: 'members', full: boolean, added: Uint8Array[], removed: Uint8Array[] }

const REASONS: Partial<Record<FailureReason, PieceFailureReason>> = {
  [FailureReason.FAILURE_TIMEOUT]: 'timeout',
  [FailureReason.FAILURE_REFUSED]: 'refused',
  [FailureReason.FAILURE_UNAVAILABLE]: 'unavailable',
  [FailureReason.FAILURE_BAD_PIECE]: 'bad-piece',
  [FailureReason.FAILURE_BAD_TABLE]: 'bad-table'
}

/** Decodes and checks what an agent sent; throws InvalidMessageError on anything malformed. */
export function decodeAgentMessage (bytes: Uint8Array | Uint8ArrayList): ParsedAgentMessage {
  const message = decodeFrame(bytes, 'AgentMessage', () => AgentMessage.decode(bytes, {
    limits: {
      register: { addresses: MAX_ADDRESSES },
      piecesFinished: { indexes: MAX_PIECE_COUNT, reading: MAX_PIECE_COUNT },
      pieceTable: { pieces: MAX_PIECE_COUNT },
      prefetchResolved: { images: MAX_PREFETCH_IMAGES, images$: { blobs: MAX_PREFETCH_BLOBS } },
      prefetchProgress: { blobs: MAX_PREFETCH_BLOBS }
    }
  }))
  const { register, announceTask, piecesFinished, pieceFailed, pieceTable, leaveTask, prefetchResolved, prefetchProgress } = message
  if (register != null) {
    const site = optionalLabel('site', register.site)
    const zone = optionalLabel('zone', register.zone)
    if (register.hostName.length > MAX_HOST_NAME_LENGTH) throw new InvalidMessageError(`a host name of ${register.hostName.length} characters is too long`)
    if (register.uploadSlots < 1 || register.uploadSlots > 4096) throw new InvalidMessageError(`upload slots ${register.uploadSlots} is not in [1, 4096]`)
    if (register.joinToken.length > MAX_JOIN_TOKEN_LENGTH) throw new InvalidMessageError(`a join token of ${register.joinToken.length} characters is too long`)
    return {
      kind: 'register',
      addresses: register.addresses.map(checkAddress),
      hostName: register.hostName,
      site,
      zone,
      uploadSlots: register.uploadSlots,
      uploadBytesPerSecond: register.uploadBytesPerSecond > 0n ? safeNumber('upload limit', register.uploadBytesPerSecond) : undefined,
      joinToken: register.joinToken === '' ? undefined : register.joinToken
    }
  }
  if (announceTask != null) {
    const size = blobSize(announceTask.size)
    return { kind: 'announceTask', digest: wireDigest(announceTask.digest), size, bitfield: bitfieldOf(announceTask.bitfield, pieceCountFor(size)), wantsPieces: announceTask.wantsPieces }
  }
  if (piecesFinished != null) {
    const source = piecesFinished.source === PieceSource.SOURCE_PEER ? 'peer' : piecesFinished.source === PieceSource.SOURCE_ORIGIN ? 'origin' : undefined
    if (source == null) throw new InvalidMessageError('finished pieces without a source')
    const parent = optionalPeerId(piecesFinished.parent)
    if ((source === 'peer') !== (parent != null)) throw new InvalidMessageError('finished pieces name a parent exactly when they came from a peer')
    return { kind: 'piecesFinished', digest: wireDigest(piecesFinished.digest), indexes: piecesFinished.indexes.map(pieceIndex), source, parent, bytes: safeNumber('bytes', piecesFinished.bytes), originBytes: safeNumber('originBytes', piecesFinished.originBytes), reading: piecesFinished.reading.map(pieceIndex) }
  }
  if (pieceFailed != null) {
    const reason = REASONS[pieceFailed.reason]
    if (reason == null) throw new InvalidMessageError('a piece failure without a reason')
    return { kind: 'pieceFailed', digest: wireDigest(pieceFailed.digest), index: pieceIndex(pieceFailed.index), parent: optionalPeerId(pieceFailed.parent), reason }
  }
  if (pieceTable != null) {
    const digest = wireDigest(pieceTable.digest)
    try {
      return { kind: 'pieceTable', table: parsePieceTable({ status: Status.OK, size: pieceTable.size, pieceSize: pieceTable.pieceSize, pieces: pieceTable.pieces }, { digest }) }
    } catch (err) {
      throw new InvalidMessageError(`an invalid piece table: ${(err as Error).message}`, { cause: err })
    }
  }
  if (leaveTask != null) return { kind: 'leaveTask', digest: wireDigest(leaveTask.digest) }
  if (prefetchResolved != null) return parsePrefetchResolved(prefetchResolved)
  if (prefetchProgress != null) return parsePrefetchProgress(prefetchProgress)
  throw new InvalidMessageError('an AgentMessage without a body')
}

/** Decodes and checks what a scheduler sent; throws InvalidMessageError on anything malformed. */
export function decodeSchedulerMessage (bytes: Uint8Array | Uint8ArrayList): ParsedSchedulerMessage {
  const message = decodeFrame(bytes, 'SchedulerMessage', () => SchedulerMessage.decode(bytes, {
    limits: {
      parents: { parents: MAX_PARENTS },
      origin: { pieces: MAX_PIECE_COUNT },
      pieceTable: { pieces: MAX_PIECE_COUNT },
      prefetch: { images: MAX_PREFETCH_IMAGES, platforms: MAX_PREFETCH_PLATFORMS, blobs: MAX_PREFETCH_BLOBS },
      members: { added: MAX_MEMBERS_PER_MESSAGE, removed: MAX_MEMBERS_PER_MESSAGE }
    }
  }))
  const { registered, parents, origin, pieceTable, prefetch, prefetchCancel, members } = message
  if (registered != null) return { kind: 'registered', reportIntervalMs: registered.reportIntervalMs }
  if (parents != null) {
    return {
      kind: 'parents',
      digest: wireDigest(parents.digest),
      parents: parents.parents.map(p => {
        if (p.addresses.length > MAX_ADDRESSES) throw new InvalidMessageError(`a parent with ${p.addresses.length} addresses`)
        if (p.bitfield.byteLength > Bitfield.byteLengthFor(MAX_PIECE_COUNT)) throw new InvalidMessageError('a parent bitfield longer than any blob\'s')
        return { peerId: peerId(p.peerId), addresses: p.addresses.map(checkAddress), bitfield: p.bitfield }
      })
    }
  }
  if (origin != null) {
    const pieces = origin.pieces.map(pieceIndex)
    if (new Set(pieces).size !== pieces.length) throw new InvalidMessageError('an origin assignment names a piece twice')
    return { kind: 'origin', digest: wireDigest(origin.digest), pieces }
  }
  if (pieceTable != null) return { kind: 'pieceTable', digest: wireDigest(pieceTable.digest), message: pieceTable }
  if (prefetch != null) return parsePrefetchOrder(prefetch)
  if (prefetchCancel != null) return { kind: 'prefetchCancel', job: parseJobId(prefetchCancel.job) }
  if (members != null) return { kind: 'members', full: members.full, added: members.added.map(peerId), removed: members.removed.map(peerId) }
  throw new InvalidMessageError('a SchedulerMessage without a body')
}

function blobSize (value: bigint): number {
  if (value > BigInt(MAX_BLOB_SIZE)) throw new InvalidMessageError(`a blob of ${value} bytes is larger than ${MAX_BLOB_SIZE}`)
  return Number(value)
}

function safeNumber (what: string, value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new InvalidMessageError(`${what} ${value} is out of range`)
  return Number(value)
}

function pieceIndex (index: number): number {
  if (index >= MAX_PIECE_COUNT) throw new InvalidMessageError(`piece index ${index} is beyond the ${MAX_PIECE_COUNT} pieces a blob may have`)
  return index
}

function bitfieldOf (bytes: Uint8Array, pieceCount: number): Bitfield {
  try {
    return new Bitfield(pieceCount, bytes)
  } catch (err) {
    throw new InvalidMessageError(`an invalid bitfield: ${(err as Error).message}`, { cause: err })
  }
}

function checkAddress (bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_ADDRESS_BYTES) throw new InvalidMessageError(`an address of ${bytes.byteLength} bytes`)
  return bytes
}

function peerId (bytes: Uint8Array): Uint8Array {
  if (bytes.byteLength === 0 || bytes.byteLength > MAX_PEER_ID_BYTES) throw new InvalidMessageError(`a peer id of ${bytes.byteLength} bytes`)
  return bytes
}

function optionalPeerId (bytes: Uint8Array): Uint8Array | undefined {
  return bytes.byteLength === 0 ? undefined : peerId(bytes)
}

function optionalLabel (what: string, value: string): string | undefined {
  if (value === '') return undefined
  if (!isPlacementLabel(value)) throw new InvalidMessageError(`${what} "${value.slice(0, 70)}" is not a label (letters, digits, . _ -; at most 63)`)
  return value
}
