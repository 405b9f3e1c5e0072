import type { PeerId } from '@libp2p/interface'
import { cidOfDigest, digestOf, pieceAt, pieceSpan } from '@shoal/proto'
import type { Bitfield, Digest, PieceTable } from '@shoal/proto'
import { PEER_FETCH_MAX_BYTES_IN_FLIGHT, PEER_FETCH_MAX_PIECES_IN_FLIGHT, PIECE_TIMEOUT_MS } from '../constants.ts'
import { PieceTableMismatchError } from '../errors.ts'
import { createLogger } from '../logger.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import type { ByteSource } from './blob-download.ts'

/** A peer that holds pieces of the blob, with what it said it holds. */
export interface PlannedPeer {
  id: PeerId
  bitfield: Bitfield
}

/** Where a blob's pieces can come from: the table (verified against the blob by a peer's answer) and the peers. */
export interface PeerPlan {
  table: PieceTable
  peers: PlannedPeer[]
}

export interface PieceFetchedEvent {
  digest: Digest
  index: number
  bytes: number
  source: 'peer' | 'origin'
  peer?: string
}

/** Why a piece request to a peer failed: `bad` (wrong bytes or a malformed answer), `refused`, `timeout`, `unavailable`. */
export type PieceFailure = 'bad' | 'refused' | 'timeout' | 'unavailable'

export interface PieceFailedEvent {
  digest: Digest
  index: number
  peer: string
  result: PieceFailure
  /** The error's name (BadPieceError counts against the peer). */
  error: string
  /** True when this failure dropped the peer for the blob (false when an earlier one already had). */
  dropped: boolean
}

export interface PeerSourceInit {
  plan: PeerPlan
  client: Pick<PieceExchangeClient, 'piece'>
  /** The bytes of a piece from the origin (HTTP Range), for pieces no peer could give. */
  originPiece: (offset: number, length: number, signal: AbortSignal) => Promise<Uint8Array>
  pieceTimeoutMs?: number
  onPiece?: (event: PieceFetchedEvent) => void
  onPieceFailed?: (event: PieceFailedEvent) => void
}

const log = createLogger('shoal:agent:layer-fetcher')

/**
 * The pieces of a blob from peers, as a ByteSource that yields the blob in order. Pieces are
 * fetched in order with a sliding window of several in flight, each from the holder with the
 * fewest requests under way, so the window spreads over the peers; every piece is checked against
 * the table (the client does it for peer pieces, this does it for origin pieces). A peer that
 * fails or sends a bad piece is dropped for this blob; a piece no remaining peer holds comes from
 * the origin. The caller (BlobDownload) hashes the whole blob before it is complete.
 */
export function peerSource (init: PeerSourceInit): ByteSource {
  const { table } = init.plan
  const dropped = new Set<string>()
  const busy = new Map<string, number>()
  const window = Math.max(1, Math.min(PEER_FETCH_MAX_PIECES_IN_FLIGHT, Math.floor(PEER_FETCH_MAX_BYTES_IN_FLIGHT / table.pieceSize)))

  const fromPeers = async (index: number, signal: AbortSignal): Promise<Uint8Array | undefined> => {
    const cid = table.pieces[index]
    if (cid == null) throw new RangeError(`piece ${index} is outside the table of ${table.digest}`)
    for (;;) {
      const holders = init.plan.peers.filter(p => !dropped.has(p.id.toString()) && p.bitfield.has(index))
      if (holders.length === 0) return undefined
      const peer = holders.reduce((a, b) => (busy.get(b.id.toString()) ?? 0) < (busy.get(a.id.toString()) ?? 0) ? b : a)
      const key = peer.id.toString()
      busy.set(key, (busy.get(key) ?? 0) + 1)
      try {
        const bytes = await init.client.piece(peer.id, { digest: table.digest, size: table.size, index, cid }, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(init.pieceTimeoutMs ?? PIECE_TIMEOUT_MS)])
        })
        init.onPiece?.({ digest: table.digest, index, bytes: bytes.byteLength, source: 'peer', peer: key })
        return bytes
      } catch (err) {
        signal.throwIfAborted()
        const error = (err as Error).name
        init.onPieceFailed?.({ digest: table.digest, index, peer: key, result: failureOf(error), error, dropped: !dropped.has(key) })
        dropped.add(key)
        log.warn('peer dropped for this blob', { digest: table.digest, peer: key, piece: index, error: `${(err as Error).name}: ${(err as Error).message}` })
      } finally {
        busy.set(key, (busy.get(key) ?? 1) - 1)
      }
    }
  }

  const fetchPiece = async (index: number, signal: AbortSignal): Promise<Uint8Array> => {
    const fromPeer = await fromPeers(index, signal)
    if (fromPeer != null) return fromPeer
    const span = pieceSpan(table.size, index)
    const bytes = await init.originPiece(span.offset, span.length, signal)
    const cid = cidOfDigest(digestOf(bytes)).toString()
    if (cid !== table.pieces[index]?.toString()) {
      throw new PieceTableMismatchError(`piece ${index} of ${table.digest} from the origin hashes to ${cid}, the peers' table says ${table.pieces[index]?.toString() ?? 'nothing'}`)
    }
    init.onPiece?.({ digest: table.digest, index, bytes: bytes.byteLength, source: 'origin' })
    return bytes
  }

  return {
    open: async (offset, signal) => inOrder(offset, signal),
    close: async () => {}
  }

  async function * inOrder (offset: number, outer: AbortSignal): AsyncIterable<Uint8Array> {
    const count = table.pieces.length
    if (offset >= table.size) return
    const controller = new AbortController()
    const signal = AbortSignal.any([outer, controller.signal])
    const pending = new Map<number, Promise<Uint8Array>>()
    let next = pieceAt(table.size, offset)
    let scheduled = next
    try {
      while (next < count) {
        while (scheduled < count && scheduled < next + window) {
          const fetching = fetchPiece(scheduled, signal)
          fetching.catch(() => {})
          pending.set(scheduled++, fetching)
        }
        const bytes = await (pending.get(next) as Promise<Uint8Array>)
        pending.delete(next)
        const start = pieceSpan(table.size, next).offset
        yield offset > start ? bytes.subarray(offset - start) : bytes
        next++
      }
    } finally {
      controller.abort()
    }
  }
}

function failureOf (name: string): PieceFailure {
  if (name === 'BadPieceError' || name === 'PeerProtocolError') return 'bad'
  if (name === 'PeerRefusedError') return 'refused'
  // The per-piece timeout aborts the request's signal (the caller's own abort is rethrown before this).
  if (name === 'PeerTimeoutError' || name === 'AbortError' || name === 'TimeoutError') return 'timeout'
  return 'unavailable'
}
