import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { decodePeerResponse, PeerRequest, PIECES_PROTOCOL, Status } from '@shoal/proto'
import type { PeerResponse } from '@shoal/proto'
import type { P2pNode } from '@shoal/p2p'
import { RateLimiter } from '../../src/bandwidth/rate-limiter.ts'
import { PeerBans } from '../../src/peer-bans.ts'
import { PieceExchangeClient } from '../../src/piece-exchange/client.ts'
import type { PieceExchangeServerInit } from '../../src/piece-exchange/server.ts'
import { blobFixture, describeBlob, eventually, PIECE, openStore, putBlob, serverPair, startNode, startServer, swarmKey } from './fixtures.ts'
import type { Blob, ServerFixture } from './fixtures.ts'

const OP_TIMEOUT_MS = 20_000
const LP = { maxDataLength: 4 * PIECE, maxBufferSize: 8 * PIECE }

/** A (the real server over a complete 3-piece blob) and B, which talks raw frames to it. */
async function setup (t: ExecutionContext, init?: PieceExchangeServerInit, bans?: PeerBans): Promise<ServerFixture & { a: P2pNode, b: P2pNode, blob: Blob }> {
  return serverPair(t, 'server', init, { bans })
}

async function rawStream (b: P2pNode, a: P2pNode): Promise<{ stream: Stream, lp: LengthPrefixedStream<Stream> }> {
  const stream = await b.dialProtocol(a.peerId, PIECES_PROTOCOL, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })
  return { stream, lp: lpStream(stream, LP) }
}

/** Half-closes, then reads every answer (a piece's bytes are attached to its header) until the server closes. */
async function readAnswers (stream: Stream, lp: LengthPrefixedStream<Stream>): Promise<Array<PeerResponse & { bytes?: number }>> {
  await stream.close()
  const answers: Array<PeerResponse & { bytes?: number }> = []
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  while (true) {
    const frame = await lp.read({ signal }).catch((err: Error) => { if (err.name === 'UnexpectedEOFError') return undefined; throw err })
    if (frame == null) return answers
    const response = decodePeerResponse(frame)
    const bytes = response.piece?.status === Status.OK ? (await lp.read({ signal })).byteLength : undefined
    answers.push({ ...response, bytes })
  }
}

const piece = (id: number, blob: Blob, index: number): Uint8Array => PeerRequest.encode({ id, piece: { digest: blob.digest, index } })

test('pipelined requests on one stream are all answered, with their ids', async t => {
  const { a, b, blob } = await setup(t)
  const { stream, lp } = await rawStream(b, a)
  await lp.writeV([piece(1, blob, 0), PeerRequest.encode({ id: 2, bitfield: { digest: blob.digest } }), piece(3, blob, 2),
    PeerRequest.encode({ id: 4, pieceTable: { digest: blob.digest } })])
  const answers = await readAnswers(stream, lp)
  t.deepEqual(answers.map(r => r.id).sort(), [1, 2, 3, 4])
  t.is(answers.find(r => r.id === 1)?.bytes, PIECE)
  t.is(answers.find(r => r.id === 3)?.piece?.index, 2)
  t.is(answers.find(r => r.id === 2)?.bitfield?.complete, true)
  t.is(answers.find(r => r.id === 4)?.pieceTable?.pieces.length, 3)
})

test('piece reads beyond the per-stream or total bound are answered BUSY', async t => {
  for (const init of [{ maxReadsPerStream: 1 }, { maxReads: 1, newPieceReads: 0 }]) {
    const { a, b, blob } = await setup(t, init)
    const { stream, lp } = await rawStream(b, a)
    await lp.writeV([piece(1, blob, 0), piece(2, blob, 1)])
    const answers = await readAnswers(stream, lp)
    t.is(answers.find(r => r.id === 1)?.piece?.status, Status.OK, JSON.stringify(init))
    t.is(answers.find(r => r.id === 2)?.piece?.status, Status.BUSY, JSON.stringify(init))
  }
  // A piece not sent recently may wait beyond the total bound; one sent already may not.
  {
    const { a, b, blob } = await setup(t, { maxReads: 1, newPieceReads: 1 })
    const { stream, lp } = await rawStream(b, a)
    await lp.writeV([piece(1, blob, 0), piece(2, blob, 1)])
    const answers = await readAnswers(stream, lp)
    t.deepEqual([1, 2].map(id => answers.find(r => r.id === id)?.piece?.status), [Status.OK, Status.OK], 'both pieces are new')
  }
  // through the client, BUSY is a refusal with its status
  const { a, b, blob } = await setup(t, { maxReads: 0, newPieceReads: 0 })
  const err = await t.throwsAsync(new PieceExchangeClient({ node: b }).piece(a.peerId, { digest: blob.digest, size: blob.size, index: 0, cid: blob.cids[0]! }), { name: 'PeerRefusedError' })
  t.is((err as Error & { status: string }).status, Status.BUSY)
})

