import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import { READ_CHUNK_BYTES } from '../constants.ts'
import { AbortError } from '../errors.ts'
import type { BlobDownload } from './blob-download.ts'

export interface ByteRange { start: number, end: number }

/** Bytes written to a client but not yet handed to the kernel, at most; more waits. */
const MAX_BYTES_IN_FLIGHT = 2 * READ_CHUNK_BYTES
/** Read buffers per client, reused in turn once their write is done. */
const READ_BUFFERS = 3

/** Sends chunks to a client with a bound on unfinished writes (backpressure without a stream). */
export class ChunkSink {
  private readonly target: Writable
  private readonly signal: AbortSignal
  private readonly inflight: Array<{ done: Promise<void>, bytes: number }> = []
  private inflightBytes = 0
  sent = 0

  constructor (target: Writable, signal: AbortSignal) {
    this.target = target
    this.signal = signal
  }

  /** Resolves once the chunk is accepted; the returned promise settles when it is written out. */
  async write (chunk: Uint8Array): Promise<{ done: Promise<void> }> {
    while (this.inflightBytes >= MAX_BYTES_IN_FLIGHT) await this.settleOldest()
    if (this.signal.aborted || this.target.destroyed) throw new AbortError('the client went away')
    const done = new Promise<void>((resolve, reject) => {
      this.target.write(chunk, err => { if (err != null) reject(err); else resolve() })
    })
    done.catch(() => {})
    this.inflight.push({ done, bytes: chunk.byteLength })
    this.inflightBytes += chunk.byteLength
    this.sent += chunk.byteLength
    return { done }
  }

  async flush (): Promise<void> {
    while (this.inflight.length > 0) await this.settleOldest()
  }

  private async settleOldest (): Promise<void> {
    const oldest = this.inflight.shift()
    if (oldest == null) return
    this.inflightBytes -= oldest.bytes
    await oldest.done
  }
}

/** A few read buffers used in turn, each reused only after its last write is out. */
class BufferRing {
  private readonly buffers: Buffer[]
  private readonly busy: Array<Promise<void>>
  private turn = 0

  constructor (size: number) {
    this.buffers = Array.from({ length: READ_BUFFERS }, () => Buffer.allocUnsafeSlow(size))
    this.busy = this.buffers.map(async () => {})
  }

  /** The next free buffer and a function to mark it busy until a write is done. */
  async next (): Promise<{ buffer: Buffer, hold: (done: Promise<void>) => void }> {
    const i = this.turn++ % READ_BUFFERS
    await this.busy[i]
    return { buffer: this.buffers[i] as Buffer, hold: done => { this.busy[i] = done } }
  }
}

/**
 * Reads [start, end] of a file into a few reused buffers and sends them: no garbage per chunk, so
 * serving one big blob to several clients keeps memory flat.
 */
export async function sendFileRange (handle: FileHandle, range: ByteRange, sink: ChunkSink): Promise<void> {
  const ring = new BufferRing(Math.min(READ_CHUNK_BYTES, range.end - range.start + 1))
  for (let pos = range.start; pos <= range.end;) {
    const { buffer, hold } = await ring.next()
    const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, range.end + 1 - pos), pos)
    if (bytesRead === 0) throw new Error(`file ended at byte ${pos}, before ${range.end + 1}`)
    hold((await sink.write(buffer.subarray(0, bytesRead))).done)
    pos += bytesRead
  }
  await sink.flush()
}

/**
 * Sends bytes [start, end] of a blob that is still downloading, following the download: from
 * memory while the bytes are recent, else from the partial file. Everything but the blob's last
 * byte may go out early; the last byte only once the whole blob is verified. If the download fails
 * this throws, and the client sees a broken body.
 */
export async function followDownload (download: BlobDownload, range: ByteRange, sink: ChunkSink, signal: AbortSignal, openComplete: () => Promise<FileHandle>): Promise<void> {
  // An open descriptor keeps reading the same file after it is renamed into the blob directory;
  // a download that finished in between is read where it now lives. The rename comes a moment
  // before the download is marked verified (the directory fsync and the index write are between),
  // so a missing partial file means: wait for the verdict.
  const handle = await open(download.partial.path, 'r').catch(async err => {
    while (download.state === 'running') await download.changed(signal)
    if (download.state === 'verified') return openComplete()
    throw new Error(`partial file of ${download.digest} is gone`, { cause: download.error ?? err })
  })
  try {
    const ring = new BufferRing(READ_CHUNK_BYTES)
    let pos = range.start
    while (pos <= range.end) {
      if (download.state === 'failed') throw download.error ?? new Error(`download of ${download.digest} failed`)
      const limit = Math.min(download.state === 'verified' ? download.size : Math.min(download.available, download.size - 1), range.end + 1)
      const recent = pos < limit ? download.readRecent(pos, limit - pos) : undefined
      if (recent != null) {
        await sink.write(recent)
        pos += recent.byteLength
      } else if (pos < Math.min(limit, download.written)) {
        const { buffer, hold } = await ring.next()
        const { bytesRead } = await handle.read(buffer, 0, Math.min(Math.min(limit, download.written) - pos, buffer.byteLength), pos)
        if (bytesRead === 0) throw new Error(`short read of ${download.digest} at ${pos}`)
        hold((await sink.write(buffer.subarray(0, bytesRead))).done)
        pos += bytesRead
      } else {
        await download.changed(signal)
      }
    }
    await sink.flush()
  } finally {
    await handle.close()
  }
}
