import test from 'ava'
import { Bitfield, bitfieldResponse, parseBitfieldResponse, MAX_PIECE_COUNT, Status } from '../src/index.ts'

test('set, has, count, missing and full track the pieces held', t => {
  const bits = new Bitfield(10)
  t.is(bits.count(), 0)
  t.deepEqual(bits.missing(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.true(bits.set(0))
  t.true(bits.set(9))
  t.false(bits.set(9), 'setting a held piece again reports it')
  t.true(bits.has(0))
  t.false(bits.has(1))
  t.is(bits.count(), 2)
  t.deepEqual(bits.missing(), [1, 2, 3, 4, 5, 6, 7, 8])
  for (const i of bits.missing()) bits.set(i)
  t.true(bits.full())
  t.deepEqual(bits.missing(), [])
  t.true(bits.clear(3))
  t.false(bits.clear(3), 'clearing a piece not held reports it')
  t.false(bits.has(3))
  t.is(bits.count(), 9)
  t.deepEqual(bits.missing(), [3])
})

test('the encoding is most significant bit first, ceil(count / 8) bytes', t => {
  const bits = new Bitfield(10)
  bits.set(0)
  bits.set(7)
  bits.set(9)
  t.deepEqual([...bits.toBytes()], [0b1000_0001, 0b0100_0000])
  const copy = new Bitfield(10, bits.toBytes())
  t.deepEqual(copy.missing(), bits.missing())
  t.is(copy.count(), 3)
  t.is(new Bitfield(0).toBytes().byteLength, 0)
  t.true(new Bitfield(0).full())
  t.is(new Bitfield(16, new Uint8Array([0xff, 0xff])).count(), 16)
})

test('decoded bytes are copied, not aliased', t => {
  const bytes = new Uint8Array([0b1000_0000])
  const bits = new Bitfield(3, bytes)
  bytes[0] = 0
  t.true(bits.has(0))
  bits.toBytes()[0] = 0
  t.true(bits.has(0))
})

test('view() is the encoding itself, as it changes; toBytes() a copy of it', t => {
  const bits = new Bitfield(10)
  const view = bits.view()
  const copy = bits.toBytes()
  bits.set(0)
  bits.set(9)
  t.deepEqual([...view], [0b1000_0000, 0b0100_0000])
  t.deepEqual([...copy], [0, 0])
  t.deepEqual(bits.toBytes(), Uint8Array.from(view))
  bits.clear(0)
  t.is(view[0], 0)
})

test('bytes that do not fit the piece count are InvalidBitfieldError', t => {
  t.throws(() => new Bitfield(10, new Uint8Array(1)), { name: 'InvalidBitfieldError' })
  t.throws(() => new Bitfield(10, new Uint8Array(3)), { name: 'InvalidBitfieldError' })
  t.throws(() => new Bitfield(0, new Uint8Array(1)), { name: 'InvalidBitfieldError' })
  // piece count 10: the low 6 bits of the second byte are spare and must be clear
  t.throws(() => new Bitfield(10, new Uint8Array([0, 0b0010_0000])), { name: 'InvalidBitfieldError', message: /bits past piece 9/ })
  t.notThrows(() => new Bitfield(10, new Uint8Array([0, 0b1100_0000])))
})

test('piece counts out of range are InvalidBitfieldError, indexes out of range InvalidPieceError', t => {
  for (const count of [-1, 1.5, Number.NaN, MAX_PIECE_COUNT + 1]) {
    t.throws(() => new Bitfield(count), { name: 'InvalidBitfieldError' }, String(count))
  }
  t.notThrows(() => new Bitfield(MAX_PIECE_COUNT))
  const bits = new Bitfield(4)
  for (const index of [-1, 4, 0.5]) {
    t.throws(() => bits.set(index), { name: 'InvalidPieceError' })
    t.throws(() => bits.has(index), { name: 'InvalidPieceError' })
  }
})

test('a peer bitfield is checked against the piece count the caller computed', t => {
  const bits = new Bitfield(12)
  bits.set(3)
  const message = bitfieldResponse(bits, false)
  const parsed = parseBitfieldResponse(message, 12)
  t.false(parsed.complete)
  t.deepEqual(parsed.bitfield.toBytes(), bits.toBytes())

  t.throws(() => parseBitfieldResponse(message, 13), { name: 'InvalidBitfieldError', message: /claims 12 pieces/ })
  // the count agrees but the bytes are of a smaller blob (17 pieces need 3 bytes)
  t.throws(() => parseBitfieldResponse({ ...message, pieceCount: 17 }, 17), { name: 'InvalidBitfieldError', message: /3 bytes, not 2/ })
  t.throws(() => parseBitfieldResponse({ ...message, status: Status.NOT_FOUND }, 12), { name: 'InvalidBitfieldError' })
  t.throws(() => parseBitfieldResponse({ ...message, complete: true }, 12), { name: 'InvalidBitfieldError', message: /whole blob/ })
  const full = new Bitfield(12, new Uint8Array([0xff, 0xf0]))
  t.true(parseBitfieldResponse(bitfieldResponse(full, true), 12).complete)
})
