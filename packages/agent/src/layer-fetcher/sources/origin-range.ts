import { cidOfDigest, digestOf, pieceSpan } from '@shoal/proto'
import { PieceTableMismatchError } from '../../errors.ts'
import type { Logger } from '../../logger.ts'
import type { PieceEvents } from '../events.ts'
import type { PieceBook } from '../piece-book.ts'
import type { Piece, PieceSource } from './piece-source.ts'

/**
 * The bytes of an origin read (the chunks they came in), how long it waited for a read slot, and
 * then for its first byte (a piece read in a run with others: for its own first byte, after theirs).
 */
export interface OriginPieceRead {
  chunks: Uint8Array[]
  slotSeconds: number
  firstByteSeconds: number
}

export interface OriginPieceReadOptions {
  /**
   * The read is given up (undefined) when this returns false by the time the read may start: a
   * piece the scheduler handed to another agent while this one waited for an origin slot.
   */
  stillWanted?: () => boolean
  /** Told of the piece's bytes as they arrive, before the piece is whole (progress on a slow origin). */
  onBytes?: (bytes: number) => void
  /** Told when the piece's read begins (its request goes out) and when it ends (its bytes are in, or it failed). */
  onReading?: (reading: boolean) => void
}

/** The bytes of a blob range from the origin (HTTP Range). */
export type OriginPieceReader = (offset: number, length: number, signal: AbortSignal, options?: OriginPieceReadOptions) => Promise<OriginPieceRead | undefined>

/** The origin as a PieceSource, and the read of a piece the scheduler assigned (given up if it is handed to another agent meanwhile). */
export interface OriginRangeSource extends PieceSource {
  fetchAssigned: (index: number, options: { signal: AbortSignal }) => Promise<Piece | undefined>
}

/**
 * Pieces from the origin by HTTP Range: those a scheduler assigned this agent, and those no peer
 * gives. Each is hashed here and checked against the table where the table names it (a hole, a
 * piece no peer knew, leaves only the whole-blob digest to check it).
 */
export function originRangeSource (init: { book: PieceBook, read: OriginPieceReader, events: PieceEvents, logger: Logger }): OriginRangeSource {
  const { book, events } = init
  const { digest, size } = book.table
  let told = false

  const fetch = async (index: number, signal: AbortSignal, assignedOnly: boolean): Promise<Piece | undefined> => {
    const span = pieceSpan(size, index)
    const asked = performance.now()
    if (assignedOnly) book.originReadStarted()
    let read
    try {
      // An assigned read's start and bytes tell whoever directs it (a scheduler) what it has begun and that it goes on.
      read = await init.read(span.offset, span.length, signal, assignedOnly
        ? {
            stillWanted: () => book.isAssigned(index),
            onBytes: bytes => { events.onOriginBytes?.({ digest, index, bytes }) },
            onReading: reading => { events.onOriginReading?.({ digest, index, reading }) }
          }
        : undefined)
    } finally {
      if (assignedOnly) book.originReadEnded(read != null)
    }
    if (read == null) return undefined
    const { chunks, slotSeconds, firstByteSeconds } = read
    if (slotSeconds > 0) events.onPieceWait?.({ digest, cause: 'origin-slot', seconds: slotSeconds })
    if (!told) {
      told = true
      const why = assignedOnly ? 'assigned to this agent (by its scheduler, or its share of a claim)' : book.growing ? 'no progress among the peers' : 'no live peer holds or is fetching them'
      init.logger.info('pieces no peer gives come from the origin', { digest, from: index, why })
    }
    const expected = book.cid(index)
    const pieceDigest = digestOf(chunks)
    const cid = cidOfDigest(pieceDigest)
    if (expected != null && !cid.equals(expected)) {
      throw new PieceTableMismatchError(`piece ${index} of ${digest} from the origin hashes to ${cid.toString()}, the peers' table says ${String(expected)}`)
    }
    const transferSeconds = Math.max(0, (performance.now() - asked) / 1000 - slotSeconds - firstByteSeconds)
    events.onPieceFetched?.({ digest, index, bytes: span.length, source: 'origin', firstByteSeconds, transferSeconds })
    return { chunks, digest: pieceDigest, from: 'origin' }
  }

  return {
    name: 'origin',
    fetch: async (index, { signal }) => fetch(index, signal, false),
    fetchAssigned: async (index, { signal }) => fetch(index, signal, true)
  }
}
