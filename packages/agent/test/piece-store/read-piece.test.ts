import { randomBytes } from 'node:crypto'
import { mkdir, rename, truncate } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import test from 'ava'
import { digestOf, digestHex, pieceCountFor, pieceSpan } from '@shoal/proto'
import { StoreLayout } from '../../src/piece-store/layout.ts'
import { openStore } from '../helpers/store.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024


function pieceOf (blob: Buffer, index: number): Buffer {
  const span = pieceSpan(blob.byteLength, index)
  return blob.subarray(span.offset, span.offset + span.length)
}

test('every piece of a complete blob reads back exactly, the short last one included', async t => {
  const store = await openStore(t)
  const blob = randomBytes(3 * PIECE + 5)
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  for (let i = 0; i < pieceCountFor(blob.byteLength); i++) await partial.writePiece(i, pieceOf(blob, i), digestOf(pieceOf(blob, i)))
  await store.complete(partial, digest)

  const pieces = await Promise.all([0, 1, 2, 3].map(async i => store.readPiece(digest, i)))
  t.deepEqual(pieces.map(p => p?.byteLength), [PIECE, PIECE, PIECE, 5])
  t.true(Buffer.concat(pieces.map(p => p!)).equals(blob))
  t.is(await store.readPiece(digest, 4), undefined, 'past the last piece')
  t.is(await store.readPiece(digest, -1), undefined)
  t.is(await store.readPiece(digestOf(randomBytes(8)), 0), undefined, 'unknown blob')
})

test('a partial blob reads only its recorded pieces', async t => {
  const store = await openStore(t)
  const blob = randomBytes(4 * PIECE)
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  await partial.writePiece(0, pieceOf(blob, 0), digestOf(pieceOf(blob, 0)))
  await partial.writePiece(2, pieceOf(blob, 2), digestOf(pieceOf(blob, 2)))
  await partial.commit()
  // written but not yet committed: not durable, so not present
  await partial.writePiece(3, pieceOf(blob, 3), digestOf(pieceOf(blob, 3)))

  t.true(Buffer.from((await store.readPiece(digest, 0))!).equals(pieceOf(blob, 0)))
  t.true(Buffer.from((await store.readPiece(digest, 2))!).equals(pieceOf(blob, 2)))
  t.is(await store.readPiece(digest, 1), undefined)
  t.is(await store.readPiece(digest, 3), undefined)
  await partial.commit()
  t.true(Buffer.from((await store.readPiece(digest, 3))!).equals(pieceOf(blob, 3)))
})

test('a blob file cut short on disk gives CorruptPieceError, never a short piece', async t => {
  const store = await openStore(t)
  const blob = randomBytes(2 * PIECE + 100)
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  for (let i = 0; i < 3; i++) await partial.writePiece(i, pieceOf(blob, i), digestOf(pieceOf(blob, i)))
  await store.complete(partial, digest)
  await truncate(join(store.dataDir, 'blobs', 'sha256', digestHex(digest)), 2 * PIECE + 50)

  t.is((await store.readPiece(digest, 1))?.byteLength, PIECE)
  await t.throwsAsync(store.readPiece(digest, 2), { name: 'CorruptPieceError' })
})

test('a recorded piece of a blob whose file was just renamed into place, before its record says complete, still reads', async t => {
  const store = await openStore(t)
  const blob = randomBytes(2 * PIECE)
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  for (let i = 0; i < 2; i++) await partial.writePiece(i, pieceOf(blob, i), digestOf(pieceOf(blob, i)))
  await partial.commit()
  // What complete() does first; its index write comes after.
  const layout = new StoreLayout(store.dataDir)
  await mkdir(dirname(layout.blobFile(digest)), { recursive: true })
  await rename(layout.partialFile(digest), layout.blobFile(digest))
  t.is(store.get(digest)?.state, 'partial')
  t.true(Buffer.from((await store.readPiece(digest, 1))!).equals(pieceOf(blob, 1)))
})
