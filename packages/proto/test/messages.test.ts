import test from 'ava'
import {
  cidOfDigest, decodePeerRequest, decodePeerResponse, digestOf, PeerRequest, PeerResponse, Status, MAX_MESSAGE_SIZE,
  MAX_PIECE_COUNT, PIECES_PROTOCOL, DHT_PROTOCOL, SCHEDULER_PROTOCOL
} from '../src/index.ts'

const digest = digestOf(new TextEncoder().encode('layer'))
const piece = cidOfDigest(digestOf(new TextEncoder().encode('piece 0'))).bytes

test('protocol ids', t => {
  t.deepEqual([PIECES_PROTOCOL, DHT_PROTOCOL, SCHEDULER_PROTOCOL], ['/shoal/pieces/2.0.0', '/shoal/kad/1.0.0', '/shoal/scheduler/2.0.0'])
})

test('each request round-trips through its encoding', t => {
  const cases = [
    [{ id: 1, pieceTable: { digest } }, { id: 1, kind: 'pieceTable', digest }],
    [{ id: 2, bitfield: { digest } }, { id: 2, kind: 'bitfield', digest }],
    [{ id: 3, piece: { digest, index: 41 } }, { id: 3, kind: 'piece', digest, index: 41 }],
    [{ id: 0, piece: { digest, index: 0 } }, { id: 0, kind: 'piece', digest, index: 0 }],
    [{ id: 4, cancel: { id: 3 } }, { id: 4, kind: 'cancel', cancelId: 3 }]
  ] as const
  for (const [request, parsed] of cases) {
    t.deepEqual(decodePeerRequest(PeerRequest.encode(request)), parsed)
    t.deepEqual(PeerRequest.decode(PeerRequest.encode(request)), request)
  }
})

test('each response round-trips through its encoding', t => {
  const responses: PeerResponse[] = [
    { id: 1, pieceTable: { status: Status.OK, size: 5n * 1024n * 1024n, pieceSize: 1024 * 1024, pieces: [piece, piece] } },
    { id: 1, pieceTable: { status: Status.NOT_FOUND, size: 0n, pieceSize: 0, pieces: [] } },
    { id: 2, bitfield: { status: Status.OK, pieceCount: 10, bitfield: new Uint8Array([0xff, 0xc0]), complete: true } },
    { id: 2, bitfield: { status: Status.BUSY, pieceCount: 0, bitfield: new Uint8Array(), complete: false } },
    { id: 3, piece: { status: Status.OK, index: 7, length: 4 * 1024 * 1024 } },
    { id: 3, piece: { status: Status.ERROR, index: 7, length: 0 } },
    { id: 3, piece: { status: Status.CANCELLED, index: 7, length: 0 } }
  ]
  for (const response of responses) {
    t.deepEqual(decodePeerResponse(PeerResponse.encode(response)), response)
  }
})

test('a status left out decodes as UNSPECIFIED, never as OK', t => {
  const bytes = PeerResponse.encode({ id: 3, piece: { status: Status.UNSPECIFIED, index: 7, length: 9 } })
  t.is(decodePeerResponse(bytes).piece?.status, Status.UNSPECIFIED)
})

test('a oneof keeps one body: the last on the wire wins', t => {
  const a = PeerRequest.encode({ id: 1, bitfield: { digest } })
  const b = PeerRequest.encode({ id: 1, cancel: { id: 9 } })
  const both = new Uint8Array([...a, ...b])
  t.deepEqual(decodePeerRequest(both), { id: 1, kind: 'cancel', cancelId: 9 })
})

test('requests without a body or with a bad digest or index are InvalidMessageError', t => {
  const invalid = { name: 'InvalidMessageError' }
  t.throws(() => decodePeerRequest(PeerRequest.encode({ id: 5 })), { ...invalid, message: /no body/ })
  t.throws(() => decodePeerRequest(new Uint8Array()), { ...invalid, message: /no body/ })
  t.throws(() => decodePeerRequest(PeerRequest.encode({ id: 5, pieceTable: { digest: 'sha256:../../etc/passwd' } })), invalid)
  t.throws(() => decodePeerRequest(PeerRequest.encode({ id: 5, bitfield: { digest: '' } })), invalid)
  t.throws(() => decodePeerRequest(PeerRequest.encode({ id: 5, piece: { digest, index: MAX_PIECE_COUNT } })), { ...invalid, message: /index/ })
  const err = t.throws(() => decodePeerRequest(PeerRequest.encode({ id: 5, piece: { digest: 'md5:00', index: 1 } })), invalid)
  t.is((err?.cause as Error).name, 'InvalidDigestError')
  t.throws(() => decodePeerResponse(PeerResponse.encode({ id: 5 })), { ...invalid, message: /no body/ })
})

test('garbage, truncated and oversized bytes are InvalidMessageError, never a crash', t => {
  const good = PeerResponse.encode({ id: 1, pieceTable: { status: Status.OK, size: 1n, pieceSize: 1024 * 1024, pieces: [piece] } })
  t.throws(() => decodePeerResponse(good.subarray(0, good.byteLength - 3)), { name: 'InvalidMessageError' })
  // field 1 as varint with an unknown status value inside a piece header
  t.throws(() => decodePeerResponse(new Uint8Array([0x22, 0x02, 0x08, 0x63])), { name: 'InvalidMessageError', message: /enum/ })
  // a length prefix far past the end
  t.throws(() => decodePeerRequest(new Uint8Array([0x12, 0xff, 0xff, 0xff, 0x0f])), { name: 'InvalidMessageError' })
  t.throws(() => decodePeerRequest(new Uint8Array(MAX_MESSAGE_SIZE + 1)), { name: 'InvalidMessageError', message: /larger/ })
  let refused = 0
  for (let n = 0; n < 500; n++) {
    const bytes = garbage(n, 1 + (n % 64))
    for (const decode of [decodePeerRequest, decodePeerResponse]) {
      try {
        decode(bytes)
      } catch (err) {
        t.is((err as Error).name, 'InvalidMessageError', `${Buffer.from(bytes).toString('hex')}: ${(err as Error).message}`)
        refused++
      }
    }
  }
  t.true(refused > 500, `only ${refused} of 1000 garbage inputs were refused`)
})

test('a piece table with more pieces than any blob has is refused while decoding', t => {
  const pieces = Array.from({ length: MAX_PIECE_COUNT + 1 }, () => piece)
  const bytes = PeerResponse.encode({ id: 1, pieceTable: { status: Status.OK, size: 0n, pieceSize: 0, pieces } })
  t.throws(() => decodePeerResponse(bytes), { name: 'InvalidMessageError', message: /too many/ })
})

/** Deterministic junk (xorshift32), so a failure names bytes that reproduce it. */
function garbage (seed: number, length: number): Uint8Array {
  let x = seed * 2654435761 + 1
  return Uint8Array.from({ length }, () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x & 0xff
  })
}
