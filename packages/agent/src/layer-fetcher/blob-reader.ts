import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { READ_CHUNK_BYTES } from '../constants.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { BlobDownload } from './blob-download.ts'

export interface ByteRange { start: number, end: number }

/**
 * Streams bytes [start, end] of a blob that is still downloading, following the download: from
 * memory while the bytes are recent, else from the partial file. Everything but the blob's last
 * byte may go out early; the last byte only once the whole blob is verified. If the download fails
 * the stream throws, and the client sees a broken body.
 */
export async function * followDownload (download: BlobDownload, store: PieceStore, range: ByteRange, signal: AbortSignal): AsyncGenerator<Buffer> {
  let handle: FileHandle | undefined
  try {
    // An open descriptor keeps reading the same file after it is renamed into the blob directory.
    handle = await open(download.partial.path, 'r').catch(() => undefined)
    let pos = range.start
    while (pos <= range.end) {
      if (download.state === 'failed') throw download.error ?? new Error(`download of ${download.digest} failed`)
      const limit = Math.min(download.state === 'verified' ? download.size : Math.min(download.available, download.size - 1), range.end + 1)
      const recent = pos < limit ? download.readRecent(pos, limit - pos) : undefined
      if (recent != null) {
        pos += recent.byteLength
        yield Buffer.from(recent.buffer, recent.byteOffset, recent.byteLength)
      } else if (pos < Math.min(limit, download.written)) {
        if (handle == null) {
          if (download.state !== 'verified') throw new Error(`partial file of ${download.digest} is gone`)
          yield * store.createReadStream(download.digest, { start: pos, end: range.end }, READ_CHUNK_BYTES) as AsyncIterable<Buffer>
          return
        }
        const buffer = Buffer.allocUnsafe(Math.min(Math.min(limit, download.written) - pos, READ_CHUNK_BYTES))
        const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, pos)
        if (bytesRead === 0) throw new Error(`short read of ${download.digest} at ${pos}`)
        pos += bytesRead
        yield buffer.subarray(0, bytesRead)
      } else {
        await download.changed(signal)
      }
    }
  } finally {
    await handle?.close()
  }
}
