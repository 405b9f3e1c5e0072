import test from 'ava'
import {
  AgentMessage, Bitfield, cidOfDigest, decodeAgentMessage, decodeSchedulerMessage, digestOf, FailureReason, MAX_PIECE_COUNT,
  PieceSource, SchedulerMessage
} from '../src/index.ts'
import type { AgentMessage as AgentMessageType } from '../src/index.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024
const digest = digestOf(new TextEncoder().encode('layer'))
const peer = new Uint8Array([0, 36, 8, 1, 18, 32, ...new Uint8Array(32).fill(7)])
const addr = new Uint8Array([4, 127, 0, 0, 1, 6, 0xfd, 0xea])

function agent (message: Partial<AgentMessageType>): Uint8Array {
  return AgentMessage.encode(message as AgentMessageType)
}

test('every agent message decodes to its parsed form', t => {
  const register = decodeAgentMessage(agent({ register: { addresses: [addr], hostName: 'node-7', site: 'edge-1', zone: 'eu', uploadSlots: 8, uploadBytesPerSecond: 0n, joinToken: '' } }))
  t.deepEqual(register, { kind: 'register', addresses: [addr], hostName: 'node-7', site: 'edge-1', zone: 'eu', uploadSlots: 8, uploadBytesPerSecond: undefined, joinToken: undefined })
  const joining = decodeAgentMessage(agent({ register: { addresses: [addr], hostName: 'node-7', site: '', zone: '', uploadSlots: 8, uploadBytesPerSecond: 0n, joinToken: 'tok' } }))
  t.like(joining, { kind: 'register', joinToken: 'tok' })

  const bits = new Bitfield(3)
  bits.set(1)
  const announce = decodeAgentMessage(agent({ announceTask: { digest, size: BigInt(3 * PIECE), bitfield: bits.toBytes(), wantsPieces: true } }))
  t.like(announce, { kind: 'announceTask', digest, size: 3 * PIECE, wantsPieces: true })
  t.true(announce.kind === 'announceTask' && announce.bitfield.has(1) && announce.bitfield.count() === 1)

  t.deepEqual(decodeAgentMessage(agent({ piecesFinished: { digest, indexes: [0, 2], source: PieceSource.SOURCE_PEER, parent: peer, bytes: BigInt(2 * PIECE), originBytes: 0n, reading: [] } })),
    { kind: 'piecesFinished', digest, indexes: [0, 2], source: 'peer', parent: peer, bytes: 2 * PIECE, originBytes: 0, reading: [] })
  t.deepEqual(decodeAgentMessage(agent({ piecesFinished: { digest, indexes: [1], source: PieceSource.SOURCE_ORIGIN, parent: new Uint8Array(), bytes: BigInt(PIECE), originBytes: BigInt(PIECE + 100), reading: [] } })),
    { kind: 'piecesFinished', digest, indexes: [1], source: 'origin', parent: undefined, bytes: PIECE, originBytes: PIECE + 100, reading: [] })
  t.deepEqual(decodeAgentMessage(agent({ piecesFinished: { digest, indexes: [], source: PieceSource.SOURCE_ORIGIN, parent: new Uint8Array(), bytes: 0n, originBytes: 4096n, reading: [3, 4] } })),
    { kind: 'piecesFinished', digest, indexes: [], source: 'origin', parent: undefined, bytes: 0, originBytes: 4096, reading: [3, 4] }, 'bytes of a read under way, no piece finished, and the pieces it reads')
  t.deepEqual(decodeAgentMessage(agent({ pieceFailed: { digest, index: 4, parent: peer, reason: FailureReason.FAILURE_BAD_PIECE } })),
    { kind: 'pieceFailed', digest, index: 4, parent: peer, reason: 'bad-piece' })
  const cids = [0, 1].map(i => cidOfDigest(digestOf(new TextEncoder().encode(`piece ${i}`))).bytes)
  const table = decodeAgentMessage(agent({ pieceTable: { digest, size: BigInt(2 * PIECE), pieceSize: PIECE, pieces: [cids[0]!, new Uint8Array()] } }))
  t.true(table.kind === 'pieceTable' && table.table.pieces[0]?.toString() === cidOfDigest(digestOf(new TextEncoder().encode('piece 0'))).toString() && table.table.pieces[1] == null)
  t.deepEqual(decodeAgentMessage(agent({ leaveTask: { digest } })), { kind: 'leaveTask', digest })
})

