import test from 'ava'
import { digestOf, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { PieceTableMismatchError, UpstreamProtocolError } from '../../src/errors.ts'
import { BlobDownload } from '../../src/layer-fetcher/blob-download.ts'
import type { ByteSource } from '../../src/layer-fetcher/blob-download.ts'
import type { SpanSource } from '../../src/layer-fetcher/source-spans.ts'
import type { PartialBlob } from '../../src/piece-store/partial-blob.ts'
import type { PieceStore } from '../../src/piece-store/store.ts'
import { openStore } from '../helpers/store.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024
const SIZE = 4 * PIECE
const blob = new Uint8Array(SIZE).map((_, i) => (i * 13 + (i >> 18)) & 0xff)
const digest = digestOf(blob) as Digest
const piece = (index: number): Uint8Array => {
  const span = pieceSpan(SIZE, index)
  return blob.subarray(span.offset, span.offset + span.length)
}

/** A source that yields the blob a whole piece at a time, as the piece stream does. */
const wholePieces: ByteSource = {
  open: async offset => (async function * () {
    for (let i = offset / PIECE; i < SIZE / PIECE; i++) yield piece(i)
  })()
}

/** The partial file's writes from now on, as [offset, bytes]. */
function recordWrites (partial: PartialBlob): Array<[number, number]> {
  const written: Array<[number, number]> = []
  const writeChunksAt = partial.writeChunksAt.bind(partial)
  partial.writeChunksAt = async (offset, chunks) => {
    written.push([offset, chunks.reduce((n, c) => n + c.byteLength, 0)])
    await writeChunksAt(offset, chunks)
  }
  return written
}

/** Runs the download of the blob from `source` to its end: the pieces it told as recorded, in order. */
async function runDownload (store: PieceStore, partial: PartialBlob, source: ByteSource): Promise<{ download: BlobDownload, recorded: number[] }> {
  const download = new BlobDownload(partial, { source: 'peer' })
  const recorded: number[] = []
  download.on('piece', (index: number) => { recorded.push(index) })
  await download.run(source, async hashed => { await store.complete(partial, hashed) })
  return { download, recorded }
}

/** The digest of the blob as the store now holds it. */
async function storedDigest (store: PieceStore): Promise<string> {
  const handle = await store.openBlob(digest)
  const stored = await handle.readFile()
  await handle.close()
  return digestOf(stored)
}

test('a piece already in the file (read ahead, or stored early for peers) is hashed into the blob but not written again', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  // Pieces 1 and 2 were stored ahead of the stream, as the read-ahead does.
  await partial.writePiece(1, [piece(1)], digestOf(piece(1)))
  await partial.writePiece(2, [piece(2)], digestOf(piece(2)))
  await partial.commit()
  const writes = recordWrites(partial)
  const { download, recorded } = await runDownload(store, partial, wholePieces)
  t.is(download.state, 'verified', download.error?.message)
  t.deepEqual(writes.map(([offset]) => offset / PIECE), [0, 3], 'only the pieces not in the file were written')
  t.deepEqual(recorded, [0, 1, 2, 3], 'every piece is told in order')
  t.is(store.get(digest)?.state, 'complete')
  t.is(await storedDigest(store), digest, 'the stored blob is whole and right')
})

/** The blob from `offset` in chunks of `size` bytes, whatever the piece bounds. */
const inChunksOf = (size: number): ByteSource => ({
  open: async offset => (async function * () {
    for (let pos = offset; pos < SIZE; pos += size) yield blob.subarray(pos, Math.min(SIZE, pos + size))
  })()
})

