import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { digestOf, pieceCountFor, pieceSizeFor, pieceSpan } from '@shoal/proto'
import { COMMIT_INTERVAL_MS } from '../../src/constants.ts'
import type { BlobRecord } from '../../src/piece-store/blob-record.ts'
import { PartialBlob } from '../../src/piece-store/partial-blob.ts'

test('a timed commit that fails is not swallowed: the next piece and the close throw it, and nothing is recorded', async t => {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-partial-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const bytes = Buffer.alloc(3 * 1024 * 1024 + 5, 7)
  const digest = digestOf(bytes)
  const record: BlobRecord = { digest, size: bytes.length, pieceSize: pieceSizeFor(bytes.length), state: 'partial', pieces: new Array(pieceCountFor(bytes.length)).fill(null), createdAt: 0, lastAccessAt: 0 }
  const saved: BlobRecord[] = []
  const partial = new PartialBlob({
    saveRecord: async r => {
      if (saved.length === 0) { saved.push(r); throw new Error('the index refused the write') }
      saved.push(r)
    }
  }, record, join(dir, 'blob'))
  await partial.open()
  const piece = (i: number): Buffer => { const s = pieceSpan(bytes.length, i); return bytes.subarray(s.offset, s.offset + s.length) }
  // One piece, far under a commit's worth of bytes: recorded by the timer.
  await partial.writePiece(0, [piece(0)], digestOf(piece(0)))
  await sleep(COMMIT_INTERVAL_MS * 3)
  t.is(saved.length, 1, 'the timed commit ran and failed')
  await t.throwsAsync(partial.writePiece(1, [piece(1)], digestOf(piece(1))), { message: 'the index refused the write' })
  await t.throwsAsync(partial.close(), { message: 'the index refused the write' })
  t.false(partial.isOpen)
  t.is(saved.length, 1, 'no later commit recorded pieces after the failure')
})

/** A partial blob of `bytes` in a temp dir (removed after the test), its index writes accepted. */
async function openPartial (t: ExecutionContext, bytes: Buffer): Promise<PartialBlob> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-partial-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const record: BlobRecord = { digest: digestOf(bytes), size: bytes.length, pieceSize: pieceSizeFor(bytes.length), state: 'partial', pieces: new Array(pieceCountFor(bytes.length)).fill(null), createdAt: 0, lastAccessAt: 0 }
  const partial = new PartialBlob({ saveRecord: async () => {} }, record, join(dir, 'blob'))
  await partial.open()
  return partial
}

test('listeners hear of pieces when a commit makes them present, not when they are written', async t => {
  const bytes = Buffer.alloc(2 * 1024 * 1024 + 5, 3)
  const partial = await openPartial(t, bytes)
  const heard: number[][] = []
  const stop = partial.onCommitted(indexes => { heard.push([...indexes].sort()) })
  const piece = (i: number): Buffer => { const s = pieceSpan(bytes.length, i); return bytes.subarray(s.offset, s.offset + s.length) }
  await partial.writePiece(0, [piece(0)], digestOf(piece(0)))
  await partial.writePiece(2, [piece(2)], digestOf(piece(2)))
  t.deepEqual(heard, [], 'written, not yet committed')
  t.false(partial.hasPiece(0))
  await partial.commit()
  t.deepEqual(heard, [[0, 2]])
  t.true(partial.hasPiece(0) && partial.hasPiece(2))
  stop()
  await partial.writePiece(1, [piece(1)], digestOf(piece(1)))
  await partial.commit()
  t.deepEqual(heard, [[0, 2]], 'an unsubscribed listener hears nothing more')
  await partial.close()
})

test('a piece written and recorded counts as written from its record to its commit, the sync included', async t => {
  const bytes = Buffer.alloc(2 * 1024 * 1024 + 5, 9)
  const partial = await openPartial(t, bytes)
  const span = pieceSpan(bytes.length, 1)
  const piece = bytes.subarray(span.offset, span.offset + span.length)
  t.false(partial.hasWritten(1))
  await partial.writePiece(1, [piece], digestOf(piece))
  t.true(partial.hasWritten(1), 'recorded, before any commit')
  t.false(partial.hasPiece(1))
  const committing = partial.commit()
  // A few turns of the microtask queue: the commit is in its file sync (an I/O round trip) now.
  for (let i = 0; i < 5; i++) await Promise.resolve()
  t.true(partial.hasWritten(1), 'while the commit syncs the file')
  await committing
  t.true(partial.hasWritten(1) && partial.hasPiece(1), 'committed')
  t.false(partial.hasWritten(0))
  await partial.close()
})
