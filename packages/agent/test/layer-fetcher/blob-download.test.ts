import test from 'ava'
import { digestOf, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { BlobDownload } from '../../src/layer-fetcher/blob-download.ts'
import type { ByteSource } from '../../src/layer-fetcher/blob-download.ts'
import { openStore } from '../helpers/store.ts'

const MiB = 1024 * 1024
const SIZE = 4 * MiB
const blob = new Uint8Array(SIZE).map((_, i) => (i * 13 + (i >> 20)) & 0xff)
const digest = digestOf(blob) as Digest
const piece = (index: number): Uint8Array => {
  const span = pieceSpan(SIZE, index)
  return blob.subarray(span.offset, span.offset + span.length)
}

/** A source that yields the blob a whole piece at a time, as the piece stream does. */
const wholePieces: ByteSource = {
  open: async offset => (async function * () {
    for (let i = offset / MiB; i < SIZE / MiB; i++) yield piece(i)
  })()
}

test('a piece already in the file (read ahead, or stored early for peers) is hashed into the blob but not written again', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  // Pieces 1 and 2 were stored ahead of the stream, as the read-ahead does.
  await partial.writePiece(1, piece(1), digestOf(piece(1)))
  await partial.writePiece(2, piece(2), digestOf(piece(2)))
  await partial.commit()
  const writes: number[] = []
  const writeChunksAt = partial.writeChunksAt.bind(partial)
  partial.writeChunksAt = async (offset, chunks) => {
    writes.push(offset / MiB)
    await writeChunksAt(offset, chunks)
  }
  const download = new BlobDownload(partial, { source: 'peer' })
  const recorded: number[] = []
  download.on('piece', (index: number) => { recorded.push(index) })
  await download.run(wholePieces, async hashed => { await store.complete(partial, hashed) })
  t.is(download.state, 'verified', download.error?.message)
  t.deepEqual(writes, [0, 3], 'only the pieces not in the file were written')
  t.deepEqual(recorded, [0, 1, 2, 3], 'every piece is told in order')
  t.is(store.get(digest)?.state, 'complete')
  const handle = await store.openBlob(digest)
  const stored = await handle.readFile()
  await handle.close()
  t.is(digestOf(stored), digest, 'the stored blob is whole and right')
})

test('a wrong byte in a piece already stored is still caught: the blob is hashed from what the source gave', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  await partial.writePiece(1, piece(1), digestOf(piece(1)))
  await partial.commit()
  const bad: ByteSource = {
    open: async () => (async function * () {
      for (let i = 0; i < SIZE / MiB; i++) yield i === 1 ? new Uint8Array(MiB) : piece(i)
    })()
  }
  const download = new BlobDownload(partial, { source: 'peer' })
  await download.run(bad, async hashed => { await store.complete(partial, hashed) })
  t.is(download.state, 'failed')
  t.is(download.error?.name, 'DigestMismatchError')
  t.not(store.get(digest)?.state, 'complete')
})
