import test from 'ava'
import { Uint8ArrayList } from 'uint8arraylist'
import { boundedLengthDecoder, varintLength } from '../src/index.ts'

test('varintLength counts 7 bits a byte', t => {
  t.is(varintLength(0), 1)
  t.is(varintLength(127), 1)
  t.is(varintLength(128), 2)
  t.is(varintLength(1024), 2)
  t.is(varintLength(16_383), 2)
  t.is(varintLength(16_384), 3)
  t.is(varintLength(4 * 1024 * 1024), 4)
})

test('a prefix within the bound decodes; one byte short asks for more (RangeError)', t => {
  const decode = boundedLengthDecoder(1024)
  t.is(decode(Uint8Array.of(0x05)), 5)
  t.is(decode(new Uint8ArrayList(Uint8Array.of(0x80, 0x08))), 1024)
  t.throws(() => decode(Uint8Array.of(0x80)), { instanceOf: RangeError })
})

test('a prefix that runs past the bytes the limit needs, or names more than the limit, is InvalidMessageError', t => {
  const decode = boundedLengthDecoder(1024)
  t.throws(() => decode(new Uint8ArrayList(Uint8Array.of(0xff, 0xff))), { name: 'InvalidMessageError', message: /runs past the 2 bytes/ })
  t.throws(() => decode(Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)), { name: 'InvalidMessageError' })
  t.throws(() => decode(Uint8Array.of(0x81, 0x08)), { name: 'InvalidMessageError', message: /1025 bytes is over the 1024/ })
})
