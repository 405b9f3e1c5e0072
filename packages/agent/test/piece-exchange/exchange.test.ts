import { open } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { lpStream } from '@libp2p/utils'
import { decodePeerRequest, digestHex, digestOf, PeerResponse, PIECES_PROTOCOL, pieceSpan, Status } from '@shoal/proto'
import { PeerRefusedError } from '../../src/errors.ts'
import { PieceExchangeClient } from '../../src/piece-exchange/client.ts'
import { blobFixture, describeBlob, eventually, PIECE, openStore, putBlob, serverPair, startNode, startServer, swarmKey } from './fixtures.ts'

const OP_TIMEOUT_MS = 20_000

test('B fetches the piece table, the bitfield and every piece of a complete blob from A, and reassembles it', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key, [a])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(3 * PIECE + 5, 'complete'))
  await putBlob(store, blob)
  const { served } = await startServer(t, a, store)
  const client = new PieceExchangeClient({ node: b })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)

  const table = await client.pieceTable(a.peerId, blob.digest, { size: blob.size, signal })
  t.is(table.pieces.length, 4)
  t.deepEqual(table.pieces.map(String), blob.cids.map(String))
  const { bitfield, complete } = await client.bitfield(a.peerId, blob.digest, 4, { signal })
  t.true(complete)
  t.true(bitfield.full())

  const pieces = (await Promise.all(table.pieces.map(async (cid, index) => client.piece(a.peerId, { digest: blob.digest, size: table.size, index, cid: cid! }, { signal })))).map(chunks => Buffer.concat(chunks))
  t.deepEqual(pieces.map(p => p.byteLength), [PIECE, PIECE, PIECE, 5])
  const reassembled = Buffer.concat(pieces)
  t.true(reassembled.equals(blob.bytes))
  t.is(digestOf(reassembled), blob.digest)
  t.is(served.length, 4)
  t.is(served.reduce((n, e) => n + e.bytes, 0), blob.size)
  t.true(served.every(e => e.peer.equals(b.peerId) && e.digest === blob.digest))
})

test('a partial blob: the bitfield and the piece table show only recorded pieces, a missing piece is refused', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key, [a])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(4 * PIECE, 'partial'))
  await putBlob(store, blob, [0, 2])
  await startServer(t, a, store)
  const client = new PieceExchangeClient({ node: b })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)

  const { bitfield, complete } = await client.bitfield(a.peerId, blob.digest, 4, { signal })
  t.false(complete)
  t.deepEqual(bitfield.missing(), [1, 3])
  const table = await client.pieceTable(a.peerId, blob.digest, { size: blob.size, signal })
  t.deepEqual(table.pieces.map(cid => cid?.toString()), [blob.cids[0]!.toString(), undefined, blob.cids[2]!.toString(), undefined])
  const err = await t.throwsAsync(client.piece(a.peerId, { digest: blob.digest, size: blob.size, index: 1, cid: blob.cids[1]! }, { signal }), { name: 'PeerRefusedError' })
  t.is((err as Error & { status: string }).status, 'NOT_FOUND')
  const piece = await client.piece(a.peerId, { digest: blob.digest, size: blob.size, index: 2, cid: blob.cids[2]! }, { signal })
  t.true(Buffer.concat(piece).equals(blob.piece(2)))
  // a blob A has never seen
  const other = describeBlob(blobFixture(PIECE, 'unknown'))
  await t.throwsAsync(client.bitfield(a.peerId, other.digest, 1, { signal }), { name: 'PeerRefusedError', message: /NOT_FOUND/ })
  // asking with the wrong piece count is the peer's word against ours: refused as a protocol error
  await t.throwsAsync(client.bitfield(a.peerId, blob.digest, 5, { signal }), { name: 'PeerProtocolError' })
})

test('a piece corrupted on A\'s disk is answered ERROR and never sent, and A drops the blob: its other pieces are not offered any more', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key, [a])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(3 * PIECE, 'corrupt'))
  await putBlob(store, blob)
  const file = await open(join(store.dataDir, 'blobs', 'sha256', digestHex(blob.digest)), 'r+')
  await file.write(Buffer.from('rot'), 0, 3, pieceSpan(blob.size, 1).offset + 1000)
  await file.close()
  const { served } = await startServer(t, a, store)
  const client = new PieceExchangeClient({ node: b })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)

  const err = await t.throwsAsync(client.piece(a.peerId, { digest: blob.digest, size: blob.size, index: 1, cid: blob.cids[1]! }, { signal }), { name: 'PeerRefusedError' })
  t.is((err as Error & { status: string }).status, 'ERROR')
  t.false(served.some(e => e.index === 1))
  // The whole blob went (its next request on A fetches it again); a peer asking now is sent elsewhere.
  t.is(store.get(blob.digest), undefined)
  const gone = await t.throwsAsync(client.piece(a.peerId, { digest: blob.digest, size: blob.size, index: 2, cid: blob.cids[2]! }, { signal }), { name: 'PeerRefusedError' })
  t.is((gone as Error & { status: string }).status, 'NOT_FOUND')
  t.false(served.some(e => e.index === 2))
})

