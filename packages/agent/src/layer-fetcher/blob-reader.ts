import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import type { Writable } from 'node:stream'
import { MIRROR_STALLED_CONNECTION_MS, READ_CHUNK_BYTES } from '../constants.ts'
import { readBuffers } from './read-buffers.ts'
import type { ReadBufferLease } from './read-buffers.ts'
import { AbortError } from '../errors.ts'
import type { BlobDownload } from './blob-download.ts'

export interface ByteRange { start: number, end: number }

/** Bytes written to a client but not yet handed to the kernel, at most; more waits. */
const MAX_BYTES_IN_FLIGHT = 2 * READ_CHUNK_BYTES

/**
 * Sends chunks to a client with a bound on unfinished writes (backpressure without a stream). A
 * client whose socket accepts nothing for `stallMs` (it stopped reading) is cut off: what it held
 * (read buffers, its socket's pending writes) is freed. Node's own socket timeout cannot do this:
 * it does not fire while a write is pending.
 */
export class ChunkSink {
  private readonly target: Writable
  private readonly signal: AbortSignal
  private readonly stallMs: number
  private readonly inflight: Array<{ done: Promise<void>, bytes: number }> = []
  private inflightBytes = 0
  sent = 0

  constructor (target: Writable, signal: AbortSignal, init: { stallMs?: number } = {}) {
    this.target = target
    this.signal = signal
    this.stallMs = init.stallMs ?? MIRROR_STALLED_CONNECTION_MS
  }

  /** Resolves once the chunk is accepted; the returned promise settles when it is written out. */
  async write (chunk: Uint8Array): Promise<{ done: Promise<void> }> {
    while (this.inflightBytes >= MAX_BYTES_IN_FLIGHT) await this.settleOldest()
    if (this.signal.aborted || this.target.destroyed) throw new AbortError('the client went away')
    const done = new Promise<void>((resolve, reject) => {
      this.target.write(chunk, err => { if (err != null) reject(err); else resolve() })
    })
    // Observed in settleOldest, in order; this only keeps a write failure from counting as unhandled meanwhile.
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
    let timer: NodeJS.Timeout | undefined
    const stalled = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        const err = new AbortError(`the client accepted no byte for ${this.stallMs} ms: cut off`)
        this.target.destroy(err)
        reject(err)
      }, this.stallMs)
    })
    try {
      await Promise.race([oldest.done, stalled])
    } finally {
      clearTimeout(timer)
    }
  }
}

/** A few read buffers (leased from the process's budget) used in turn, each reused only after its last write is out. */
class BufferRing {
  private readonly lease: ReadBufferLease
  private readonly busy: Array<Promise<void>>
  private turn = 0

  constructor (wanted: number) {
    this.lease = readBuffers.lease(wanted)
    this.busy = this.lease.buffers.map(async () => {})
  }

  /** The next free buffer and a function to mark it busy until a write is done. */
  async next (): Promise<{ buffer: Buffer, hold: (done: Promise<void>) => void }> {
    const i = this.turn++ % this.busy.length
    await this.busy[i]
    return { buffer: this.lease.buffers[i] as Buffer, hold: done => { this.busy[i] = done } }
  }

  /** The response is over (sent, failed or its client gone): the buffers' bytes go back to the budget. */
  release (): void {
    this.lease.release(this.busy)
  }
}

/**
 * Reads [start, end] of a file into a few reused buffers and sends them: no garbage per chunk, so
 * serving one big blob to several clients keeps memory flat.
 */
export async function sendFileRange (handle: FileHandle, range: ByteRange, sink: ChunkSink): Promise<void> {
  const ring = new BufferRing(range.end - range.start + 1)
  try {
    for (let pos = range.start; pos <= range.end;) {
      const { buffer, hold } = await ring.next()
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.byteLength, range.end + 1 - pos), pos)
      if (bytesRead === 0) throw new Error(`file ended at byte ${pos}, before ${range.end + 1}`)
      hold((await sink.write(buffer.subarray(0, bytesRead))).done)
      pos += bytesRead
    }
    await sink.flush()
  } finally {
    ring.release()
  }
}

/**
 * Sends bytes [start, end] of a blob that is still downloading, following the download through its
 * partial file (the page cache) into the client's few read buffers. Everything but the blob's last
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
  const ring = new BufferRing(range.end - range.start + 1)
  try {
    let pos = range.start
    while (pos <= range.end) {
      if (download.state === 'failed') throw download.error ?? new Error(`download of ${download.digest} failed`)
      const limit = Math.min(download.state === 'verified' ? download.size : Math.min(download.written, download.size - 1), range.end + 1)
      if (pos < limit) {
        const { buffer, hold } = await ring.next()
        const { bytesRead } = await handle.read(buffer, 0, Math.min(limit - pos, buffer.byteLength), pos)
        if (bytesRead === 0) throw new Error(`short read of ${download.digest} at ${pos}`)
        hold((await sink.write(buffer.subarray(0, bytesRead))).done)
        pos += bytesRead
      } else {
        await download.changed(signal)
      }
    }
    await sink.flush()
  } finally {
    ring.release()
    await handle.close()
  }
}
