import { createHash, randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import test from 'ava'
import { Level } from 'level'
import { cidOfDigest, digestOf, pieceCountFor, pieceSizeFor, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { planEviction } from '../../src/piece-store/gc-plan.ts'
import type { BlobRecord } from '../../src/piece-store/blob-record.ts'
import { PieceStore } from '../../src/piece-store/store.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024

async function tempStore (t: { teardown: (fn: () => Promise<void>) => void }): Promise<{ dir: string, open: () => Promise<PieceStore> }> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-store-'))
  const opened: PieceStore[] = []
  t.teardown(async () => {
    for (const s of opened) await s.stop().catch(() => {})
    await rm(dir, { recursive: true, force: true })
  })
  return {
    dir,
    open: async () => {
      const store = new PieceStore({ dataDir: dir })
      await store.start()
      opened.push(store)
      return store
    }
  }
}

async function fill (store: PieceStore, blob: Buffer, pieces?: number[]): Promise<void> {
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  for (const i of pieces ?? [...Array(pieceCountFor(blob.byteLength)).keys()]) {
    const span = pieceSpan(blob.byteLength, i)
    const bytes = blob.subarray(span.offset, span.offset + span.length)
    await partial.writePiece(i, [bytes], digestOf(bytes))
  }
  await partial.commit()
}

test('a complete blob survives a restart; a wrong whole digest keeps nothing', async t => {
  const { open } = await tempStore(t)
  const blob = randomBytes(3 * PIECE + 5)
  let store = await open()
  await fill(store, blob)
  const partial = await store.openPartial(digestOf(blob), blob.byteLength)
  await store.complete(partial, digestOf(blob))
  await store.stop()
  store = await open()
  t.true(store.isComplete(digestOf(blob)))
  const file = await store.openBlob(digestOf(blob))
  const stored = await file.readFile()
  await file.close()
  t.is(createHash('sha256').update(stored).digest('hex'), digestOf(blob).slice(7))

  const other = randomBytes(PIECE)
  await fill(store, other)
  const p2 = await store.openPartial(digestOf(other), other.byteLength)
  await t.throwsAsync(store.complete(p2, digestOf(Buffer.from('something else'))), { name: 'DigestMismatchError' })
  t.is(store.get(digestOf(other)), undefined)
})

test('after a crash only durable, recorded pieces count, and stray files are removed', async t => {
  const { dir, open } = await tempStore(t)
  const blob = randomBytes(4 * PIECE)
  const digest = digestOf(blob)
  const store = await open()
  await fill(store, blob, [0, 2])
  // Simulate a crash: the index stays as committed; a torn write and an orphan file appear.
  await store.stop()
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true })
  await writeFile(join(dir, 'blobs', 'sha256', 'f'.repeat(64)), 'orphan')
  const again = await open()
  const record = again.get(digest)
  t.is(record?.state, 'partial')
  t.deepEqual(record?.pieces.map(p => p != null), [true, false, true, false])
  t.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [])
})

test('a blob renamed into place before the index said complete is adopted after a restart only if it hashes right', async t => {
  const { dir, open } = await tempStore(t)
  const good = randomBytes(PIECE + 1)
  const bad = randomBytes(PIECE + 1)
  const store = await open()
  await fill(store, good)
  await fill(store, bad)
  await store.stop()
  // The crash window: files renamed into blobs/, index not yet written. One of them got damaged.
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true })
  for (const blob of [good, bad]) {
    const hex = digestOf(blob).slice(7)
    await rename(join(dir, 'partial', 'sha256', hex), join(dir, 'blobs', 'sha256', hex))
  }
  const damaged = join(dir, 'blobs', 'sha256', digestOf(bad).slice(7))
  const bytes = await readFile(damaged)
  bytes[10] = (bytes[10] ?? 0) ^ 0xff
  await writeFile(damaged, bytes)
  const again = await open()
  t.true(again.isComplete(digestOf(good)))
  t.is(again.get(digestOf(bad)), undefined)
  t.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [digestOf(good).slice(7)])
})

test('eviction plan: age limit, then LRU down to the low watermark, never pinned blobs', t => {
  const record = (n: number, size: number, lastAccessAt: number): BlobRecord => ({
    digest: `sha256:${String(n).padStart(64, '0')}` as Digest, size, pieceSize: PIECE, state: 'complete', pieces: [], createdAt: 0, lastAccessAt
  })
  const records = [record(1, 30, 100), record(2, 30, 300), record(3, 30, 200), record(4, 10, 50)]
  const base = { capacityBytes: 100, highWatermark: 0.85, lowWatermark: 0.5, maxAgeMs: 10_000, now: 1000, isPinned: () => false }
  t.deepEqual(planEviction(records, { ...base, usedBytes: 80 }).map(r => r.size), [])
  // 100 used > 85: evict oldest first until <= 50: #4 (10), #1 (30), #3 (30) -> 30 left.
  t.deepEqual(planEviction(records, { ...base, usedBytes: 100 }).map(r => r.digest.slice(-1)), ['4', '1', '3'])
  t.deepEqual(planEviction(records, { ...base, usedBytes: 100, isPinned: d => d.endsWith('1') }).map(r => r.digest.slice(-1)), ['4', '3', '2'])
  t.deepEqual(planEviction(records, { ...base, usedBytes: 10, maxAgeMs: 850 }).map(r => r.digest.slice(-1)), ['4', '1'])
})

