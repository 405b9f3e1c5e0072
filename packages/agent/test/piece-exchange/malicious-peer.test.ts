import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { decodePeerRequest, PeerResponse, PIECES_PROTOCOL, pieceTableResponse, Status } from '@shoal/proto'
import type { ParsedPeerRequest } from '@shoal/proto'
import type { P2pNode } from '@shoal/p2p'
import { HashThread } from '../../src/hashing/hash-thread.ts'
import { PieceExchangeClient } from '../../src/piece-exchange/client.ts'
import { blobFixture, describeBlob, PIECE, startNode, swarmKey } from './fixtures.ts'
import type { Blob } from './fixtures.ts'

const OP_TIMEOUT_MS = 20_000
const LP = { maxDataLength: 8 * PIECE, maxBufferSize: 8 * PIECE }

type Answer = (request: ParsedPeerRequest, lp: LengthPrefixedStream<Stream>) => Promise<void>

/** B and a third node whose raw handler answers every request with `answer`. */
async function evilPeer (t: ExecutionContext, answer: Answer, hashing?: HashThread): Promise<{ evil: P2pNode, client: PieceExchangeClient, blob: Blob }> {
  const key = swarmKey()
  const evil = await startNode(t, key)
  const b = await startNode(t, key, [evil])
  await evil.handle(PIECES_PROTOCOL, async stream => {
    const lp = lpStream(stream, LP)
    const request = decodePeerRequest(await lp.read({ signal: AbortSignal.timeout(OP_TIMEOUT_MS) }))
    await answer(request, lp)
    await stream.close()
  })
  return { evil, client: new PieceExchangeClient({ node: b, hashing }), blob: describeBlob(blobFixture(2 * PIECE + 3, 'evil')) }
}

function pieceRef (blob: Blob, index: number): { digest: Blob['digest'], size: number, index: number, cid: Blob['cids'][number] } {
  return { digest: blob.digest, size: blob.size, index, cid: blob.cids[index]! }
}

const signal = (): AbortSignal => AbortSignal.timeout(OP_TIMEOUT_MS)

test('a piece whose bytes do not hash to its CID is a BadPieceError', async t => {
  const { evil, client, blob } = await evilPeer(t, async (request, lp) => {
    const bytes = Buffer.from(blob.piece(1))
    bytes[7] = bytes[7]! ^ 1
    await lp.writeV([PeerResponse.encode({ id: request.id, piece: { status: Status.OK, index: 1, length: bytes.byteLength } }), bytes])
  })
  await t.throwsAsync(client.piece(evil.peerId, pieceRef(blob, 1), { signal: signal() }), { name: 'BadPieceError', message: /must hash to/ })
})

test('checked on the hashing thread, a piece that does not hash to its CID is a BadPieceError and the right one passes', async t => {
  const hashing = new HashThread()
  t.teardown(async () => { await hashing.stop() })
  let corrupt = true
  const { evil, client, blob } = await evilPeer(t, async (request, lp) => {
    const bytes = Buffer.from(blob.piece(0))
    if (corrupt) bytes[PIECE - 1] = bytes[PIECE - 1]! ^ 1
    await lp.writeV([PeerResponse.encode({ id: request.id, piece: { status: Status.OK, index: 0, length: bytes.byteLength } }), bytes])
  }, hashing)
  await t.throwsAsync(client.piece(evil.peerId, pieceRef(blob, 0), { signal: signal() }), { name: 'BadPieceError', message: /must hash to/ })
  corrupt = false
  const piece = await client.piece(evil.peerId, pieceRef(blob, 0), { signal: signal() })
  t.true(Buffer.concat(piece).equals(blob.piece(0)))
})

test('another piece of the same blob sent in place of the one asked for is a BadPieceError', async t => {
  const { evil, client, blob } = await evilPeer(t, async (request, lp) => {
    await lp.writeV([PeerResponse.encode({ id: request.id, piece: { status: Status.OK, index: 0, length: PIECE } }), blob.piece(1)])
  })
  await t.throwsAsync(client.piece(evil.peerId, pieceRef(blob, 0), { signal: signal() }), { name: 'BadPieceError' })
})

test('a piece of the wrong length, announced or sent, is a BadPieceError', async t => {
  const announced = await evilPeer(t, async (request, lp) => {
    await lp.writeV([PeerResponse.encode({ id: request.id, piece: { status: Status.OK, index: 2, length: 4 } }), Buffer.alloc(4)])
  })
  await t.throwsAsync(announced.client.piece(announced.evil.peerId, pieceRef(announced.blob, 2), { signal: signal() }), { name: 'BadPieceError', message: /announced/ })
  const sent = await evilPeer(t, async (request, lp) => {
    await lp.writeV([PeerResponse.encode({ id: request.id, piece: { status: Status.OK, index: 2, length: 3 } }), Buffer.alloc(2 * PIECE)])
  })
  await t.throwsAsync(sent.client.piece(sent.evil.peerId, pieceRef(sent.blob, 2), { signal: signal() }), { name: 'BadPieceError' })
})

