import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { digestHex, digestOf, pieceCountFor, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { PieceStore } from '../../src/piece-store/store.ts'
import type { CorruptEvent } from '../../src/piece-store/store.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024

function pieceOf (blob: Buffer, index: number): Buffer {
  const span = pieceSpan(blob.byteLength, index)
  return blob.subarray(span.offset, span.offset + span.length)
}

/** A started store on a temp dir, recording what it dropped as corrupt; `reopen` restarts it on the same dir. */
async function storeWithEvents (t: ExecutionContext): Promise<{ dir: string, store: () => PieceStore, dropped: CorruptEvent[], reopen: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-store-'))
  const dropped: CorruptEvent[] = []
  let current = new PieceStore({ dataDir: dir }, { onCorrupt: e => { dropped.push(e) } })
  await current.start()
  t.teardown(async () => {
    await current.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  return {
    dir,
    store: () => current,
    dropped,
    reopen: async () => {
      await current.stop()
      current = new PieceStore({ dataDir: dir }, { onCorrupt: e => { dropped.push(e) } })
      await current.start()
    }
  }
}

async function putComplete (store: PieceStore, blob: Buffer): Promise<Digest> {
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  for (let i = 0; i < pieceCountFor(blob.byteLength); i++) await partial.writePiece(i, [pieceOf(blob, i)], digestOf(pieceOf(blob, i)))
  await store.complete(partial, digest)
  return digest
}

async function flip4 (path: string, at: number): Promise<void> {
  const file = await open(path, 'r+')
  const bytes = Buffer.alloc(4)
  await file.read(bytes, 0, 4, at)
  await file.write(bytes.map(b => b ^ 0xff), 0, 4, at)
  await file.close()
}

test('verify: a blob whose file changed since it was hashed is hashed again, and dropped when it no longer matches', async t => {
  const { dir, store, dropped, reopen } = await storeWithEvents(t)
  const blob = randomBytes(3 * PIECE + 9)
  const digest = await putComplete(store(), blob)
  t.true(await store().verify(digest), 'a blob this process completed')
  await reopen()
  t.true(await store().verify(digest), 'hashed in full after a restart')
  t.deepEqual(dropped, [])

  const path = join(dir, 'blobs', 'sha256', digestHex(digest))
  await flip4(path, 2 * PIECE)
  // A reader that opened the file before the blob is dropped keeps reading what it opened.
  const reader = await open(path, 'r')
  t.teardown(async () => { await reader.close() })
  const release = store().pin(digest)
  t.false(await store().verify(digest), 'the flipped file no longer matches')
  release()
  t.is(store().get(digest), undefined, 'dropped although it was pinned')
  t.deepEqual(dropped, [{ digest, state: 'complete', piece: undefined }])
  t.is((await reader.readFile()).byteLength, blob.byteLength)
  t.false(await store().verify(digest), 'nothing left to verify')

  // The blob fetched again is kept: a late report about the old file does not touch it.
  const again = await putComplete(store(), blob)
  t.true(await store().verify(again))
  t.is(dropped.length, 1)
})

test('dropCorrupt keeps a blob fetched again since the bytes were read, and of a partial blob drops only the piece', async t => {
  const { store, dropped } = await storeWithEvents(t)
  const blob = randomBytes(2 * PIECE + 1)
  const digest = await putComplete(store(), blob)
  const old = store().get(digest)!
  t.true(await store().dropCorrupt(digest, { record: old }))
  await putComplete(store(), blob)
  t.false(await store().dropCorrupt(digest, { record: old }), 'the old record\'s report does not drop the new blob')
  t.is(store().get(digest)?.state, 'complete')

  const other = randomBytes(3 * PIECE)
  const partialDigest = digestOf(other)
  const partial = await store().openPartial(partialDigest, other.byteLength)
  for (const i of [0, 1]) await partial.writePiece(i, [pieceOf(other, i)], digestOf(pieceOf(other, i)))
  await partial.commit()
  const record = store().get(partialDigest)!
  t.true(await store().dropCorrupt(partialDigest, { record, piece: 1 }))
  t.deepEqual(store().get(partialDigest)?.pieces.map(p => p != null), [true, false, false])
  t.deepEqual(partial.missingPieces(), [1, 2], 'the open partial sees the piece missing too')
  t.deepEqual(dropped.map(e => e.state), ['complete', 'partial'])
})