test('a closed partial (a failed download) is not handed out again: the next open resumes its recorded pieces, and it can be evicted', async t => {
  const { open } = await tempStore(t)
  const store = await open()
  const blob = randomBytes(4 * PIECE + 3)
  const digest = digestOf(blob)
  const failed = await store.openPartial(digest, blob.byteLength)
  t.true(store.isPinned(digest), 'an open partial is in use')
  for (const i of [0, 1]) {
    const span = pieceSpan(blob.byteLength, i)
    const bytes = blob.subarray(span.offset, span.offset + span.length)
    await failed.writePiece(i, [bytes], digestOf(bytes))
  }
  await failed.close()
  t.false(store.isPinned(digest), 'nobody uses a closed partial')

  const resumed = await store.openPartial(digest, blob.byteLength)
  t.not(resumed, failed)
  t.deepEqual(resumed.missingPieces(), [2, 3, 4])
  const span = pieceSpan(blob.byteLength, 1)
  t.deepEqual(await resumed.read(span.offset, span.length), blob.subarray(span.offset, span.offset + span.length))
  const last = pieceSpan(blob.byteLength, 4)
  const lastBytes = blob.subarray(last.offset)
  await resumed.writePiece(4, [lastBytes], digestOf(lastBytes))
  await resumed.close()
  t.deepEqual(store.get(digest)?.pieces.map(p => p != null), [true, true, false, false, true])

  t.true(await store.evict(digest), 'an unused partial can be evicted')
  t.is(store.get(digest), undefined)
})

/** Pieces of blobs under 64 MiB before /shoal/pieces/2.0.0. */
const OLD_PIECE = 1024 * 1024

/** Rewrites a record in the index as a version that cut the blob into 1 MiB pieces left it. */
async function asOldCut (dir: string, digest: Digest): Promise<void> {
  const db = new Level<string, BlobRecord>(join(dir, 'index'), { valueEncoding: 'json' })
  await db.open()
  try {
    const record = await db.get(digest)
    if (record == null) throw new Error(`no record of ${digest}`)
    const pieces = Math.ceil(record.size / OLD_PIECE)
    await db.put(digest, { ...record, pieceSize: OLD_PIECE, pieces: Array.from({ length: pieces }, (_, i) => record.state === 'complete' || i === 0 ? cidOfDigest(digestOf(Buffer.from(`old ${i}`))).toString() : null) })
  } finally {
    await db.close()
  }
}

test('a store from a version that cut pieces otherwise: complete blobs are hashed again into today\'s pieces, partial ones dropped', async t => {
  const { dir, open } = await tempStore(t)
  const whole = randomBytes(3 * OLD_PIECE + 5)
  const rotten = randomBytes(2 * OLD_PIECE)
  const partial = randomBytes(4 * OLD_PIECE)
  let store = await open()
  for (const blob of [whole, rotten]) {
    await fill(store, blob)
    await store.complete(await store.openPartial(digestOf(blob), blob.byteLength), digestOf(blob))
  }
  await fill(store, partial, [0, 1])
  await store.stop()
  for (const blob of [whole, rotten, partial]) await asOldCut(dir, digestOf(blob))
  // A bit of the rotten blob's file changed on disk since it was stored.
  const rottenFile = join(dir, 'blobs', 'sha256', digestOf(rotten).slice(7))
  const bytes = await readFile(rottenFile)
  bytes[5] = (bytes[5] ?? 0) ^ 1
  await writeFile(rottenFile, bytes)

  store = await open()
  const record = store.get(digestOf(whole))
  t.is(record?.state, 'complete')
  t.is(record?.pieceSize, pieceSizeFor(whole.byteLength))
  t.deepEqual(record?.pieces, [...Array(pieceCountFor(whole.byteLength)).keys()].map(i => {
    const span = pieceSpan(whole.byteLength, i)
    return cidOfDigest(digestOf(whole.subarray(span.offset, span.offset + span.length))).toString()
  }))
  t.is(store.get(digestOf(rotten)), undefined, 'a blob that no longer hashes right is dropped')
  t.is(store.get(digestOf(partial)), undefined, 'a partial cut otherwise is fetched again')
  t.deepEqual(await readdir(join(dir, 'partial', 'sha256')), [])
  t.deepEqual(await readdir(join(dir, 'blobs', 'sha256')), [digestOf(whole).slice(7)])
  await store.stop()
  // Saved: the next start has nothing to redo.
  store = await open()
  t.deepEqual(store.get(digestOf(whole))?.pieces, record?.pieces)
})

test('a data dir another store holds open is refused by name, and the one holding it goes on', async t => {
  const { dir, open } = await tempStore(t)
  const first = await open()
  const second = new PieceStore({ dataDir: dir })
  const err = await t.throwsAsync(second.start(), { name: 'DataDirInUseError' })
  t.true(err?.message.includes(dir))
  const blob = randomBytes(PIECE)
  await fill(first, blob)
  t.truthy(first.get(digestOf(blob)), "the first store still records what it is given")
})