test('malformed agent messages are InvalidMessageError, whatever the field', t => {
  const bad = (message: Partial<AgentMessageType> | Uint8Array, pattern: RegExp): void => {
    const bytes = message instanceof Uint8Array ? message : agent(message)
    t.throws(() => decodeAgentMessage(bytes), { name: 'InvalidMessageError', message: pattern })
  }
  const register = { addresses: [addr], hostName: 'h', site: '', zone: '', uploadSlots: 4, uploadBytesPerSecond: 0n, joinToken: '' }
  bad({ register: { ...register, joinToken: 'x'.repeat(257) } }, /join token/)
  bad({}, /without a body/)
  bad(new Uint8Array([0xff, 0xff, 0xff]), /malformed AgentMessage/)
  bad({ register: { ...register, uploadSlots: 0 } }, /upload slots/)
  bad({ register: { ...register, site: 'has space' } }, /site .* is not a label/)
  bad({ register: { ...register, addresses: [new Uint8Array()] } }, /an address of 0 bytes/)
  bad({ register: { ...register, addresses: Array.from({ length: 17 }, () => addr) } }, /malformed/)
  bad({ announceTask: { digest: 'sha256:nothex', size: 1n, bitfield: new Uint8Array(1), wantsPieces: false } }, /invalid blob digest/)
  bad({ announceTask: { digest, size: BigInt(3 * PIECE), bitfield: new Uint8Array(2), wantsPieces: false } }, /invalid bitfield/)
  bad({ announceTask: { digest, size: 2n ** 62n, bitfield: new Uint8Array(), wantsPieces: false } }, /larger than/)
  bad({ piecesFinished: { digest, indexes: [MAX_PIECE_COUNT], source: PieceSource.SOURCE_ORIGIN, parent: new Uint8Array(), bytes: 0n, originBytes: 0n, reading: [] } }, /beyond/)
  bad({ piecesFinished: { digest, indexes: [], source: PieceSource.SOURCE_ORIGIN, parent: new Uint8Array(), bytes: 0n, originBytes: 0n, reading: [MAX_PIECE_COUNT] } }, /beyond/)
  bad({ piecesFinished: { digest, indexes: [0], source: PieceSource.SOURCE_UNSPECIFIED, parent: new Uint8Array(), bytes: 0n, originBytes: 0n, reading: [] } }, /without a source/)
  bad({ piecesFinished: { digest, indexes: [0], source: PieceSource.SOURCE_PEER, parent: new Uint8Array(), bytes: 0n, originBytes: 0n, reading: [] } }, /parent exactly when/)
  bad({ piecesFinished: { digest, indexes: [0], source: PieceSource.SOURCE_ORIGIN, parent: peer, bytes: 0n, originBytes: 0n, reading: [] } }, /parent exactly when/)
  bad({ pieceFailed: { digest, index: 0, parent: peer, reason: FailureReason.FAILURE_UNSPECIFIED } }, /without a reason/)
  bad({ pieceTable: { digest, size: BigInt(2 * PIECE), pieceSize: 2 * PIECE, pieces: [] } }, /invalid piece table/)
})

test('scheduler messages decode; a piece assigned twice or too many parents are refused', t => {
  t.deepEqual(decodeSchedulerMessage(SchedulerMessage.encode({ registered: { reportIntervalMs: 250 } })), { kind: 'registered', reportIntervalMs: 250 })
  const bits = new Bitfield(4).toBytes()
  t.deepEqual(decodeSchedulerMessage(SchedulerMessage.encode({ parents: { digest, parents: [{ peerId: peer, addresses: [addr], bitfield: bits }] } })),
    { kind: 'parents', digest, parents: [{ peerId: peer, addresses: [addr], bitfield: bits }] })
  t.deepEqual(decodeSchedulerMessage(SchedulerMessage.encode({ origin: { digest, pieces: [3, 0, 5] } })), { kind: 'origin', digest, pieces: [3, 0, 5] })
  t.throws(() => decodeSchedulerMessage(SchedulerMessage.encode({ origin: { digest, pieces: [1, 1] } })), { name: 'InvalidMessageError', message: /twice/ })
  t.deepEqual(decodeSchedulerMessage(SchedulerMessage.encode({ members: { full: true, added: [peer], removed: [] } })), { kind: 'members', full: true, added: [peer], removed: [] })
  t.throws(() => decodeSchedulerMessage(SchedulerMessage.encode({ members: { full: false, added: [], removed: [new Uint8Array()] } })), { name: 'InvalidMessageError', message: /peer id of 0 bytes/ })
  const many = Array.from({ length: 65 }, () => ({ peerId: peer, addresses: [], bitfield: bits }))
  t.throws(() => decodeSchedulerMessage(SchedulerMessage.encode({ parents: { digest, parents: many } })), { name: 'InvalidMessageError' })
  t.throws(() => decodeSchedulerMessage(SchedulerMessage.encode({ parents: { digest, parents: [{ peerId: new Uint8Array(), addresses: [], bitfield: bits }] } })), { name: 'InvalidMessageError', message: /peer id of 0 bytes/ })
  t.throws(() => decodeSchedulerMessage(SchedulerMessage.encode({})), { name: 'InvalidMessageError', message: /without a body/ })
})
