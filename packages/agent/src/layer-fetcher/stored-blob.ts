import type { PieceStore } from '../piece-store/store.ts'
import type { BlobRecord } from '../piece-store/blob-record.ts'
import { fileIdentity } from '../piece-store/verified-blobs.ts'
import { sendFileHashed, sendFileRange } from './blob-reader.ts'
import type { ByteRange, ChunkSink } from './blob-reader.ts'

export type StoredBlobs = Pick<PieceStore, 'openBlob' | 'isVerified' | 'markVerified' | 'dropCorrupt' | 'touch'>

/** Whether a range asks for the whole blob (no Range header, `bytes=0-`). */
export function isWholeBlob (range: ByteRange, size: number): boolean {
  return range.start === 0 && range.end === size - 1
}

/**
 * Sends [start, end] of a complete blob from the store, never a complete wrong body.
 *
 * - A file this process hashed right and that has not changed since (VerifiedBlobs) is sent as is:
 *   the warm path costs no hashing.
 * - Any other whole-blob request is hashed as it goes, with the end held back until the digest
 *   matches (sendFileHashed); a match marks the file verified, a mismatch drops the blob from the
 *   store (counted there) and throws CorruptBlobError: the client sees a broken body and its next
 *   request fetches the blob again.
 * - A part of the blob cannot be checked against the blob's digest on its own: the caller verifies
 *   the whole file first (PieceStore.verify) and only then sends the headers of a 206.
 */
export async function sendStoredBlob (store: StoredBlobs, record: BlobRecord, range: ByteRange, sink: ChunkSink): Promise<void> {
  const { digest, size } = record
  store.touch(digest)
  const file = await store.openBlob(digest)
  try {
    const identity = await fileIdentity(file)
    if (!isWholeBlob(range, size) || store.isVerified(digest, identity)) {
      await sendFileRange(file, range, sink)
      return
    }
    try {
      await sendFileHashed(file, size, digest, sink)
    } catch (err) {
      if ((err as Error).name === 'CorruptBlobError') await store.dropCorrupt(digest, { record })
      throw err
    }
    store.markVerified(digest, identity)
  } finally {
    await file.close()
  }
}
