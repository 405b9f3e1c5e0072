import type { PeerId } from '@libp2p/interface'
import { digestOfCid, pieceSpan, Status } from '@shoal/proto'
import type { RateLimiter } from '../../bandwidth/index.ts'
import { PIECE_TIMEOUT_MS } from '../../constants.ts'
import { PeerRefusedError } from '../../errors.ts'
import type { Logger } from '../../logger.ts'
import type { PieceExchangeClient } from '../../piece-exchange/index.ts'
import type { PieceEvents, PieceFailure } from '../events.ts'
import type { PieceBook } from '../piece-book.ts'
import type { Piece, PieceSource } from './piece-source.ts'

export interface PeerPieceSourceInit {
  peer: PeerId
  book: PieceBook
  /** Checks each piece against the CID it is asked with (BadPieceError otherwise). */
  client: Pick<PieceExchangeClient, 'piece'>
  /** `--download-limit`: every piece requested from a peer waits for its bytes here first. */
  downloads?: Pick<RateLimiter, 'take'>
  pieceTimeoutMs?: number
  events: PieceEvents
  logger: Logger
}

/**
 * One peer as a source of one blob's pieces. Its answers go into the book: a piece that arrived
 * is progress; NOT_FOUND clears the piece from the peer's bitfield, BUSY passes the peer over for
 * a moment; no answer (a broken stream, a timeout) passes it over for longer and drops it for this
 * blob when it keeps failing (PieceBook.failed); a bad piece or a broken protocol drops it at once.
 * Only a piece the table names is asked for (the client checks the bytes against its CID).
 */
export function peerPieceSource (init: PeerPieceSourceInit): PieceSource {
  const { peer, book, events } = init
  const key = peer.toString()
  const { digest, size } = book.table
  return {
    name: key,
    fetch: async (index, { signal }): Promise<Piece | undefined> => {
      const cid = book.cid(index)
      // Chosen before a pause (BUSY) and dropped meanwhile: not asked.
      if (cid == null || book.isDropped(peer)) return undefined
      book.asking(peer, 1)
      try {
        if (init.downloads != null) {
          const limited = performance.now()
          await init.downloads.take(pieceSpan(size, index).length, { signal })
          events.onPieceWait?.({ digest, cause: 'download-limit', seconds: (performance.now() - limited) / 1000 })
        }
        const asked = performance.now()
        let firstByte = asked
        const chunks = await init.client.piece(peer, { digest, size, index, cid }, {
          signal: AbortSignal.any([signal, AbortSignal.timeout(init.pieceTimeoutMs ?? PIECE_TIMEOUT_MS)]),
          onFirstByte: () => { firstByte = performance.now() }
        })
        book.progressed()
        book.answered(peer)
        const done = performance.now()
        events.onPieceFetched?.({ digest, index, bytes: pieceSpan(size, index).length, source: 'peer', peer: key, firstByteSeconds: (firstByte - asked) / 1000, transferSeconds: (done - firstByte) / 1000 })
        return { chunks, digest: digestOfCid(cid), from: 'peer' }
      } catch (err) {
        signal.throwIfAborted()
        const error = (err as Error).name
        // NOT_FOUND and BUSY are answers, not faults: others are asked (or this one later).
        const status = err instanceof PeerRefusedError ? err.status : undefined
        if (status === Status.NOT_FOUND) book.forget(peer, index)
        if (status === Status.BUSY) book.busy(peer)
        const gentle = status === Status.NOT_FOUND || status === Status.BUSY
        if (gentle) book.answered(peer)
        const result = failureOf(error)
        // A bad piece or a broken protocol is the peer's fault: dropped at once. No answer may be the link's.
        const dropped = gentle ? false : result === 'bad' ? book.drop(peer) : book.failed(peer)
        events.onPieceFailed?.({ digest, index, peer: key, result, error, dropped })
        if (dropped) init.logger.warn('peer dropped for this blob', { digest, peer: key, piece: index, error: `${error}: ${(err as Error).message}` })
        return undefined
      } finally {
        book.asking(peer, -1)
      }
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
