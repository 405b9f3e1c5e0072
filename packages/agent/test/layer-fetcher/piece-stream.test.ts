import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import type { PeerId } from '@libp2p/interface'
import { cidOfDigest, digestOf, pieceSizeFor, Status } from '@shoal/proto'
import type { CID, PieceTable } from '@shoal/proto'
import { BadPieceError, PeerRefusedError } from '../../src/errors.ts'
import type { PieceFailedEvent, PieceFetchedEvent } from '../../src/layer-fetcher/events.ts'
import { pieceStream } from '../../src/layer-fetcher/piece-stream.ts'
import type { PieceStreamInit } from '../../src/layer-fetcher/piece-stream.ts'
import { bitfieldOf, peerIds, planned } from './piece-book-helpers.ts'
import { STALL_ORIGIN_PIECES } from '../../src/constants.ts'

/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024
const COUNT = 6

/** A blob of COUNT pieces of 256 KiB whose bytes differ piece by piece, and its full table. */
const blob = new Uint8Array(COUNT * PIECE).map((_, i) => (i * 7 + (i >> 18)) & 0xff)
const pieceBytes = (index: number): Uint8Array => blob.subarray(index * PIECE, (index + 1) * PIECE)
const cids: CID[] = Array.from({ length: COUNT }, (_, i) => cidOfDigest(digestOf(pieceBytes(i))))
const fullTable = (): PieceTable => ({ digest: digestOf(blob), size: blob.byteLength, pieceSize: pieceSizeFor(blob.byteLength), pieces: [...cids] })

/** What a scripted peer answers for a piece: its bytes, a refusal, no answer (a broken stream), or bytes that fail their check. */
type Answer = 'piece' | 'not-found' | 'busy' | 'fail' | 'bad'

/** The piece exchange as the stream sees it, each peer answering from a script (default: the piece). */
function scriptedClient (script: (peer: PeerId, index: number) => Answer): PieceStreamInit['client'] & { asked: Array<{ peer: string, index: number }> } {
  const asked: Array<{ peer: string, index: number }> = []
  return {
    asked,
    piece: async (peer, ref) => {
      asked.push({ peer: peer.toString(), index: ref.index })
      const answer = script(peer as PeerId, ref.index)
      if (answer === 'not-found') throw new PeerRefusedError(Status.NOT_FOUND, 'not held')
      if (answer === 'busy') throw new PeerRefusedError(Status.BUSY, 'busy')
      if (answer === 'fail') throw Object.assign(new Error('connection reset'), { name: 'PeerUnavailableError' })
      if (answer === 'bad') throw new BadPieceError(`piece ${ref.index} does not match its CID`)
      // In two chunks, as pieces come off a connection.
      const bytes = pieceBytes(ref.index)
      return [bytes.subarray(0, 3), bytes.subarray(3)]
    },
    pieceTable: async () => { throw new Error('not asked in these tests') },
    bitfield: async () => { throw new Error('not asked in these tests') }
  }
}

/** The digest of everything the stream yields (ava's deep comparison of megabytes is slow). */
async function readAll (stream: ReturnType<typeof pieceStream>): Promise<string> {
  const chunks: Uint8Array[] = []
  for await (const chunk of await stream.open(0, AbortSignal.timeout(20_000))) chunks.push(chunk)
  await stream.close?.()
  return digestOf(Buffer.concat(chunks))
}
const blobDigest = digestOf(blob)

test('the blob comes out in order from its holders, each piece checked by its source and its digest handed to the download', async t => {
  const [a, b] = await peerIds(2)
  const client = scriptedClient(() => 'piece')
  const fetched: PieceFetchedEvent[] = []
  const stream = pieceStream({ plan: { table: fullTable(), peers: [planned(a!, COUNT, [0, 1, 2, 3, 4, 5]), planned(b!, COUNT, [0, 2, 4])] }, client, events: { onPieceFetched: e => { fetched.push(e) } } })
  t.is(await readAll(stream), blobDigest)
  t.is(fetched.length, COUNT, 'each piece fetched once')
  t.true(fetched.every(e => e.source === 'peer'))
  t.is(stream.verifiedPiece?.(3), digestOf(pieceBytes(3)))
  t.is(stream.verifiedPiece?.(3), undefined, 'handed over once')
})

