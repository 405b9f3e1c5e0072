import { peerIdFromMultihash } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import { Bitfield, decodeMultihash, parsePieceTable, pieceCountFor, pieceSizeFor, Status } from '@shoal/proto'
import type { PieceFailureReason, PieceTable } from '@shoal/proto'
import type { RateLimiter } from '../bandwidth/index.ts'
import { SCHEDULED_STALL_MS, SCHEDULER_ANSWER_TIMEOUT_MS } from '../constants.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { SchedulerClient } from '../scheduler-client/client.ts'
import type { OriginMessage, ParentsMessage, PieceTableMessage, SchedulerSession } from '../scheduler-client/session.ts'
import { BlobDownload } from './blob-download.ts'
import type { HashThread } from '../hashing/hash-thread.ts'
import type { PieceEvents, PieceFailedEvent } from './events.ts'
import type { PeerNetwork } from './peer-plan.ts'
import type { PieceBookInit, PlannedPeer } from './piece-book.ts'
import { pieceStream } from './piece-stream.ts'
import type { PieceStream } from './piece-stream.ts'
import { parsePeer, PieceReporter } from './piece-reporter.ts'
import { partialAheadStore } from './read-ahead.ts'
import type { OriginBlobRequest } from './sources/origin.ts'
import type { OriginPieceReader } from './sources/origin-range.ts'

export interface ScheduledStartComponents {
  store: PieceStore
  peers: PeerNetwork
  scheduler: SchedulerClient
  downloads?: Pick<RateLimiter, 'take'>
  hashing?: HashThread
  logger?: Logger
}

export interface ScheduledStartInit {
  req: OriginBlobRequest
  size: number
  session: SchedulerSession
  /** Ends the wait for the scheduler's first word (the fetcher stopping). */
  signal: AbortSignal
  originPiece?: OriginPieceReader
  /** When a download of this agent last got a piece (performance.now()): see PieceBookInit.progressElsewhereAt. */
  pieceArrivedAt?: () => number | undefined
  events: PieceEvents
  /** See PieceBookInit.latency. */
  latency?: PieceBookInit['latency']
}

const REASONS: Record<PieceFailedEvent['result'], PieceFailureReason> = { bad: 'bad-piece', refused: 'refused', timeout: 'timeout', unavailable: 'unavailable' }

/**
 * A download directed by the blob's scheduler: the agent announces that it wants the blob, and
 * the scheduler answers with parents (whom to fetch from) and the pieces this agent reads from the
 * origin (for a blob nobody holds yet, it splits them among the first agents). Both may change as
 * the swarm does; every piece the agent verifies or fails to get is reported back. undefined when
 * the scheduler does not answer in time: the caller goes on with the DHT.
 */
