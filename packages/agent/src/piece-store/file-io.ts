import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { open } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { cidOfDigest, digestAlgorithm, digestOf, pieceCountFor, pieceSpan } from '@shoal/proto'
import type { Digest, PieceSpan } from '@shoal/proto'
import { READ_CHUNK_BYTES } from '../constants.ts'
import { CorruptPieceError } from '../errors.ts'
import { fileIdentity } from './verified-blobs.ts'
import type { FileIdentity } from './verified-blobs.ts'

/** Small file helpers of the piece store. */

export async function hashFile (path: string, digest: Digest): Promise<string> {
  const hash = createHash(digestAlgorithm(digest))
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer)
  return `${digestAlgorithm(digest)}:${hash.digest('hex')}`
}

/**
 * A blob file's digest and, in the same pass, the CID of each piece as pieceSizeFor cuts it now:
 * for a blob stored by a version that cut it otherwise. O(size) reads, one piece in memory.
 */
export async function hashFilePieces (path: string, digest: Digest, size: number): Promise<{ digest: string, pieces: string[] }> {
  const algorithm = digestAlgorithm(digest)
  const whole = createHash(algorithm)
  const pieces: string[] = []
  await withReadHandle(path, async handle => {
    for (let index = 0; index < pieceCountFor(size); index++) {
      const bytes = await readSpanFrom(handle, path, pieceSpan(size, index))
      whole.update(bytes)
      pieces.push(cidOfDigest(digestOf(bytes)).toString())
    }
  })
  return { digest: `${algorithm}:${whole.digest('hex')}`, pieces }
}

/** The digest of a file's bytes, read through an open handle from the start to the end of the file. */
export async function hashHandle (handle: FileHandle, digest: Digest): Promise<string> {
  const hash = createHash(digestAlgorithm(digest))
  const buffer = Buffer.allocUnsafe(READ_CHUNK_BYTES)
  for (let pos = 0; ;) {
    const { bytesRead } = await handle.read(buffer, 0, buffer.byteLength, pos)
    if (bytesRead === 0) break
    hash.update(buffer.subarray(0, bytesRead))
    pos += bytesRead
  }
  return `${digestAlgorithm(digest)}:${hash.digest('hex')}`
}

/** The span's bytes from the file, in `into` (at least span.length bytes) when given, else in new memory. */
export async function readSpan (path: string, span: PieceSpan, into?: ArrayBuffer): Promise<Uint8Array> {
  return withReadHandle(path, async handle => readSpanFrom(handle, path, span, into))
}

/**
 * The span's bytes (as readSpan) and the identity of the file they came from, taken after the read:
 * a write to the file before or during the read shows as another identity.
 */
export async function readSpanWithIdentity (path: string, span: PieceSpan, into?: ArrayBuffer): Promise<{ bytes: Uint8Array, identity: FileIdentity }> {
  return withReadHandle(path, async handle => {
    const bytes = await readSpanFrom(handle, path, span, into)
    return { bytes, identity: await fileIdentity(handle) }
  })
}

/** The span's bytes through an open handle of the file at `path` (named in the error when it is short). */
async function readSpanFrom (handle: FileHandle, path: string, span: PieceSpan, into?: ArrayBuffer): Promise<Uint8Array> {
  if (into != null && into.byteLength < span.length) throw new RangeError(`a ${into.byteLength}-byte buffer cannot hold piece ${span.index} (${span.length} bytes)`)
  const bytes = into == null ? new Uint8Array(span.length) : new Uint8Array(into, 0, span.length)
  let read = 0
  while (read < span.length) {
    const { bytesRead } = await handle.read(bytes, read, span.length - read, span.offset + read)
    if (bytesRead === 0) throw new CorruptPieceError(`${path} ends ${span.length - read} bytes short of piece ${span.index}`)
    read += bytesRead
  }
  return bytes
}

export async function fsyncDir (path: string): Promise<void> {
  await withReadHandle(path, async handle => { await handle.sync() })
}

/** `use` with the file (or directory) at `path` open for reading; closed after, whatever `use` did. */
async function withReadHandle<T> (path: string, use: (handle: FileHandle) => Promise<T>): Promise<T> {
  const handle = await open(path, 'r')
  try {
    return await use(handle)
  } finally {
    await handle.close()
  }
}