test('sends held to a slow rate shrink the read budget toward that rate times the queue time', async t => {
  // 512 KiB/s of uploads (the limiter stands in for a slow link): three pieces take ~1.4 s to leave.
  const uploads = new RateLimiter({ limit: 2 * PIECE, burstBytes: PIECE / 4 })
  const init = { maxReadBytes: 3 * PIECE, minReadBytes: PIECE / 4, sendQueueMs: 1000 }
  const { a, b, blob, server } = await serverPair(t, 'paced', init, { uploads })
  t.is(server.readBudgetBytes, 3 * PIECE, 'no send measured yet: the cap')
  const { stream, lp } = await rawStream(b, a)
  await lp.writeV([piece(1, blob, 0), piece(2, blob, 1), piece(3, blob, 2)])
  t.deepEqual((await readAnswers(stream, lp)).map(r => r.bytes), [PIECE, PIECE, PIECE])
  // The last release may follow the client's last byte by a moment.
  await eventually(() => server.readBudgetBytes < 3 * PIECE, 5_000).catch(() => {})
  const budget = server.readBudgetBytes
  t.true(budget < 3 * PIECE, `shrunk from the cap: ${budget}`)
  t.true(budget <= 2 * PIECE + PIECE / 4, `no more than 1 s of the limit (and its burst): ${budget}`)
})

/** A (the real server over a complete 3-piece blob), and B and C asking it. */
async function twoAskers (t: ExecutionContext, seed: string, init: PieceExchangeServerInit): Promise<{ a: P2pNode, b: P2pNode, c: P2pNode, blob: Blob }> {
  const key = swarmKey()
  const a = await startNode(t, key)
  const [b, c] = await Promise.all([startNode(t, key, [a]), startNode(t, key, [a])])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(3 * PIECE, seed))
  await putBlob(store, blob)
  await startServer(t, a, store, init)
  return { a, b, c, blob }
}

test('read slots are shared among the peers asking: alone a peer gets them all, beside another its share', async t => {
  const { a, b, c, blob } = await twoAskers(t, 'shares', { maxReads: 4, newPieceReads: 0, minReadsPerPeer: 1 })
  const four = [piece(1, blob, 0), piece(2, blob, 1), piece(3, blob, 2), piece(4, blob, 0)]
  const statuses = async (node: P2pNode, requests: Uint8Array[]): Promise<string[]> => {
    const { stream, lp } = await rawStream(node, a)
    await lp.writeV(requests)
    const answers = await readAnswers(stream, lp)
    return answers.sort((x, y) => x.id - y.id).map(r => r.piece?.status ?? '')
  }
  t.deepEqual(await statuses(b, four), [Status.OK, Status.OK, Status.OK, Status.OK], 'alone, all four slots')
  t.deepEqual(await statuses(c, [piece(1, blob, 1)]), [Status.OK])
  // Both asked within the last second: two slots each.
  t.deepEqual((await statuses(b, four)).sort(), [Status.BUSY, Status.BUSY, Status.OK, Status.OK])
})

test('a peer turned away for want of a slot makes the waiting reads of a peer over its share give way', async t => {
  // Memory for one piece at a time: B's first read is sent, its other three wait for memory.
  const { a, b, c, blob } = await twoAskers(t, 'preempt', { maxReads: 4, newPieceReads: 0, maxReadBytes: PIECE, minReadsPerPeer: 1 })
  const greedy = await rawStream(b, a)
  await greedy.lp.writeV([piece(1, blob, 0), piece(2, blob, 1), piece(3, blob, 2), piece(4, blob, 0)])
  // B reads nothing yet: its first answer fills the stream's window and keeps the memory.
  const ask = async (): Promise<string | undefined> => {
    const { stream, lp } = await rawStream(c, a)
    await lp.write(piece(1, blob, 1))
    return (await readAnswers(stream, lp))[0]?.piece?.status
  }
  t.is(await ask(), Status.BUSY, 'all four slots are B\'s')
  t.deepEqual((await readAnswers(greedy.stream, greedy.lp)).map(r => r.piece?.status).sort(), [Status.BUSY, Status.BUSY, Status.OK, Status.OK],
    'two of B\'s waiting reads gave way: its share beside C is 2')
  t.is(await ask(), Status.OK)
})

test('a cancel before the answer started turns it into CANCELLED; an unknown cancel is ignored', async t => {
  const { a, b, blob, served } = await setup(t)
  const { stream, lp } = await rawStream(b, a)
  await lp.writeV([piece(1, blob, 0), PeerRequest.encode({ id: 9, cancel: { id: 1 } }), PeerRequest.encode({ id: 9, cancel: { id: 77 } }), piece(2, blob, 1)])
  const answers = await readAnswers(stream, lp)
  t.is(answers.length, 2)
  t.deepEqual(answers.find(r => r.id === 1)?.piece, { status: Status.CANCELLED, index: 0, length: 0 })
  t.is(answers.find(r => r.id === 2)?.bytes, PIECE)
  t.deepEqual(served.map(e => e.index), [1])
})