test('16 pieces requested at once from one peer: as many as it has read slots arrive verified, the rest are answered BUSY at once and arrive when asked again', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key, [a])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(16 * PIECE, 'sixteen'))
  await putBlob(store, blob)
  const { served } = await startServer(t, a, store)
  const client = new PieceExchangeClient({ node: b })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)

  t.is(blob.cids.length, 16)
  const ask = async (index: number): Promise<Uint8Array[]> => client.piece(a.peerId, { digest: blob.digest, size: blob.size, index, cid: blob.cids[index]! }, { signal })
  const first = await Promise.allSettled(blob.cids.map(async (_cid, index) => ask(index)))
  const refused = first.flatMap((r, index) => r.status === 'rejected' ? [{ index, status: (r.reason as Error & { status?: string }).status }] : [])
  t.true(refused.every(r => r.status === 'BUSY'), JSON.stringify(refused))
  t.true(refused.length <= 16 - 8, `at least the ${8} read slots were served`)
  const pieces = await Promise.all(first.map(async (r, index) => r.status === 'fulfilled' ? r.value : ask(index)))
  t.true(Buffer.concat(pieces.flat()).equals(blob.bytes))
  t.is(served.length, 16)
})

test('a request aborted by its signal rejects quickly, and the server keeps serving others', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key, [a])
  const silent = await startNode(t, key, [b])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(8 * PIECE, 'abort'))
  await putBlob(store, blob)
  const { server } = await startServer(t, a, store)
  // A peer that reads the request and never answers: the call can end only through its signal.
  let silentStreamClosed = false
  await silent.handle(PIECES_PROTOCOL, stream => {
    stream.addEventListener('close', () => { silentStreamClosed = true })
  })
  const client = new PieceExchangeClient({ node: b })
  const ref = (index: number): { digest: typeof blob.digest, size: number, index: number, cid: typeof blob.cids[0] } =>
    ({ digest: blob.digest, size: blob.size, index, cid: blob.cids[index]! })

  const controller = new AbortController()
  const pending = client.piece(silent.peerId, ref(0), { signal: controller.signal })
  setTimeout(() => { controller.abort() }, 300)
  const started = Date.now()
  await t.throwsAsync(pending, { name: 'AbortError' })
  t.true(Date.now() - started < 1_500, `rejected after ${Date.now() - started} ms`)
  await eventually(() => silentStreamClosed)

  // With no signal of its own, a call times out by itself.
  const impatient = new PieceExchangeClient({ node: b }, { timeoutMs: 300 })
  await t.throwsAsync(impatient.bitfield(silent.peerId, blob.digest, 8), { name: 'PeerTimeoutError' })

  // Requests to A aborted while under way, then every piece fetched in full.
  const aborted = blob.cids.map((_, index) => {
    const abort = new AbortController()
    const request = client.piece(a.peerId, ref(index), { signal: abort.signal })
    setTimeout(() => { abort.abort() }, index)
    return request
  })
  const outcomes = await Promise.allSettled(aborted)
  t.true(outcomes.every(o => o.status === 'fulfilled' || (o.reason as Error).name === 'AbortError'))
  // The server can still hold a read slot that the round above left (a debug print showed 8 reads under way
  // when the eighth of the next requests came, none just before; a request that reached it after its
  // abort, or the first try of one sent again on a new stream), and answer BUSY: like a real client,
  // ask again.
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  const served = async (index: number): Promise<Uint8Array[]> => {
    for (;;) {
      try {
        return await client.piece(a.peerId, ref(index), { signal })
      } catch (err) {
        if (!(err instanceof PeerRefusedError) || err.status !== 'BUSY') throw err
        await sleep(50, undefined, { signal })
      }
    }
  }
  const pieces = await Promise.all(blob.cids.map(async (_, index) => served(index)))
  t.true(Buffer.concat(pieces.flat()).equals(blob.bytes))
  // The client keeps its streams (the refused request's too) until it closes them.
  client.close()
  await eventually(() => server.openStreams === 0)
})

