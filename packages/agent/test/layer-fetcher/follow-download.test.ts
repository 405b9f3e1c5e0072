import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import { digestOf } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { BlobDownload, ChunkSink, followDownload } from '../../src/layer-fetcher/index.ts'
import type { ByteSource } from '../../src/layer-fetcher/blob-download.ts'
import type { PartialBlob } from '../../src/piece-store/partial-blob.ts'
import type { PieceStore } from '../../src/piece-store/store.ts'
import { openStore } from '../helpers/store.ts'

/** Collects what a client would receive; `onBytes` is told the running total. */
function collector (onBytes?: (received: number) => void): { sink: ChunkSink, bytes: () => Buffer } {
  const chunks: Buffer[] = []
  let received = 0
  const target = new Writable({
    write (chunk: Buffer, _enc, done) {
      chunks.push(Buffer.from(chunk))
      received += chunk.byteLength
      onBytes?.(received)
      done()
    }
  })
  return { sink: new ChunkSink(target, new AbortController().signal), bytes: () => Buffer.concat(chunks) }
}

/** A download of `size` random bytes into a fresh store's partial file, not started. */
async function downloadOf (t: ExecutionContext, size: number): Promise<{ store: PieceStore, blob: Buffer, digest: Digest, partial: PartialBlob, download: BlobDownload }> {
  const store = await openStore(t)
  const blob = randomBytes(size)
  const digest = digestOf(blob)
  const partial = await store.openPartial(digest, blob.byteLength)
  return { store, blob, digest, partial, download: new BlobDownload(partial) }
}

/** A byte source that sends the whole blob in one chunk. */
function sourceOf (blob: Buffer): ByteSource {
  return {
    open: async () => (async function * () { yield blob })()
  }
}

test('a client that joins just after the partial file was renamed, before the download is marked verified, still gets the whole blob', async t => {
  const { store, blob, digest, partial, download } = await downloadOf(t, 180_001)

  // complete() renames the file into the blob directory, then is held: the window in which the
  // partial path no longer exists while the download is still 'running'.
  const renamed = Promise.withResolvers<void>()
  const release = Promise.withResolvers<void>()
  const ran = download.run(sourceOf(blob), async (hashed: Digest) => {
    await store.complete(partial, hashed)
    renamed.resolve()
    await release.promise
  })
  await renamed.promise
  t.is(download.state, 'running')

  const client = collector()
  const following = followDownload(download, { start: 0, end: blob.byteLength - 1 }, client.sink, new AbortController().signal, async () => store.openBlob(digest))
  setTimeout(() => { release.resolve() }, 20)
  await following
  await ran
  t.is(download.state, 'verified')
  t.true(client.bytes().equals(blob))
})

test('a client that joins after the partial file is gone and the download failed gets the failure', async t => {
  const { store, blob, digest, download } = await downloadOf(t, 4096)
  const discarded = Promise.withResolvers<void>()
  const failing = Promise.withResolvers<void>()
  const ran = download.run(sourceOf(blob), async () => {
    await store.discard(digest)
    discarded.resolve()
    await failing.promise
    throw new Error('the index write failed')
  })
  await discarded.promise
  const client = collector()
  const following = followDownload(download, { start: 0, end: blob.byteLength - 1 }, client.sink, new AbortController().signal, async () => store.openBlob(digest))
  failing.resolve()
  const err = await t.throwsAsync(following)
  t.regex(err?.message ?? '', /is gone/)
  t.regex((err?.cause as Error | undefined)?.message ?? '', /index write failed/)
  await ran
  t.is(download.state, 'failed')
})

test('a client gets the bytes the download has written while its source waits, not only once more bytes come', async t => {
  const { store, blob, digest, partial, download } = await downloadOf(t, 300_000)
  const first = 70_000
  const clientHasFirst = Promise.withResolvers<void>()
  // The rest comes only once the client holds the first bytes: a follower that waits for the next
  // chunk to learn of the last write never gets them (the guard below fails the test instead).
  const source: ByteSource = {
    open: async () => (async function * () {
      yield blob.subarray(0, first)
      await clientHasFirst.promise
      yield blob.subarray(first)
    })()
  }
  const ran = download.run(source, async (hashed: Digest) => { await store.complete(partial, hashed) })
  const client = collector(received => { if (received >= first) clientHasFirst.resolve() })
  const following = followDownload(download, { start: 0, end: blob.byteLength - 1 }, client.sink, new AbortController().signal, async () => store.openBlob(digest))
  const gotFirst = await Promise.race([clientHasFirst.promise.then(() => true), new Promise<boolean>(resolve => setTimeout(resolve, 5_000, false))])
  if (!gotFirst) {
    download.abort(new Error('the client never got the written bytes'))
    clientHasFirst.resolve()
    await Promise.allSettled([following, ran])
    t.fail('the client never got the bytes written before the source paused')
    return
  }
  await following
  await ran
  t.true(client.bytes().equals(blob))
})
