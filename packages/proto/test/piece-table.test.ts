import test from 'ava'
import { CID } from 'multiformats/cid'
import { create as createMultihash } from 'multiformats/hashes/digest'
import { identity } from 'multiformats/hashes/identity'
import {
  cidOfDigest, digestOf, isFullTable, mergePieceTables, parsePieceTable, pieceTableResponse, pieceCountFor, pieceSizeFor, MAX_BLOB_SIZE, MAX_PIECE_SIZE, Status
} from '../src/index.ts'
import type { Digest, PieceTableResponse } from '../src/index.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024
const blob = digestOf(new TextEncoder().encode('a blob of several pieces'))

/** A well-formed table for a blob of `size` bytes: piece i's CID is the sha256 of "piece i". */
function tableFor (size: number): PieceTableResponse {
  const pieces = Array.from({ length: pieceCountFor(size) }, (_, i) =>
    cidOfDigest(digestOf(new TextEncoder().encode(`piece ${i}`))).bytes)
  return { status: Status.OK, size: BigInt(size), pieceSize: pieceSizeFor(size), pieces }
}

test('a well-formed table becomes a PieceTable and encodes back to the same message', t => {
  const size = 3 * PIECE + 5
  const message = tableFor(size)
  const table = parsePieceTable(message, { digest: blob, size })
  t.is(table.digest, blob)
  t.is(table.size, size)
  t.is(table.pieceSize, PIECE)
  t.is(table.pieces.length, 4)
  t.true(table.pieces[2]!.equals(CID.decode(message.pieces[2]!)))
  t.deepEqual(pieceTableResponse(table), message)
  t.notThrows(() => parsePieceTable(message, { digest: blob }), 'the size may be unknown to the caller')
})

test('each entry is the CID CID.decode makes of its bytes, in every part, and does not share the message\'s bytes', t => {
  const message = tableFor(3 * PIECE)
  const table = parsePieceTable(message, { digest: blob })
  for (const [i, cid] of table.pieces.entries()) {
    const decoded = CID.decode(message.pieces[i]!)
    t.true(cid!.equals(decoded))
    t.is(cid!.toString(), decoded.toString())
    t.deepEqual([cid!.version, cid!.code, cid!.multihash.code, cid!.multihash.size], [decoded.version, decoded.code, decoded.multihash.code, decoded.multihash.size])
    t.deepEqual(cid!.multihash.digest, decoded.multihash.digest)
    t.deepEqual(cid!.multihash.bytes, decoded.multihash.bytes)
  }
  message.pieces[0]!.fill(0)
  t.true(table.pieces[0]!.equals(CID.decode(tableFor(3 * PIECE).pieces[0]!)), 'a copy: the message\'s buffer may be reused')
})

test('an empty blob has no pieces; a blob of one piece is its own piece', t => {
  const empty = digestOf(new Uint8Array())
  t.deepEqual(parsePieceTable(tableFor(0), { digest: empty, size: 0 }).pieces, [])

  const bytes = new TextEncoder().encode('one small layer')
  const digest = digestOf(bytes)
  const own = { ...tableFor(bytes.byteLength), pieces: [cidOfDigest(digest).bytes] }
  t.is(parsePieceTable(own, { digest, size: bytes.byteLength }).pieces.length, 1)
  t.throws(() => parsePieceTable(tableFor(bytes.byteLength), { digest, size: bytes.byteLength }),
    { name: 'InvalidPieceTableError', message: /is one piece/ })
})

test('sizes, piece sizes and piece counts must be what the blob size implies', t => {
  const size = 3 * PIECE + 5
  const good = tableFor(size)
  const bad = (message: PieceTableResponse, expected: { digest: Digest, size?: number }, pattern: RegExp): void => {
    t.throws(() => parsePieceTable(message, expected), { name: 'InvalidPieceTableError', message: pattern })
  }
  bad(good, { digest: blob, size: size + 1 }, /claims 786437 bytes/)
  bad({ ...good, pieceSize: 2 * PIECE }, { digest: blob }, /pieces of 524288 bytes/)
  bad({ ...good, pieceSize: 0 }, { digest: blob }, /pieces of 0 bytes/)
  bad({ ...good, pieces: good.pieces.slice(1) }, { digest: blob }, /lists 3 pieces/)
  bad({ ...good, pieces: [...good.pieces, good.pieces[0]!] }, { digest: blob }, /lists 5 pieces/)
  bad({ ...good, status: Status.UNSPECIFIED }, { digest: blob }, /status UNSPECIFIED/)
  bad({ ...good, status: Status.NOT_FOUND }, { digest: blob }, /status NOT_FOUND/)
})

