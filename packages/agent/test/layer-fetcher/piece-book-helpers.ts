import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Bitfield, cidOfDigest, digestOf, pieceSizeFor } from '@shoal/proto'
import type { PieceTable } from '@shoal/proto'
import type { PlannedPeer } from '../../src/layer-fetcher/piece-book.ts'

const MiB = 1024 * 1024

export async function peerIds (n: number): Promise<PeerId[]> {
  return Promise.all(Array.from({ length: n }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519'))))
}

export function bitfieldOf (count: number, pieces: Iterable<number>): Bitfield {
  const bitfield = new Bitfield(count)
  for (const i of pieces) bitfield.set(i)
  return bitfield
}

export function planned (id: PeerId, count: number, pieces: number[]): PlannedPeer {
  const bitfield = bitfieldOf(count, pieces)
  return { id, bitfield, complete: bitfield.full() }
}

/** A table of `count` 1 MiB pieces; the pieces in `holes` have no CID yet. */
export function table (count: number, holes: Iterable<number> = []): PieceTable {
  const size = count * MiB
  const missing = new Set(holes)
  const pieces = Array.from({ length: count }, (_, i) => missing.has(i) ? undefined : cidOfDigest(digestOf(new Uint8Array([i]))))
  return { digest: digestOf(new Uint8Array([9])), size, pieceSize: pieceSizeFor(size), pieces }
}

/** A clock moved by hand. */
export function manualClock (): { now: () => number, advance: (ms: number) => void } {
  let t = 1_000
  return { now: () => t, advance: ms => { t += ms } }
}