test('opened at an offset inside a piece, the stream starts at that byte whichever of the piece\'s chunks holds it', async t => {
  const [a] = await peerIds(1)
  // The scripted peer sends each piece as 3 bytes, then the rest.
  for (const offset of [PIECE + 1, PIECE + 3, 2 * PIECE + 5, COUNT * PIECE - 1]) {
    const stream = pieceStream({ plan: { table: fullTable(), peers: [planned(a!, COUNT, [0, 1, 2, 3, 4, 5])] }, client: scriptedClient(() => 'piece') })
    const chunks: Uint8Array[] = []
    for await (const chunk of await stream.open(offset, AbortSignal.timeout(20_000))) chunks.push(chunk)
    await stream.close?.()
    t.is(digestOf(Buffer.concat(chunks)), digestOf(blob.subarray(offset)), `from byte ${offset}`)
  }
})

test('pieces held here already (not a prefix: a stripe of a site prefetch) are read back from the store, not asked of anyone', async t => {
  const [a] = await peerIds(1)
  const client = scriptedClient(() => 'piece')
  const held = new Set([1, 4])
  const reads: number[] = []
  const seedInto = {
    has: (index: number) => held.has(index),
    write: async (index: number) => { held.add(index) },
    read: async (index: number) => { reads.push(index); return pieceBytes(index) }
  }
  const stream = pieceStream({ plan: { table: fullTable(), peers: [planned(a!, COUNT, [0, 2, 3, 5])] }, client, seedInto })
  t.is(await readAll(stream), blobDigest)
  t.deepEqual([...new Set(client.asked.map(x => x.index))].sort(), [0, 2, 3, 5], 'the peer was asked only for the pieces not held')
  t.deepEqual(reads.sort(), [1, 4])
})

/** A client where b answers BUSY the first time it is asked for each of `pieces`, so a is asked for each of them whatever the order. */
function busyFirstClient (a: PeerId, pieces: number[], aAnswers: (index: number) => Answer): ReturnType<typeof scriptedClient> {
  const bAsked = new Set<number>()
  return scriptedClient((peer, index) => {
    if (peer.equals(a)) return aAnswers(index)
    if (pieces.includes(index) && !bAsked.has(index)) {
      bAsked.add(index)
      return 'busy'
    }
    return 'piece'
  })
}

for (const answer of ['not-found', 'busy'] as const) {
  test(`${answer === 'busy' ? 'BUSY' : 'NOT_FOUND'} sends the piece to another holder; the peer is not dropped`, async t => {
    const [a, b] = await peerIds(2)
    const client = busyFirstClient(a!, [1], index => index === 1 ? answer : 'piece')
    const failed: PieceFailedEvent[] = []
    const all = [0, 1, 2, 3, 4, 5]
    const stream = pieceStream({ plan: { table: fullTable(), peers: [planned(a!, COUNT, all), planned(b!, COUNT, all)] }, client, events: { onPieceFailed: e => { failed.push(e) } } })
    t.is(await readAll(stream), blobDigest)
    const byA = failed.filter(e => e.peer === a!.toString())
    t.true(byA.length > 0, 'a was asked for piece 1')
    t.true(byA.every(e => e.index === 1 && e.result === 'refused' && !e.dropped), 'an answer, not a fault')
    if (answer === 'not-found') t.is(byA.length, 1, 'a is not asked for that piece again')
  })
}