test('oversized fields are refused before anything is allocated for them', t => {
  const huge = { status: Status.OK, size: BigInt(MAX_BLOB_SIZE) + 1n, pieceSize: MAX_PIECE_SIZE, pieces: [] }
  t.throws(() => parsePieceTable(huge, { digest: blob }), { name: 'InvalidPieceTableError', message: /more than/ })
  const beyondUint64 = { ...huge, size: 2n ** 64n - 1n }
  t.throws(() => parsePieceTable(beyondUint64, { digest: blob }), { name: 'InvalidPieceTableError' })
  const good = tableFor(2 * PIECE)
  const long = new Uint8Array(1024 * 1024)
  long.set(good.pieces[0]!)
  t.throws(() => parsePieceTable({ ...good, pieces: [long, good.pieces[1]!] }, { digest: blob }),
    { name: 'InvalidPieceTableError', message: /piece 0 .* has 1048576 bytes/ })
})

test('every piece must be a raw sha2-256 CIDv1', t => {
  const good = tableFor(2 * PIECE)
  const hash = cidOfDigest(digestOf(new TextEncoder().encode('piece 1'))).multihash
  const withPiece1 = (bytes: Uint8Array): PieceTableResponse => ({ ...good, pieces: [good.pieces[0]!, new Uint8Array(bytes)] })
  const refuse = (bytes: Uint8Array, pattern: RegExp): void => {
    t.throws(() => parsePieceTable(withPiece1(bytes), { digest: blob }), { name: 'InvalidPieceTableError', message: pattern })
  }
  refuse(CID.createV1(0x70 /* dag-pb */, hash).bytes, /piece 1 .* not a raw sha2-256 CIDv1/)
  refuse(CID.createV1(0x0200 /* json */, hash).bytes, /has 37 bytes/)
  refuse(CID.createV0(createMultihash(0x12, hash.digest)).bytes, /has 34 bytes/)
  // same length as a piece CID, but an identity multihash of 32 bytes
  refuse(CID.createV1(0x55, identity.digest(new Uint8Array(32))).bytes, /not a raw sha2-256/)
  // a 32-byte digest labelled sha2-512 (0x13)
  refuse(CID.createV1(0x55, createMultihash(0x13, hash.digest)).bytes, /not a raw sha2-256/)
  refuse(new Uint8Array(36).fill(0xff), /piece 1 .* is not a CID/)
})

test('only sha256 blobs have piece tables', t => {
  const sha512 = digestOf(new Uint8Array(), 'sha512')
  t.throws(() => parsePieceTable(tableFor(0), { digest: sha512 }), { name: 'InvalidPieceTableError', message: /sha256/ })
})

test('a holder still downloading sends empty entries for the pieces it has not verified; later answers fill them', t => {
  const size = 3 * PIECE + 5
  const full = tableFor(size)
  const early = { ...full, pieces: full.pieces.map((cid, i) => i === 0 ? cid : new Uint8Array()) }
  const known = parsePieceTable(early, { digest: blob, size })
  t.false(isFullTable(known))
  t.is(known.pieces[1], undefined)
  t.deepEqual(pieceTableResponse(known), early, 'holes encode back as empty entries')
  t.is(mergePieceTables(known, parsePieceTable(full, { digest: blob, size })), 3)
  t.true(isFullTable(known))
  t.is(mergePieceTables(known, parsePieceTable(early, { digest: blob, size })), 0, 'an older answer takes nothing away')

  const changed = { ...full, pieces: [full.pieces[1]!, ...full.pieces.slice(1)] }
  t.throws(() => mergePieceTables(known, parsePieceTable(changed, { digest: blob, size })),
    { name: 'InvalidPieceTableError', message: /piece 0 .* was .* and is now/ })
  const other = digestOf(new TextEncoder().encode('another blob'))
  t.throws(() => mergePieceTables(known, parsePieceTable(full, { digest: other, size })), { name: 'InvalidPieceTableError' })
})

test('a one-piece blob\'s table may be empty while its holder downloads it, never another CID', t => {
  const bytes = new TextEncoder().encode('small')
  const digest = digestOf(bytes)
  const empty = { ...tableFor(bytes.byteLength), pieces: [new Uint8Array()] }
  t.is(parsePieceTable(empty, { digest, size: bytes.byteLength }).pieces[0], undefined)
  t.throws(() => parsePieceTable(tableFor(bytes.byteLength), { digest, size: bytes.byteLength }), { name: 'InvalidPieceTableError', message: /is one piece/ })
})
