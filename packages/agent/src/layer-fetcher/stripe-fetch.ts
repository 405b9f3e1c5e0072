import { digestOf, originRunFor, pieceSpan, stripePieces } from '@shoal/proto'
import type { Digest, PieceStripe } from '@shoal/proto'
import { STRIPE_PIECE_READS_IN_FLIGHT } from '../constants.ts'
import { NoPeerSourceError, StripeInterruptedError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { recordedBitfield, recordedTable } from '../piece-store/blob-record.ts'
import type { PartialBlob } from '../piece-store/partial-blob.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { SchedulerClient } from '../scheduler-client/client.ts'
import type { PeerNetwork } from './peer-plan.ts'
import type { OriginPieceReader } from './sources/origin-range.ts'

export interface StripeFetchComponents {
  store: PieceStore
  /** Piece reads from the origin (HTTP Range), shared with the downloads; none with `--no-origin-fallback`. */
  originPiece?: OriginPieceReader
  /** Told of the pieces held once they are stored: the DHT and the blob's scheduler. */
  peers?: Pick<PeerNetwork, 'announce' | 'announceLater'>
  scheduler?: Pick<SchedulerClient, 'sessionFor'>
  log: Logger
}

export interface StripeFetchInit {
  digest: Digest
  size: number
  stripe: PieceStripe
  signal: AbortSignal
  /** Bytes of the stripe held so far (a running total), after each piece. */
  onBytes?: (bytes: number) => void
}

/**
 * Placement by pieces (a site prefetch): reads the pieces of one stripe of a blob from the origin,
 * a run of consecutive pieces per HTTP Range request (OriginReads joins a run asked for at once),
 * hashes each, and stores them in the blob's partial file, where
 * they are offered to peers like any partial blob's; then tells the DHT and the blob's scheduler
 * (its bitfield and its piece CIDs, which the scheduler merges into the blob's table). The stripes
 * of a job partition the blob's pieces, so the origin sends each piece once. No agent hashes the
 * whole blob here: the first client pull checks it against its digest, as for a claim's shares, and
 * a wrong table is reported and ejected there. Pieces already held are not read again; a blob held
 * whole counts at once. Resolves to the stripe's bytes.
 */
export async function fetchStripe (components: StripeFetchComponents, init: StripeFetchInit): Promise<number> {
  const { store } = components
  const { digest, size, stripe, signal } = init
  const wanted = stripePieces(size, stripe)
  const bytesOf = (indexes: number[]): number => indexes.reduce((sum, index) => sum + pieceSpan(size, index).length, 0)
  // Every piece of the stripe is held when the blob is.
  const whole = (): number => {
    const bytes = bytesOf(wanted)
    init.onBytes?.(bytes)
    return bytes
  }
  if (store.isComplete(digest)) return whole()
  const read = components.originPiece
  if (read == null) throw new NoPeerSourceError(`a stripe of ${digest} is read from the origin, and origin fallback is off (--no-origin-fallback)`)
  const partial = await store.openPartial(digest, size).catch((err: unknown) => {
    // Completed by a download between the look above and the open: every piece is held.
    if (store.isComplete(digest)) return undefined
    throw err
  })
  if (partial == null) return whole()
  let held = bytesOf(wanted.filter(index => partial.hasPiece(index)))
  init.onBytes?.(held)
  const missing = runsOf(wanted.filter(index => !partial.hasPiece(index)), originRunFor(size))
  // A download of the blob that shares this partial file closes it when it ends.
  const unlessClosed = (err: Error): never => {
    throw partial.isOpen ? err : new StripeInterruptedError(`the partial file of ${digest} was closed under its stripe`, { cause: err })
  }
  let next = 0
  // The first failure stops the other reads: none goes on in the background once this call has ended.
  const failed = new AbortController()
  const reads = AbortSignal.any([signal, failed.signal])
  const readPiece = async (index: number): Promise<void> => {
    const span = pieceSpan(size, index)
    const piece = await read(span.offset, span.length, reads)
    if (piece == null) throw new NoPeerSourceError(`piece ${index} of ${digest} was not read from the origin`)
    await partial.writePiece(index, piece.chunks, digestOf(piece.chunks)).catch(unlessClosed)
    held += span.length
    init.onBytes?.(held)
  }
  const worker = async (): Promise<void> => {
    while (next < missing.length) {
      reads.throwIfAborted()
      // A run's pieces are asked for in one turn: the origin reads join them into one request.
      await Promise.all((missing[next++] as number[]).map(readPiece))
    }
  }
  const settled = await Promise.allSettled(Array.from({ length: Math.min(STRIPE_PIECE_READS_IN_FLIGHT, missing.length) }, async () => {
    await worker().catch((err: unknown) => {
      failed.abort(err)
      throw err
    })
  }))
  const failure = settled.find((result): result is PromiseRejectedResult => result.status === 'rejected')
  // The first error, not the abort it caused in the other reads.
  if (failure != null) throw failed.signal.reason ?? failure.reason
  await partial.commit().catch(unlessClosed)
  tellHolders(components, partial)
  return held
}

/**
 * The blob's scheduler learns what this agent holds of the blob now, and the DHT once the site is
 * quiet: the stripes of a prefetch end together, and the pull that follows would meet every agent's
 * announcements (a DHT query and a message to each close peer). With no scheduler, the DHT now.
 */
function tellHolders (components: StripeFetchComponents, partial: PartialBlob): void {
  const { digest, size, record } = partial
  const { peers } = components
  const session = components.scheduler?.sessionFor(digest)
  const live = session != null && !session.closed
  if (live && peers?.announceLater != null) {
    peers.announceLater(digest)
  } else {
    peers?.announce(digest).catch((err: Error) => {
      components.log.info('a stripe was not announced in the DHT', { digest, error: err.message })
    })
  }
  if (!live) return
  session.announce({ digest, size, bitfield: recordedBitfield(record), wantsPieces: false })
  session.pieceTable(recordedTable(record))
}

/** Consecutive indexes (ascending) grouped into runs of at most `run`. */
function runsOf (indexes: readonly number[], run: number): number[][] {
  const runs: number[][] = []
  for (const index of indexes) {
    const last = runs.at(-1)
    if (last != null && last.length < run && last.at(-1) === index - 1) last.push(index)
    else runs.push([index])
  }
  return runs
}