for (const [what, source] of [
  ['a piece in several chunks (as it came from a peer)', inChunksOf(PIECE / 4)],
  ['chunks across piece bounds (an origin body)', inChunksOf(300_001)]
] as const) {
  test(`pieces written and recorded but not committed yet are not written again either: ${what}`, async t => {
    const store = await openStore(t)
    const partial = await store.openPartial(digest, SIZE)
    // Stored ahead of the stream a moment ago: in the file, recorded, indexed at the next commit.
    await partial.writePiece(1, [piece(1).subarray(0, 1000), piece(1).subarray(1000)], digestOf(piece(1)))
    await partial.writePiece(2, [piece(2)], digestOf(piece(2)))
    t.false(partial.hasPiece(1), 'not committed')
    const written = recordWrites(partial)
    const { download, recorded } = await runDownload(store, partial, source)
    t.is(download.state, 'verified', download.error?.message)
    t.is(written.reduce((n, [, length]) => n + length, 0), 2 * PIECE, 'pieces 0 and 3 written, once')
    t.true(written.every(([offset, length]) => offset + length <= PIECE || offset >= 3 * PIECE), 'nothing of pieces 1 and 2')
    t.deepEqual(recorded, [0, 1, 2, 3], 'every piece is told in order')
    t.is(await storedDigest(store), digest, 'the stored blob is whole and right')
  })
}

test('a wrong byte in a piece already stored is still caught: the blob is hashed from what the source gave', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  await partial.writePiece(1, [piece(1)], digestOf(piece(1)))
  await partial.commit()
  const bad: ByteSource = {
    open: async () => (async function * () {
      for (let i = 0; i < SIZE / PIECE; i++) yield i === 1 ? new Uint8Array(PIECE) : piece(i)
    })()
  }
  const download = new BlobDownload(partial, { source: 'peer' })
  await download.run(bad, async hashed => { await store.complete(partial, hashed) })
  t.is(download.state, 'failed')
  t.is(download.error?.name, 'DigestMismatchError')
  t.not(store.get(digest)?.state, 'complete')
})

/** Pieces from `from` on until piece `failAt`, then `err`: a peer source that fails for good. */
const failingAt = (failAt: number, err: Error): ByteSource & { opened: number[] } => {
  const opened: number[] = []
  return {
    opened,
    open: async offset => {
      opened.push(offset)
      return (async function * () {
        for (let i = offset / PIECE; i < SIZE / PIECE; i++) {
          if (i === failAt) throw err
          yield piece(i)
        }
      })()
    }
  }
}

/** The blob from `offset` in odd-sized chunks, as an origin body comes. */
const originBody = (opened: number[]): ByteSource => ({
  open: async offset => {
    opened.push(offset)
    return (async function * () {
      for (let pos = offset; pos < SIZE; pos += 300_001) yield blob.subarray(pos, Math.min(SIZE, pos + 300_001))
    })()
  }
})

test('a source that fails for good hands over to the fallback at the byte it reached: the blob is whole and checked', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  const download = new BlobDownload(partial, { source: 'peer' })
  const peers = failingAt(2, new UpstreamProtocolError('the piece stream ended early'))
  const fallbackOpened: number[] = []
  const handedOver: Array<{ name: string, offset: number }> = []
  download.on('fallback', (err: Error, offset: number) => { handedOver.push({ name: err.name, offset }) })
  await download.run(peers, async hashed => { await store.complete(partial, hashed) }, () => originBody(fallbackOpened))
  t.is(download.state, 'verified', download.error?.message)
  t.deepEqual(peers.opened, [0], 'a final error is not retried on the same source')
  t.deepEqual(fallbackOpened, [2 * PIECE], 'the fallback starts where the source stopped')
  t.deepEqual(handedOver, [{ name: 'UpstreamProtocolError', offset: 2 * PIECE }])
  t.is(download.fallbackAt, 2 * PIECE, 'where the origin\'s bytes begin, for the served-bytes metric')
  const handle = await store.openBlob(digest)
  const stored = await handle.readFile()
  await handle.close()
  t.is(digestOf(stored), digest)
})

