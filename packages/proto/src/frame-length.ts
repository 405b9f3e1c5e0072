import type { Uint8ArrayList } from 'uint8arraylist'
import { InvalidMessageError } from './errors.ts'

/** Bytes an unsigned varint of `value` takes. */
export function varintLength (value: number): number {
  let bytes = 1
  while (value >= 0x80) {
    value = Math.floor(value / 0x80)
    bytes++
  }
  return bytes
}

/**
 * lpStream reads a length prefix a byte at a time and takes a RangeError as "give me another
 * byte": thrown for every byte of a prefix but its last, so it is made once, not with a fresh
 * stack trace each time (a piece's 256 KiB frame has a 3-byte prefix).
 */
const NEEDS_ANOTHER_BYTE = new RangeError('the length prefix needs another byte')

/**
 * A frame-length decoder for `lpStream` (`lengthDecoder`) that refuses a length prefix longer than
 * the largest allowed frame needs. lpStream checks that bound only after a prefix decodes, so a
 * peer sending bytes that all carry the continuation bit (0xff...) held the stream open until its
 * idle timeout; this throws InvalidMessageError as soon as the prefix runs past the bound. A
 * RangeError asks lpStream for another byte.
 */
export function boundedLengthDecoder (maxDataLength: number): (data: Uint8ArrayList | Uint8Array) => number {
  const maxBytes = varintLength(maxDataLength)
  return data => {
    let value = 0
    const available = Math.min(data.byteLength, maxBytes)
    for (let i = 0; i < available; i++) {
      const byte = 'get' in data ? data.get(i) : data[i] ?? 0
      value += (byte & 0x7f) * 2 ** (7 * i)
      if ((byte & 0x80) === 0) {
        if (value > maxDataLength) throw new InvalidMessageError(`a frame of ${value} bytes is over the ${maxDataLength} allowed`)
        return value
      }
    }
    if (data.byteLength >= maxBytes) throw new InvalidMessageError(`a frame's length prefix runs past the ${maxBytes} bytes that ${maxDataLength} needs`)
    throw NEEDS_ANOTHER_BYTE
  }
}