test('garbage frames, a wrong id or a wrong kind of answer are PeerProtocolErrors', async t => {
  const garbage = await evilPeer(t, async (_request, lp) => { await lp.write(Buffer.from('this is not a protobuf message at all')) })
  await t.throwsAsync(garbage.client.bitfield(garbage.evil.peerId, garbage.blob.digest, 3, { signal: signal() }), { name: 'PeerProtocolError' })

  const huge = await evilPeer(t, async (_request, lp) => { await lp.unwrap().send(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0x0f])) })
  await t.throwsAsync(huge.client.bitfield(huge.evil.peerId, huge.blob.digest, 3, { signal: signal() }), { name: 'PeerProtocolError' })

  const wrongId = await evilPeer(t, async (request, lp) => {
    await lp.write(PeerResponse.encode({ id: request.id + 7, bitfield: { status: Status.OK, pieceCount: 3, bitfield: Uint8Array.of(0xe0), complete: true } }))
  })
  await t.throwsAsync(wrongId.client.bitfield(wrongId.evil.peerId, wrongId.blob.digest, 3, { signal: signal() }), { name: 'PeerProtocolError' })

  const wrongKind = await evilPeer(t, async (request, lp) => {
    await lp.write(PeerResponse.encode({ id: request.id, bitfield: { status: Status.OK, pieceCount: 3, bitfield: Uint8Array.of(0xe0), complete: true } }))
  })
  await t.throwsAsync(wrongKind.client.piece(wrongKind.evil.peerId, pieceRef(wrongKind.blob, 0), { signal: signal() }), { name: 'PeerProtocolError' })
})

test('a piece table or bitfield that does not fit the blob is a PeerProtocolError', async t => {
  const table = await evilPeer(t, async (request, lp) => {
    // a table for a blob of another size than the caller knows
    const fake = pieceTableResponse({ digest: table.blob.digest, size: 3 * PIECE, pieceSize: PIECE, pieces: [...table.blob.cids] })
    await lp.write(PeerResponse.encode({ id: request.id, pieceTable: fake }))
  })
  await t.throwsAsync(table.client.pieceTable(table.evil.peerId, table.blob.digest, { size: table.blob.size, signal: signal() }), { name: 'PeerProtocolError' })

  const bitfield = await evilPeer(t, async (request, lp) => {
    // claims the whole blob with a piece missing
    await lp.write(PeerResponse.encode({ id: request.id, bitfield: { status: Status.OK, pieceCount: 3, bitfield: Uint8Array.of(0xa0), complete: true } }))
  })
  await t.throwsAsync(bitfield.client.bitfield(bitfield.evil.peerId, bitfield.blob.digest, 3, { signal: signal() }), { name: 'PeerProtocolError' })

  const status = await evilPeer(t, async (request, lp) => {
    await lp.write(PeerResponse.encode({ id: request.id, bitfield: { status: Status.UNSPECIFIED, pieceCount: 3, bitfield: Uint8Array.of(0xe0), complete: true } }))
  })
  await t.throwsAsync(status.client.bitfield(status.evil.peerId, status.blob.digest, 3, { signal: signal() }), { name: 'PeerProtocolError' })
})

test('a peer that closes without answering is unavailable, not a protocol breach', async t => {
  const { evil, client, blob } = await evilPeer(t, async () => {})
  await t.throwsAsync(client.bitfield(evil.peerId, blob.digest, 3, { signal: signal() }), { name: 'PeerUnavailableError' })
})

/** The length prefix of a frame (an unsigned varint), to send a frame's bytes by hand. */
function varint (n: number): Uint8Array {
  const out: number[] = []
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80)
  out.push(n)
  return Uint8Array.from(out)
}

test('a piece sent in tiny messages is joined into one buffer; one sent whole stays the chunks it came in', async t => {
  let tiny = true
  const { evil, client, blob } = await evilPeer(t, async (request, lp) => {
    const bytes = blob.piece(1)
    await lp.write(PeerResponse.encode({ id: request.id, piece: { status: Status.OK, index: 1, length: bytes.byteLength } }))
    if (!tiny) {
      await lp.write(bytes)
      return
    }
    // The frame's bytes in 1 KiB messages: a view each, for a receiver that kept them.
    const stream = lp.unwrap()
    for (const part of [varint(bytes.byteLength), ...Array.from({ length: bytes.byteLength / 1024 }, (_, i) => bytes.subarray(i * 1024, (i + 1) * 1024))]) {
      if (!stream.send(part)) await stream.onDrain({ signal: signal() })
    }
  })
  const joined = await client.piece(evil.peerId, pieceRef(blob, 1), { signal: signal() })
  t.is(joined.length, 1)
  t.true(Buffer.from(joined[0]!).equals(blob.piece(1)))
  tiny = false
  const whole = await client.piece(evil.peerId, pieceRef(blob, 1), { signal: signal() })
  t.true(whole.length > 1, `${whole.length} chunks: Noise carries at most 64 KiB a message`)
  t.true(Buffer.concat(whole).equals(blob.piece(1)))
})