for (const answer of ['fail', 'bad'] as const) {
  const what = answer === 'fail' ? 'a request that got no answer passes the peer over for a while, and the peer stays a source' : 'a bad piece drops the peer for the blob: it is asked nothing more'
  test(what, async t => {
    const [a, b] = await peerIds(2)
    const client = busyFirstClient(a!, [3], index => index === 3 ? answer : 'piece')
    const failed: PieceFailedEvent[] = []
    let askedBeforeFailure = 0
    const all = [0, 1, 2, 3, 4, 5]
    const stream = pieceStream({
      plan: { table: fullTable(), peers: [planned(a!, COUNT, all), planned(b!, COUNT, all)] },
      client,
      events: {
        onPieceFailed: e => {
          failed.push(e)
          askedBeforeFailure = client.asked.length
        }
      }
    })
    t.is(await readAll(stream), blobDigest)
    const dropped = answer === 'bad'
    t.deepEqual(failed.filter(e => e.peer === a!.toString()).map(e => [e.index, e.result, e.dropped]), [[3, dropped ? 'bad' : 'unavailable', dropped]])
    // Another holder is free for the rest of this short blob: a is passed over either way.
    t.false(client.asked.slice(askedBeforeFailure).some(q => q.peer === a!.toString()), 'a is asked nothing more meanwhile')
  })
}

test('pieces the scheduler assigned come from the origin, the rest from peers; a piece nobody holds comes from the origin once the swarm stalls', async t => {
  const [a] = await peerIds(1)
  const client = scriptedClient(() => 'piece')
  const fromOrigin: number[] = []
  const stream = pieceStream({
    plan: { table: fullTable(), peers: [planned(a!, COUNT, [1, 2, 3])] },
    client,
    stallMs: 200,
    refreshMs: 20,
    originPiece: async (offset, length) => {
      fromOrigin.push(offset / PIECE)
      return { chunks: [blob.slice(offset, offset + length)], slotSeconds: 0, firstByteSeconds: 0 }
    }
  })
  stream.assign([0, 5])
  t.is(await readAll(stream), blobDigest)
  t.deepEqual([...fromOrigin].sort(), [0, 4, 5], '0 and 5 assigned, 4 held by nobody')
  t.deepEqual(client.asked.map(q => q.index).sort(), [1, 2, 3])
})

test('in a stall while the peer still downloads, only the pieces at the stream\'s head come from the origin; the rest wait for the peer', async t => {
  const [a] = await peerIds(1)
  const started = performance.now()
  // The peer holds piece 0, then (from 250 ms on, after the stall at 100 ms) every piece.
  const client = { ...scriptedClient(() => 'piece'), bitfield: async () => ({ bitfield: bitfieldOf(COUNT, performance.now() - started < 250 ? [0] : [0, 1, 2, 3, 4, 5]), complete: false }) }
  const fromOrigin: number[] = []
  const stream = pieceStream({
    plan: { table: fullTable(), peers: [planned(a!, COUNT, [0])] },
    client,
    stallMs: 100,
    refreshMs: 20,
    originPiece: async (offset, length) => {
      fromOrigin.push(offset / PIECE)
      // Longer than the peer takes to get the rest after the stall (under load too).
      await sleep(400)
      return { chunks: [blob.slice(offset, offset + length)], slotSeconds: 0, firstByteSeconds: 0 }
    }
  })
  t.is(await readAll(stream), blobDigest)
  t.deepEqual([...fromOrigin].sort(), [1, 2], `the head and the next piece (${STALL_ORIGIN_PIECES}) from the origin`)
  t.deepEqual(client.asked.map(q => q.index).sort(), [0, 3, 4, 5])
})

test('without origin fallback a piece nobody holds fails the stream with NoPeerSourceError', async t => {
  const [a] = await peerIds(1)
  const stream = pieceStream({ plan: { table: fullTable(), peers: [planned(a!, COUNT, [0, 1])] }, client: scriptedClient(() => 'piece'), stallMs: 100, refreshMs: 20 })
  const error = await t.throwsAsync(readAll(stream))
  t.is(error?.name, 'NoPeerSourceError')
})

