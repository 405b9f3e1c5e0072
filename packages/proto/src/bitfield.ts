import { InvalidBitfieldError, InvalidPieceError } from './errors.ts'
import { Status } from './gen/pieces.js'
import type { BitfieldResponse } from './gen/pieces.js'
import { MAX_PIECE_COUNT } from './pieces.ts'

/**
 * Which pieces of a blob a peer holds: bit i, most significant bit first, is piece i. The byte
 * encoding is exactly ceil(pieceCount / 8) bytes with the spare bits of the last byte clear, so one
 * piece count has one encoding and a bitfield from a peer can be checked against the blob.
 */
export class Bitfield {
  readonly pieceCount: number
  readonly #bytes: Uint8Array<ArrayBuffer>
  #count: number

  /** An empty bitfield, or one decoded from `bytes` (copied, never aliased). */
  constructor (pieceCount: number, bytes?: Uint8Array) {
    if (!Number.isSafeInteger(pieceCount) || pieceCount < 0 || pieceCount > MAX_PIECE_COUNT) {
      throw new InvalidBitfieldError(`piece count ${pieceCount} is not an integer in [0, ${MAX_PIECE_COUNT}]`)
    }
    const length = Bitfield.byteLengthFor(pieceCount)
    this.pieceCount = pieceCount
    this.#bytes = new Uint8Array(length)
    this.#count = 0
    if (bytes == null) {
      return
    }
    if (bytes.byteLength !== length) {
      throw new InvalidBitfieldError(`a bitfield of ${pieceCount} pieces has ${length} bytes, not ${bytes.byteLength}`)
    }
    const spare = length * 8 - pieceCount
    if (length > 0 && (bytes[length - 1]! & ((1 << spare) - 1)) !== 0) {
      throw new InvalidBitfieldError(`bits past piece ${pieceCount - 1} are set`)
    }
    this.#bytes.set(bytes)
    for (const byte of this.#bytes) {
      this.#count += popcount(byte)
    }
  }

  static byteLengthFor (pieceCount: number): number {
    return Math.ceil(pieceCount / 8)
  }

  /** Marks piece `index` as held; returns false if it already was. */
  set (index: number): boolean {
    this.#check(index)
    const mask = 0x80 >> (index & 7)
    const byte = this.#bytes[index >> 3]!
    if ((byte & mask) !== 0) {
      return false
    }
    this.#bytes[index >> 3] = byte | mask
    this.#count++
    return true
  }

  /** Marks piece `index` as not held; returns false if it already was not. */
  clear (index: number): boolean {
    this.#check(index)
    const mask = 0x80 >> (index & 7)
    const byte = this.#bytes[index >> 3]!
    if ((byte & mask) === 0) return false
    this.#bytes[index >> 3] = byte & ~mask
    this.#count--
    return true
  }

  has (index: number): boolean {
    this.#check(index)
    return (this.#bytes[index >> 3]! & (0x80 >> (index & 7))) !== 0
  }

  /** How many pieces are held. */
  count (): number {
    return this.#count
  }

  /** The indexes of the pieces not held, in order. */
  missing (): number[] {
    const missing: number[] = []
    for (let i = 0; i < this.pieceCount; i++) {
      if (!this.has(i)) {
        missing.push(i)
      }
    }
    return missing
  }

  full (): boolean {
    return this.#count === this.pieceCount
  }

  /**
   * The wire encoding itself, not a copy: for a reader that is done with it before the bitfield
   * changes again (a scheduler round compares thousands per task). Never write to it.
   */
  view (): Readonly<Uint8Array<ArrayBuffer>> {
    return this.#bytes
  }

  /** The wire encoding (a copy). */
  toBytes (): Uint8Array<ArrayBuffer> {
    return this.#bytes.slice()
  }

  #check (index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new InvalidPieceError(`piece ${index} is outside a bitfield of ${this.pieceCount} pieces`)
    }
  }
}

export interface PeerBitfield {
  bitfield: Bitfield
  /** The peer holds the whole blob, verified against its digest. */
  complete: boolean
}

/**
 * Checks a peer's BitfieldResponse (status OK) against the blob's piece count, which the caller
 * knows from the blob size; a peer does not get to say how many pieces a blob has.
 */
export function parseBitfieldResponse (message: BitfieldResponse, pieceCount: number): PeerBitfield {
  if (message.status !== Status.OK) {
    throw new InvalidBitfieldError(`a response with status ${message.status} carries no bitfield`)
  }
  if (message.pieceCount !== pieceCount) {
    throw new InvalidBitfieldError(`the peer claims ${message.pieceCount} pieces for a blob of ${pieceCount}`)
  }
  const bitfield = new Bitfield(pieceCount, message.bitfield)
  if (message.complete && !bitfield.full()) {
    throw new InvalidBitfieldError(`the peer claims the whole blob but holds ${bitfield.count()} of ${pieceCount} pieces`)
  }
  return { bitfield, complete: message.complete }
}

/** The BitfieldResponse (status OK) a holder of `bitfield` sends. */
export function bitfieldResponse (bitfield: Bitfield, complete: boolean): BitfieldResponse {
  return { status: Status.OK, pieceCount: bitfield.pieceCount, bitfield: bitfield.toBytes(), complete }
}

function popcount (byte: number): number {
  let count = 0
  for (let b = byte; b !== 0; b &= b - 1) {
    count++
  }
  return count
}