test('requests to one peer, one after another, go on one kept stream; one the server closed while idle is replaced', async t => {
  const { a, b, blob, server } = await serverPair(t, 'kept', { idleTimeoutMs: 1_000 })
  const client = new PieceExchangeClient({ node: b })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  const opened = (): number => a.getConnections(b.peerId).flatMap(c => c.streams).filter(s => s.protocol === PIECES_PROTOCOL).length

  await client.pieceTable(a.peerId, blob.digest, { size: blob.size, signal })
  for (let index = 0; index < 3; index++) {
    t.true(Buffer.concat(await client.piece(a.peerId, { digest: blob.digest, size: blob.size, index, cid: blob.cids[index]! }, { signal })).equals(blob.piece(index)))
    t.true((await client.bitfield(a.peerId, blob.digest, 3, { signal })).complete)
  }
  t.is(opened(), 1, 'seven requests, one stream')
  t.is(server.openStreams, 1)

  // The server ends a stream idle for its timeout; the next request gets its answer on a new one.
  await eventually(() => server.openStreams === 0)
  t.true((await client.bitfield(a.peerId, blob.digest, 3, { signal })).complete)
  t.is(server.openStreams, 1)
  client.close()
  await eventually(() => server.openStreams === 0)
})

test('a refusal is a whole answer: its stream is kept for the next request, BUSY and NOT_FOUND alike', async t => {
  // One send of a piece per window: the second ask for piece 0 is answered BUSY.
  const { a, b, blob, server } = await serverPair(t, 'refused', { sendsPerPiece: 1 })
  const client = new PieceExchangeClient({ node: b })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  // Every piece stream A has seen from B, by id: the same id after each request is the same stream.
  const seen = new Set<string>()
  const look = (): void => { for (const s of a.getConnections(b.peerId).flatMap(c => c.streams)) if (s.protocol === PIECES_PROTOCOL) seen.add(s.id) }
  const ref = (index: number): { digest: typeof blob.digest, size: number, index: number, cid: typeof blob.cids[number] } => ({ digest: blob.digest, size: blob.size, index, cid: blob.cids[index]! })

  t.true(Buffer.concat(await client.piece(a.peerId, ref(0), { signal })).equals(blob.piece(0)))
  look()
  const busy = await t.throwsAsync(client.piece(a.peerId, ref(0), { signal }), { instanceOf: PeerRefusedError })
  t.is(busy.status, Status.BUSY)
  look()
  const unknown = describeBlob(blobFixture(PIECE, 'not held')).digest
  const notFound = await t.throwsAsync(client.bitfield(a.peerId, unknown, 1, { signal }), { instanceOf: PeerRefusedError })
  t.is(notFound.status, Status.NOT_FOUND)
  look()
  t.true(Buffer.concat(await client.piece(a.peerId, ref(1), { signal })).equals(blob.piece(1)))
  look()
  // Under load a new stream waits for the peer's protocol echo behind its piece bytes: a refusal
  // that cost its stream made the next request to that peer pay for a new one.
  t.is(seen.size, 1, 'four requests, two of them refused, one stream')
  t.is(server.openStreams, 1)
  client.close()
  await eventually(() => server.openStreams === 0)
})

test('a kept stream that breaks before its answer is replaced by a new one, and the request still gets its answer', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key, [a])
  const blob = describeBlob(blobFixture(2 * PIECE, 'stale'))
  let streams = 0
  // Answers the first request of each stream, and resets the stream at its second one.
  await a.handle(PIECES_PROTOCOL, async stream => {
    streams++
    const lp = lpStream(stream)
    const first = decodePeerRequest(await lp.read())
    if (first.kind !== 'bitfield') throw new Error('a bitfield request was expected')
    await lp.write(PeerResponse.encode({ id: first.id, bitfield: { status: Status.OK, pieceCount: 2, bitfield: Uint8Array.of(0xc0), complete: true } }))
    await lp.read()
    stream.abort(new Error('gone'))
  })
  const client = new PieceExchangeClient({ node: b })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  t.true((await client.bitfield(a.peerId, blob.digest, 2, { signal })).complete)
  t.true((await client.bitfield(a.peerId, blob.digest, 2, { signal })).complete, 'answered on a new stream')
  t.is(streams, 2)
})
