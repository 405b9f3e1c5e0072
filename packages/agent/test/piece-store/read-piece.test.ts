import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, truncate } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import test from 'ava'
import { digestOf, digestHex, pieceCountFor, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { StoreLayout } from '../../src/piece-store/layout.ts'
import type { PartialBlob } from '../../src/piece-store/partial-blob.ts'
import { PieceStore } from '../../src/piece-store/store.ts'
import { WrittenPieces } from '../../src/piece-store/verified-blobs.ts'
import { openStore } from '../helpers/store.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024


function pieceOf (blob: Buffer, index: number): Buffer {
  const span = pieceSpan(blob.byteLength, index)
  return blob.subarray(span.offset, span.offset + span.length)
}

/** The blob open as a partial in the store, with the pieces `indexes` written (recorded at the next commit). */
async function partialWith (store: PieceStore, blob: Buffer, indexes: number[]): Promise<{ digest: Digest, partial: PartialBlob }> {
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  for (const i of indexes) await partial.writePiece(i, [pieceOf(blob, i)], digestOf(pieceOf(blob, i)))
  return { digest, partial }
}

test('every piece of a complete blob reads back exactly, the short last one included', async t => {
  const store = await openStore(t)
  const blob = randomBytes(3 * PIECE + 5)
  const { digest, partial } = await partialWith(store, blob, [...Array(pieceCountFor(blob.byteLength)).keys()])
  await store.complete(partial, digest)

  const pieces = await Promise.all([0, 1, 2, 3].map(async i => store.readPiece(digest, i)))
  t.deepEqual(pieces.map(p => p?.bytes.byteLength), [PIECE, PIECE, PIECE, 5])
  t.true(Buffer.concat(pieces.map(p => p!.bytes)).equals(blob))
  t.is(await store.readPiece(digest, 4), undefined, 'past the last piece')
  t.is(await store.readPiece(digest, -1), undefined)
  t.is(await store.readPiece(digestOf(randomBytes(8)), 0), undefined, 'unknown blob')
})

test('a partial blob reads only its recorded pieces', async t => {
  const store = await openStore(t)
  const blob = randomBytes(4 * PIECE)
  const { digest, partial } = await partialWith(store, blob, [0, 2])
  await partial.commit()
  // written but not yet committed: not durable, so not present
  await partial.writePiece(3, [pieceOf(blob, 3)], digestOf(pieceOf(blob, 3)))

  t.true(Buffer.from((await store.readPiece(digest, 0))!.bytes).equals(pieceOf(blob, 0)))
  t.true(Buffer.from((await store.readPiece(digest, 2))!.bytes).equals(pieceOf(blob, 2)))
  t.is(await store.readPiece(digest, 1), undefined)
  t.is(await store.readPiece(digest, 3), undefined)
  await partial.commit()
  t.true(Buffer.from((await store.readPiece(digest, 3))!.bytes).equals(pieceOf(blob, 3)))
})

test('a blob file cut short on disk gives CorruptPieceError, never a short piece', async t => {
  const store = await openStore(t)
  const blob = randomBytes(2 * PIECE + 100)
  const { digest, partial } = await partialWith(store, blob, [0, 1, 2])
  await store.complete(partial, digest)
  await truncate(join(store.dataDir, 'blobs', 'sha256', digestHex(digest)), 2 * PIECE + 50)

  t.is((await store.readPiece(digest, 1))?.bytes.byteLength, PIECE)
  await t.throwsAsync(store.readPiece(digest, 2), { name: 'CorruptPieceError' })
})

test('a recorded piece of a blob whose file was just renamed into place, before its record says complete, still reads', async t => {
  const store = await openStore(t)
  const blob = randomBytes(2 * PIECE)
  const { digest, partial } = await partialWith(store, blob, [0, 1])
  await partial.commit()
  // What complete() does first; its index write comes after.
  const layout = new StoreLayout(store.dataDir)
  await mkdir(dirname(layout.blobFile(digest)), { recursive: true })
  await rename(layout.partialFile(digest), layout.blobFile(digest))
  t.is(store.get(digest)?.state, 'partial')
  t.true(Buffer.from((await store.readPiece(digest, 1))!.bytes).equals(pieceOf(blob, 1)))
})

test('pieces this store wrote read as checked; after a restart, or once the file changed, they do not', async t => {
  const store = await openStore(t)
  const blob = randomBytes(3 * PIECE)
  const { digest, partial } = await partialWith(store, blob, [0])
  await partial.commit()
  t.true((await store.readPiece(digest, 0))?.checked, 'a partial piece this process wrote and recorded')

  const { digest: partialDigest } = await partialWith(store, randomBytes(2 * PIECE), [1])
  await store.closePartial(partialDigest)

  for (let i = 1; i < 3; i++) await partial.writePiece(i, [pieceOf(blob, i)], digestOf(pieceOf(blob, i)))
  await store.complete(partial, digest)
  t.true((await store.readPiece(digest, 2))?.checked, 'a complete blob this process hashed on its way in')

  // The same data dir in a new process: nothing is known checked until hashed again.
  await store.stop()
  const again = new PieceStore({ dataDir: store.dataDir })
  await again.start()
  t.teardown(async () => { await again.stop().catch(() => {}) })
  t.false((await again.readPiece(digest, 2))?.checked ?? true, 'a complete blob not hashed since the start')
  t.false((await again.readPiece(partialDigest, 1))?.checked ?? true, 'a partial piece written before the start')
  t.true(await again.verify(digest))
  t.true((await again.readPiece(digest, 2))?.checked, 'hashed whole again')

  const file = await open(new StoreLayout(store.dataDir).blobFile(digest), 'r+')
  await file.write(Buffer.from('rot'), 0, 3, 10)
  await file.close()
  const rotten = await again.readPiece(digest, 0)
  t.false(rotten?.checked ?? true, 'a file written since it was hashed')
  t.false(Buffer.from(rotten!.bytes).equals(pieceOf(blob, 0)), 'and the bytes read are the changed ones, for the caller to check')
})

test('a partial piece dropped as corrupt is gone until written again, and a mark taken before the drop no longer holds', async t => {
  const store = await openStore(t)
  const blob = randomBytes(2 * PIECE)
  const { digest, partial } = await partialWith(store, blob, [0, 1])
  await partial.commit()
  const record = store.get(digest)!
  t.true(await store.dropCorrupt(digest, { record, piece: 1 }))
  t.is(await store.readPiece(digest, 1), undefined, 'no longer present')
  t.true((await store.readPiece(digest, 0))?.checked, 'the other piece stays checked')
  await partial.writePiece(1, [pieceOf(blob, 1)], digestOf(pieceOf(blob, 1)))
  await partial.commit()
  t.true((await store.readPiece(digest, 1))?.checked, 'written again by this process')

  const written = new WrittenPieces()
  written.add(digest, [0, 1])
  const mark = written.mark(digest, 1)
  written.delete(digest, 1)
  written.add(digest, [1])
  t.false(written.holds(digest, mark), 'dropped and recorded again while a read was in flight')
  t.true(written.holds(digest, written.mark(digest, 1)))
  t.is(written.mark(digest, 5), undefined)
})