test('where the bytes came from: pieces kept from before, pieces a peer download read from the origin or found stored, then everything after a fallback', async t => {
  const store = await openStore(t)
  const blob8 = new Uint8Array(8 * PIECE).map((_, i) => (i * 7 + (i >> 17)) & 0xff)
  const span8 = (index: number): Uint8Array => blob8.subarray(index * PIECE, (index + 1) * PIECE)
  const digest8 = digestOf(blob8) as Digest
  const partial = await store.openPartial(digest8, blob8.byteLength)
  // Piece 0 was kept from before a restart; piece 2 was read ahead and stored before the stream got to it.
  for (const i of [0, 2]) await partial.writePiece(i, [span8(i)], digestOf(span8(i)))
  await partial.commit()
  const asked: number[] = []
  // Pieces 1 and 2 from the origin, piece 3 from the store, piece 4 from a peer; the peers fail for good at piece 5.
  const sources: Record<number, SpanSource> = { 1: 'origin', 2: 'origin', 3: 'local' }
  const peers: ByteSource = {
    open: async offset => (async function * () {
      for (let i = offset / PIECE; i < 8; i++) {
        if (i === 5) throw new UpstreamProtocolError('the piece stream ended early')
        yield span8(i)
      }
    })(),
    pieceSource: index => {
      asked.push(index)
      return sources[index]
    }
  }
  const origin: ByteSource = { open: async offset => (async function * () { yield blob8.subarray(offset) })() }
  const download = new BlobDownload(partial, { source: 'peer' })
  await download.run(peers, async hashed => { await store.complete(partial, hashed) }, () => origin)
  t.is(download.state, 'verified', download.error?.message)
  t.deepEqual(asked, [1, 2, 3, 4], 'asked once per piece the source gave, the stored one included')
  t.deepEqual(download.bytesFrom(0, 8 * PIECE), { local: 2 * PIECE, origin: 5 * PIECE }, 'local: pieces 0 and 3; origin: 1, 2, then 5-7 after the fallback')
  t.deepEqual(download.bytesFrom(0, PIECE), { local: PIECE, origin: 0 })
  t.deepEqual(download.bytesFrom(PIECE / 2, 2 * PIECE + 10), { local: PIECE / 2, origin: PIECE + 10 }, 'a range counts only its overlap')
  t.deepEqual(download.bytesFrom(4 * PIECE, 6 * PIECE), { local: 0, origin: PIECE }, 'piece 4 from a peer, piece 5 after the fallback')

  const direct = new BlobDownload(await store.openPartial(digest, SIZE), { source: 'origin' })
  t.deepEqual(direct.bytesFrom(10, 110), { local: 0, origin: 100 }, 'a download on the origin path is all origin')
})

test('no fallback after a piece table the origin contradicted, nor without one: the download fails with the error', async t => {
  for (const [err, withFallback] of [[new PieceTableMismatchError('piece 2 differs'), true], [new UpstreamProtocolError('ended early'), false]] as const) {
    const store = await openStore(t)
    const partial = await store.openPartial(digest, SIZE)
    const download = new BlobDownload(partial, { source: 'peer' })
    const fallbackOpened: number[] = []
    await download.run(failingAt(2, err), async hashed => { await store.complete(partial, hashed) }, withFallback ? () => originBody(fallbackOpened) : undefined)
    t.is(download.state, 'failed')
    t.is(download.error?.name, err.name)
    t.deepEqual(fallbackOpened, [])
    t.not(store.get(digest)?.state, 'complete')
  }
})

test('a fallback that gives wrong bytes still fails the whole-blob digest: the end is never released', async t => {
  const store = await openStore(t)
  const partial = await store.openPartial(digest, SIZE)
  const download = new BlobDownload(partial, { source: 'peer' })
  const wrong: ByteSource = { open: async offset => (async function * () { yield new Uint8Array(SIZE - offset) })() }
  await download.run(failingAt(1, new UpstreamProtocolError('ended early')), async hashed => { await store.complete(partial, hashed) }, () => wrong)
  t.is(download.state, 'failed')
  t.is(download.error?.name, 'DigestMismatchError')
  t.not(store.get(digest)?.state, 'complete')
})
