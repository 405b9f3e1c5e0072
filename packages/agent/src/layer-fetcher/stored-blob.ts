import type { PieceStore } from '../piece-store/store.ts'
import type { BlobRecord } from '../piece-store/blob-record.ts'
import { fileIdentity } from '../piece-store/verified-blobs.ts'
import { CorruptBlobError } from '../errors.ts'
import { raceSignal } from '../race-signal.ts'
import { sendFileRange } from './blob-reader.ts'
import type { ByteRange, ChunkSink } from './blob-reader.ts'

export type StoredBlobs = Pick<PieceStore, 'openBlob' | 'isVerified' | 'verify' | 'touch'>

/** Whether a range asks for the whole blob (no Range header, `bytes=0-`). */
export function isWholeBlob (range: ByteRange, size: number): boolean {
  return range.start === 0 && range.end === size - 1
}

/**
 * Sends [start, end] of a complete blob from the store, never a complete wrong body.
 *
 * - A file this process hashed right and that has not changed since (VerifiedBlobs) is sent as is:
 *   the warm path costs no hashing.
 * - Any other whole-blob request sends everything but the last byte while the store verifies the
 *   file (PieceStore.verify: one hash for all the clients that ask at once, not one each), and the
 *   last byte only once the digest matched. On a mismatch the store has dropped the blob (and
 *   counted it) and this throws CorruptBlobError: the client sees a broken body, and its next
 *   request fetches the blob again.
 * - A part of the blob cannot be checked against the blob's digest on its own: the caller verifies
 *   the whole file first (PieceStore.verify) and only then sends the headers of a 206.
 */
export async function sendStoredBlob (store: StoredBlobs, record: BlobRecord, range: ByteRange, sink: ChunkSink, options: { signal?: AbortSignal } = {}): Promise<void> {
  const { digest, size } = record
  store.touch(digest)
  const file = await store.openBlob(digest)
  try {
    const identity = await fileIdentity(file)
    if (!isWholeBlob(range, size) || store.isVerified(digest, identity)) {
      await sendFileRange(file, range, sink)
      return
    }
    // Started now, so the hash runs while the bytes go out; a failure of it is the outcome, thrown below.
    const verified = store.verify(digest).then(ok => ok, (err: Error) => err)
    if (size > 1) await sendFileRange(file, { start: 0, end: size - 2 }, sink)
    const outcome = await raceSignal(verified, options.signal)
    if (outcome instanceof Error) throw outcome
    // The file verified must be the one sent (not a blob fetched again and renamed into place since).
    if (!outcome || !store.isVerified(digest, identity)) {
      throw new CorruptBlobError(`blob ${digest} on disk does not hash to its digest; dropped, it is fetched again on the next request`)
    }
    await sendFileRange(file, { start: size - 1, end: size - 1 }, sink)
  } finally {
    await file.close()
  }
}