export async function startScheduled (components: ScheduledStartComponents, init: ScheduledStartInit): Promise<{ download: BlobDownload, source: PieceStream } | undefined> {
  const { store, peers, scheduler } = components
  const log = components.logger ?? silentLogger
  const { req, size, session } = init
  const { digest } = req
  const pieceCount = pieceCountFor(size)
  const partial = await store.openPartial(digest, size)
  const held = new Bitfield(pieceCount)
  for (let i = 0; i < pieceCount; i++) if (partial.hasPiece(i)) held.set(i)

  // Until the source exists, what the scheduler sends is kept for its plan; then it goes to the source.
  const live: { source?: PieceStream } = {}
  let assigned: number[] = []
  let firstParents: PlannedPeer[] = []
  let table: PieceTable | undefined
  // The first word about this blob (parents or origin pieces) ends the wait; words about other blobs do not.
  const answer = Promise.withResolvers<true>()
  // The same parents come in every parents message: one PeerId each, so its string is made once.
  const parentIds = new Map<string, PeerId>()
  const onParents = (m: ParentsMessage): void => {
    if (m.digest !== digest) return
    answer.resolve(true)
    const planned = plannedPeers(peers, m, pieceCount, parentIds, log)
    log.debug('parents', () => ({ digest, parents: planned.map(p => `${p.id.toString().slice(-6)}:${p.bitfield.count()}`) }))
    if (live.source == null) firstParents = planned
    else live.source.addPeers(planned)
  }
  const onOrigin = (m: OriginMessage): void => {
    if (m.digest !== digest) return
    if (live.source == null) assigned = m.pieces
    else live.source.assign(m.pieces)
    log.debug('origin pieces assigned', { digest, pieces: m.pieces })
    answer.resolve(true)
  }
  const onTable = (m: PieceTableMessage): void => {
    if (m.digest !== digest) return
    try {
      const parsed = parsePieceTable({ status: Status.OK, size: m.message.size, pieceSize: m.message.pieceSize, pieces: m.message.pieces }, { digest, size })
      if (live.source == null) table = parsed
      else live.source.learnTable(parsed)
    } catch (err) {
      log.warn('a piece table from the scheduler does not fit the blob', { digest, error: (err as Error).message })
    }
  }
  scheduler.on('parents', onParents)
  scheduler.on('origin', onOrigin)
  scheduler.on('pieceTable', onTable)
  const unsubscribe = (): void => {
    scheduler.off('parents', onParents)
    scheduler.off('origin', onOrigin)
    scheduler.off('pieceTable', onTable)
  }

  const answered = answer.promise
  const asked = performance.now()
  session.announce({ digest, size, bitfield: held, wantsPieces: true })
  init.signal.throwIfAborted()
  const timer = Promise.withResolvers<false>()
  const timeout = setTimeout(() => { timer.resolve(false) }, SCHEDULER_ANSWER_TIMEOUT_MS)
  const stopped = (): void => { timer.reject(init.signal.reason) }
  init.signal.addEventListener('abort', stopped, { once: true })
  const inTime = await Promise.race([answered, timer.promise]).finally(() => {
    clearTimeout(timeout)
    init.signal.removeEventListener('abort', stopped)
  }).catch((err: unknown) => {
    unsubscribe()
    throw err
  })
  init.events.onPieceWait?.({ digest, cause: 'scheduler-answer', seconds: (performance.now() - asked) / 1000 })
  if (!inTime || session.closed) {
    unsubscribe()
    log.info('the scheduler did not answer in time; going on with the DHT', { digest })
    return undefined
  }

  const reporter = new PieceReporter(session, store, digest)
  // A piece is announced once it is committed: before that this agent answers NOT_FOUND for it.
  const stopCommits = partial.onCommitted(indexes => { reporter.committed(indexes) })
  const source = pieceStream({
    plan: { table: table ?? emptyTable(digest, size), peers: firstParents },
    client: peers.client,
    downloads: components.downloads,
    originPiece: init.originPiece,
    // Assigned pieces, then the rarest, are read ahead of this agent's own client and stored at once, for the swarm.
    seedInto: partialAheadStore(partial),
    expectMore: () => !session.closed,
    // The scheduler watches this blob's origin readers: while pieces of other blobs still come,
    // those readers are busy with them (one origin read at a time each), not stalled.
    progressElsewhereAt: init.pieceArrivedAt,
    latency: init.latency,
    stallMs: SCHEDULED_STALL_MS,
    logger: log,
    events: {
      onPieceWait: init.events.onPieceWait,
      onOriginBytes: event => { reporter.originBytes(event.bytes) },
      onOriginReading: event => { reporter.originReading(event.index, event.reading) },
      onPieceFetched: event => {
        reporter.finished(event)
        init.events.onPieceFetched?.(event)
      },
      onPieceFailed: event => {
        // NOT_FOUND and BUSY (not dropped) are answers, not faults: not held against the parent.
        if (event.dropped || event.result === 'bad') session.pieceFailed({ digest, index: event.index, parent: parsePeer(event.peer), reason: REASONS[event.result] })
        init.events.onPieceFailed?.(event)
      }
    }
  })
  source.assign(assigned)
  live.source = source
  const download = new BlobDownload(partial, { source: 'peer', hashing: components.hashing })
  download.on('change', () => {
    if (download.state === 'running') return
    unsubscribe()
    stopCommits()
    reporter.stop()
    if (download.state === 'verified') {
      session.announce({ digest, size, bitfield: fullBitfield(pieceCount), wantsPieces: false })
      return
    }
    // The blob failed its digest with every piece matching the table: the table was wrong, and the
    // scheduler ejects whoever published it.
    const name = download.error?.name
    if (name === 'DigestMismatchError' || name === 'PieceTableMismatchError') session.pieceFailed({ digest, index: 0, reason: 'bad-table' })
    session.leaveTask(digest)
  })
  return { download, source }
}

function plannedPeers (peers: PeerNetwork, m: ParentsMessage, pieceCount: number, ids: Map<string, PeerId>, log: Logger): PlannedPeer[] {
  const planned: PlannedPeer[] = []
  for (const parent of m.parents) {
    try {
      const key = Buffer.from(parent.peerId.buffer, parent.peerId.byteOffset, parent.peerId.byteLength).toString('latin1')
      let id = ids.get(key)
      if (id == null) ids.set(key, id = peerIdFromMultihash(decodeMultihash(parent.peerId)))
      peers.rememberAddresses(id, parent.addresses)
      const bitfield = new Bitfield(pieceCount, parent.bitfield)
      planned.push({ id, bitfield, complete: bitfield.full() })
    } catch (err) {
      log.info('a parent from the scheduler could not be used', { digest: m.digest, error: (err as Error).message })
    }
  }
  return planned
}

function emptyTable (digest: OriginBlobRequest['digest'], size: number): PieceTable {
  return { digest, size, pieceSize: pieceSizeFor(size), pieces: new Array(pieceCountFor(size)).fill(undefined) }
}

function fullBitfield (pieceCount: number): Bitfield {
  const bits = new Bitfield(pieceCount)
  for (let i = 0; i < pieceCount; i++) bits.set(i)
  return bits
}