test('bad frames close the stream; the server keeps serving', async t => {
  const { a, b, blob, server } = await setup(t)
  const garbage = await rawStream(b, a)
  await garbage.lp.write(Buffer.from('not a request'))
  await t.throwsAsync(readAnswers(garbage.stream, garbage.lp))
  const oversized = await rawStream(b, a)
  await oversized.lp.write(Buffer.alloc(64 * 1024))
  await t.throwsAsync(readAnswers(oversized.stream, oversized.lp))
  const duplicate = await rawStream(b, a)
  await duplicate.lp.writeV([piece(1, blob, 0), piece(1, blob, 1)])
  await t.throwsAsync(readAnswers(duplicate.stream, duplicate.lp))

  const client = new PieceExchangeClient({ node: b })
  const bytes = await client.piece(a.peerId, { digest: blob.digest, size: blob.size, index: 1, cid: blob.cids[1]! }, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })
  t.true(Buffer.concat(bytes).equals(blob.piece(1)))
  // The client keeps its stream for the next request until it closes its idle streams.
  client.close()
  await eventually(() => server.openStreams === 0)
})

test('a length prefix that never ends resets the stream at once; three malformed frames ban the peer, which is then served nothing', async t => {
  const banned: string[] = []
  const bans = new PeerBans({ badFrameLimit: 3, onBan: peer => banned.push(peer) })
  // An idle timeout far above the bound below: the stream must end on the bad prefix, not on idleness.
  const { a, b, blob } = await setup(t, { idleTimeoutMs: 60_000 }, bans)
  const endless = await rawStream(b, a)
  const started = Date.now()
  // Twelve bytes that all carry the varint continuation bit: a length prefix that never ends.
  endless.stream.send(Buffer.alloc(12, 0xff))
  const ended = new Promise<void>(resolve => { endless.stream.addEventListener('close', () => { resolve() }) })
  await ended
  t.true(Date.now() - started < 10_000, `the stream ended after ${Date.now() - started} ms`)
  t.deepEqual(banned, [], 'one malformed frame is not a ban')

  const client = new PieceExchangeClient({ node: b })
  const ref = { digest: blob.digest, size: blob.size, index: 0, cid: blob.cids[0]! }
  t.true(Buffer.concat(await client.piece(a.peerId, ref, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })).equals(blob.piece(0)), 'still served before the ban')
  for (const bad of [Buffer.from('not a request'), Buffer.alloc(64 * 1024)]) {
    const raw = await rawStream(b, a)
    await raw.lp.write(bad)
    await t.throwsAsync(readAnswers(raw.stream, raw.lp))
  }
  t.deepEqual(banned, [b.peerId.toString()])
  await t.throwsAsync(client.piece(a.peerId, ref, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) }), { name: 'PeerUnavailableError' })
})

test('past the piece streams one peer may keep open, its new ones are reset; the others are served', async t => {
  const { a, b, blob } = await setup(t, { maxStreamsPerPeer: 2 })
  const held = await Promise.all([1, 2].map(async () => rawStream(b, a)))
  await Promise.all(held.map(async h => { await h.lp.write(PeerRequest.encode({ id: 1, bitfield: { digest: blob.digest } })) }))
  const extra = await rawStream(b, a)
  // The write may meet the reset already: either way no answer comes.
  await extra.lp.write(PeerRequest.encode({ id: 1, bitfield: { digest: blob.digest } })).catch(() => {})
  t.deepEqual(await readAnswers(extra.stream, extra.lp).catch(() => []), [], 'the stream past the cap gets no answer')
  for (const h of held) t.is((await readAnswers(h.stream, h.lp))[0]?.bitfield?.complete, true, 'the streams within the cap are answered')
  const after = await rawStream(b, a)
  await after.lp.write(PeerRequest.encode({ id: 1, bitfield: { digest: blob.digest } }))
  t.is((await readAnswers(after.stream, after.lp))[0]?.bitfield?.complete, true, 'a freed slot is taken again')
})

test('stop() aborts open streams and unregisters the protocol', async t => {
  const { a, b, blob, server } = await setup(t)
  const { stream } = await rawStream(b, a)
  const closed = new Promise<void>(resolve => { stream.addEventListener('close', () => { resolve() }) })
  await eventually(() => server.openStreams === 1)
  await server.stop()
  t.is(server.openStreams, 0)
  await closed
  t.false(a.getProtocols().includes(PIECES_PROTOCOL))
  await t.throwsAsync(new PieceExchangeClient({ node: b }).bitfield(a.peerId, blob.digest, 3, { signal: AbortSignal.timeout(OP_TIMEOUT_MS) }), { name: 'PeerUnavailableError' })
})