test('origin bytes that contradict the peers\' table end the download with PieceTableMismatchError', async t => {
  const [a] = await peerIds(1)
  const stream = pieceStream({
    plan: { table: fullTable(), peers: [planned(a!, COUNT, [])] },
    client: scriptedClient(() => 'piece'),
    stallMs: 50,
    refreshMs: 10,
    originPiece: async (offset, length) => ({ chunks: [new Uint8Array(length).fill(offset === 0 ? 1 : 0)], slotSeconds: 0, firstByteSeconds: 0 })
  })
  const error = await t.throwsAsync(readAll(stream))
  t.is(error?.name, 'PieceTableMismatchError')
})

/** A request that never gets its answer: it ends only when its signal aborts, as the client's would. */
async function noAnswer (signal: AbortSignal | undefined): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal?.addEventListener('abort', () => { reject(signal.reason) }, { once: true })
  })
}

/** A stream that waits long before a stall and gives peers 30 ms to answer a refresh; the pieces it reads from the origin are in fromOrigin. */
function patientStream (plan: PieceStreamInit['plan'], client: PieceStreamInit['client']): { stream: ReturnType<typeof pieceStream>, fromOrigin: number[] } {
  const fromOrigin: number[] = []
  const stream = pieceStream({
    plan,
    client,
    stallMs: 60_000,
    refreshMs: 10,
    answerTimeoutMs: 30,
    originPiece: async (offset, length) => {
      fromOrigin.push(offset / PIECE)
      return { chunks: [blob.slice(offset, offset + length)], slotSeconds: 0, firstByteSeconds: 0 }
    }
  })
  return { stream, fromOrigin }
}

test('a table request that gets no answer in time leaves the download to its peers, not to the origin', async t => {
  const [a] = await peerIds(1)
  const holey = fullTable()
  holey.pieces[3] = undefined
  let tableAsks = 0
  // The peer holds every piece and is still checking the blob (not complete): it is asked again.
  const client = {
    ...scriptedClient(() => 'piece'),
    bitfield: async () => ({ bitfield: bitfieldOf(COUNT, [0, 1, 2, 3, 4, 5]), complete: false }),
    pieceTable: async (_peer: unknown, _digest: unknown, options: { signal?: AbortSignal }) => {
      tableAsks++
      return noAnswer(options.signal)
    }
  }
  const { stream, fromOrigin } = patientStream({ table: holey, peers: [{ ...planned(a!, COUNT, [0, 1, 2, 3, 4, 5]), complete: false }] }, client)
  // The scheduler sends the whole table after several of the peer's table requests timed out.
  const reading = readAll(stream)
  // Its failure is seen where it is awaited below.
  reading.catch(() => {})
  const deadline = performance.now() + 5_000
  while (tableAsks < 3 && performance.now() < deadline) await sleep(10)
  stream.learnTable(fullTable())
  t.is(await reading, blobDigest)
  t.deepEqual(fromOrigin, [])
  t.deepEqual(client.asked.map(q => q.index).sort(), [0, 1, 2, 3, 4, 5], 'every piece from the peer whose table answers were late')
})

test('a peer whose bitfield answers come late is kept: its pieces are asked of it once it reports them', async t => {
  const [a] = await peerIds(1)
  let bitfieldAsks = 0
  const client = {
    ...scriptedClient(() => 'piece'),
    bitfield: async (_peer: unknown, _digest: unknown, _count: unknown, options: { signal?: AbortSignal }) => {
      bitfieldAsks++
      if (bitfieldAsks <= 2) return noAnswer(options.signal)
      return { bitfield: bitfieldOf(COUNT, [0, 1, 2, 3, 4, 5]), complete: true }
    }
  }
  const { stream, fromOrigin } = patientStream({ table: fullTable(), peers: [planned(a!, COUNT, [0])] }, client)
  t.is(await readAll(stream), blobDigest)
  t.true(bitfieldAsks >= 3)
  t.deepEqual(fromOrigin, [], 'a peer dropped for a late answer would leave the origin as the only source')
  t.deepEqual(client.asked.map(q => q.index).sort(), [0, 1, 2, 3, 4, 5])
})
