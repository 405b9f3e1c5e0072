import { setTimeout as sleep } from 'node:timers/promises'
import { originRunFor, pieceAt, pieceSpan } from '@shoal/proto'
import type { Digest, PieceTable } from '@shoal/proto'
import { PEER_FETCH_MAX_BYTES_IN_FLIGHT, PEER_FETCH_MAX_PIECES_IN_FLIGHT, PEER_REFRESH_INTERVAL_MS, PEER_STALL_MIN_BYTES_PER_S, PEER_STALL_MS, READ_AHEAD_PIECES_PER_BLOB, STALL_ORIGIN_PIECES } from '../constants.ts'
import { NoPeerSourceError } from '../errors.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { RateLimiter } from '../bandwidth/index.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import type { ByteSource } from './blob-download.ts'
import type { PieceEvents, PieceWaitCause } from './events.ts'
import { PieceBook } from './piece-book.ts'
import type { PeerPlan, PieceBookInit, PlannedPeer } from './piece-book.ts'
import { ReadAhead } from './read-ahead.ts'
import type { AheadStore } from './read-ahead.ts'
import { SwarmView } from './peer-swarm.ts'
import type { SpanSource } from './source-spans.ts'
import { originRangeSource } from './sources/origin-range.ts'
import type { OriginPieceReader } from './sources/origin-range.ts'
import { peerPieceSource } from './sources/peer.ts'
import type { Piece, PieceSource } from './sources/piece-source.ts'

export interface PieceStreamInit {
  plan: PeerPlan
  client: Pick<PieceExchangeClient, 'piece' | 'pieceTable' | 'bitfield'>
  /** `--download-limit`: every piece requested from a peer waits for its bytes here first. */
  downloads?: Pick<RateLimiter, 'take'>
  /**
   * The bytes of a piece from the origin (HTTP Range), for pieces no peer could give; absent with
   * `--no-origin-fallback`, and such a piece fails the download.
   */
  originPiece?: OriginPieceReader
  pieceTimeoutMs?: number
  /** How often peers still downloading the blob are asked again, and how long without progress is a stall. */
  refreshMs?: number
  stallMs?: number
  /** How long a peer may take to answer a refresh's table or bitfield request (PEER_PLAN_TIMEOUT_MS). */
  answerTimeoutMs?: number
  /** Where pieces read ahead of the stream are stored, for peers at once (see ReadAhead); none: pieces are read in turn. */
  seedInto?: AheadStore
  /** See PieceBookInit.expectMore. */
  expectMore?: () => boolean
  /** See PieceBookInit.progressElsewhereAt. */
  progressElsewhereAt?: PieceBookInit['progressElsewhereAt']
  /** See PieceBookInit.latency. */
  latency?: PieceBookInit['latency']
  events?: PieceEvents
  logger?: Logger
}

/** A ByteSource that also tells which peers' piece tables it trusted (banned if the blob fails its digest), and takes news from a scheduler. */
export interface PieceStream extends ByteSource {
  tableSources: () => string[]
  addPeers: (peers: PlannedPeer[]) => void
  learnTable: (table: PieceTable) => void
  /** The pieces the scheduler assigned this agent to read from the origin (ignored without origin fallback). */
  assign: (pieces: Iterable<number>) => void
}

/**
 * The pieces of a blob from their sources, as a ByteSource that yields the blob in order. A window
 * of pieces is in flight: the head of the window always, the other slots rarest-first among the
 * next pieces (PieceBook), each from its least busy holder. Pieces the scheduler assigned come from
 * the origin. A piece no peer holds yet is waited for while some peer is still downloading the blob
 * and making progress; then it comes from the origin. With `seedInto`, a ReadAhead also fetches
 * assigned pieces, then the rarest held ones, ahead of the stream and stores them for peers. Each
 * piece is fetched once, whoever asks first. Every piece is checked by its source; the caller
 * (BlobDownload) hashes the whole blob before it is complete.
 */
export function pieceStream (init: PieceStreamInit): PieceStream {
  const log = init.logger ?? silentLogger
  const events = init.events ?? {}
  const { table } = init.plan
  // Progress is seen a whole piece at a time: big pieces from a slow origin take a while each.
  const stallMs = init.stallMs ?? Math.max(PEER_STALL_MS, 1000 * table.pieceSize / PEER_STALL_MIN_BYTES_PER_S)
  const book = new PieceBook(init.plan, { stallMs, expectMore: init.expectMore, progressElsewhereAt: init.progressElsewhereAt, latency: init.latency })
  const swarm = new SwarmView(book, { client: init.client, refreshMs: init.refreshMs, answerTimeoutMs: init.answerTimeoutMs })
  const origin = init.originPiece == null ? undefined : originRangeSource({ book, read: init.originPiece, events, logger: log })
  const peers = new Map<string, PieceSource>()
  const peerSource = (peer: PlannedPeer): PieceSource => {
    const key = peer.id.toString()
    let source = peers.get(key)
    if (source == null) {
      source = peerPieceSource({ peer: peer.id, book, client: init.client, downloads: init.downloads, pieceTimeoutMs: init.pieceTimeoutMs, events, logger: log })
      peers.set(key, source)
    }
    return source
  }
  /** Reports the time since `since` (performance.now()) as a wait of `cause`. */
  const waited = (cause: PieceWaitCause, since: number): void => {
    events.onPieceWait?.({ digest: table.digest, cause, seconds: (performance.now() - since) / 1000 })
  }
  const window = Math.max(1, Math.min(PEER_FETCH_MAX_PIECES_IN_FLIGHT, Math.floor(PEER_FETCH_MAX_BYTES_IN_FLIGHT / table.pieceSize)))
  const lookahead = 2 * window
  /** Digests of pieces checked by their source, until the download takes them. */
  const verified = new Map<number, Digest>()
  /** Pieces the stream got from the origin or read back from the store, until the download takes them. */
  const notFromPeers = new Map<number, SpanSource>()
  const got = (index: number, piece: Piece): readonly Uint8Array[] => {
    verified.set(index, piece.digest)
    if (piece.from === 'origin') notFromPeers.set(index, 'origin')
    return piece.chunks
  }

  const fromOrigin = async (index: number, signal: AbortSignal): Promise<Piece | undefined> => {
    if (origin == null) throw new NoPeerSourceError(`no peer could give piece ${index} of ${table.digest}, and origin fallback is off (--no-origin-fallback)`)
    return origin.fetch(index, { signal })
  }

  /** Assigned pieces from the origin; the rest from their least busy holder, waiting for one while the swarm grows, else from the origin. */
  const fetchAny = async (index: number, signal: AbortSignal): Promise<Piece> => {
    for (;;) {
      const assigned = book.isAssigned(index) ? await origin?.fetchAssigned(index, { signal }) : undefined
      if (assigned != null) return assigned
      const peer = book.whomToAsk(index)
      if (peer != null) {
        // Every holder answered BUSY a moment ago: ask again when its pause is over.
        const pause = book.busyFor(peer.id)
        if (pause > 0) {
          const since = performance.now()
          await sleep(pause, undefined, { signal })
          waited('holder-busy', since)
        }
        const piece = await peerSource(peer).fetch(index, { signal })
        if (piece != null) return piece
      } else {
        const since = performance.now()
        const held = await swarm.waitFor(index, signal, () => book.isAssigned(index))
        waited('no-holder', since)
        if (!held && !book.isAssigned(index)) {
          // No holder, and no progress among the peers for the stall time. While peers are still
          // downloading, only the pieces at the stream's head go to the origin; the rest of the
          // window keeps waiting for them (a stall sent all of it to the origin at once, and in a
          // rollout where the origin's link is what everyone waits on, that made more stalls).
          if (book.growing && index >= streamHead + STALL_ORIGIN_PIECES) {
            await sleep(init.refreshMs ?? PEER_REFRESH_INTERVAL_MS, undefined, { signal })
            await swarm.refresh(signal)
            continue
          }
          const piece = await fromOrigin(index, signal)
          if (piece != null) return piece
        }
      }
    }
  }

  /** For reading ahead: assigned pieces from the origin, others from one free holder, once; never a wait or the origin fallback. */
  const fetchAhead = async (index: number, signal: AbortSignal): Promise<Piece> => {
    let piece: Piece | undefined
    if (book.isAssigned(index)) {
      piece = await origin?.fetchAssigned(index, { signal })
    } else {
      const holder = book.whomToAsk(index)
      // A holder pausing after its BUSY is left to the stream, which waits for it.
      if (holder != null && book.busyFor(holder.id) === 0) piece = await peerSource(holder).fetch(index, { signal })
    }
    if (piece == null) throw new NoPeerSourceError(`no holder gave piece ${index} of ${table.digest} now`)
    return piece
  }

  // One fetch per piece at a time, whether the stream or the read-ahead asks first.
  const underWay = new Map<number, Promise<Piece>>()
  const once = async (index: number, fetch: () => Promise<Piece>): Promise<Piece> => {
    let fetching = underWay.get(index)
    if (fetching == null) {
      fetching = fetch()
      underWay.set(index, fetching)
      fetching.then(() => { underWay.delete(index) }, () => { underWay.delete(index) })
    }
    return fetching
  }

  let streamHead = 0
  /** Pieces the in-order stream is getting or has got, whatever their source: never read ahead. */
  const streamTakes = new Set<number>()
  const seedInto = init.seedInto
  const ahead = seedInto == null
    ? undefined
    : new ReadAhead({
      pieceCount: book.pieceCount,
      assigned: () => book.assigned,
      holders: index => book.holders(index).length,
      head: () => streamHead,
      fetch: async (index, signal) => once(index, async () => fetchAhead(index, signal)),
      // A piece the stream already has (taken, not yet written), or is fetching now, is not read
      // again: joining the stream's fetch, the read-ahead stored the piece a second time.
      store: { ...seedInto, has: index => streamTakes.has(index) || underWay.has(index) || seedInto.has(index) },
      workers: READ_AHEAD_PIECES_PER_BLOB,
      originRun: originRunFor(table.size),
      refresh: async signal => { await swarm.refresh(signal) }
    })

  /** A piece for the in-order stream: one read ahead (or under way) if there is one, else fetched now. */
  const fetchPiece = async (index: number, signal: AbortSignal): Promise<readonly Uint8Array[]> => {
    // The stream's from here on, before any wait: a read-ahead fetch begun during the waits below
    // was joined by the stream's once(), and when it gave up ("no holder gave piece N now") the
    // stream ended and the client got a cut-off blob (one host of eight in a 25 Mbit bench run).
    // Marked only once the fetch settled, read-ahead could also take the piece between once()
    // forgetting it and the mark, and fetch it a second time.
    streamTakes.add(index)
    for (const pending of [ahead?.take(index), underWay.get(index)]) {
      // A read-ahead or a fetch that failed has reported its failure (onPieceFailed); the piece is fetched now.
      const piece = await pending?.catch(() => undefined)
      if (piece != null) return got(index, piece)
    }
    // Held here already: a stripe of a site prefetch, or pieces stored for peers before a restart.
    // Read back from the file; the download hashes them into the blob's digest like any other.
    if (seedInto?.has(index) === true) {
      notFromPeers.set(index, 'local')
      return [await seedInto.read(index)]
    }
    const piece = await once(index, async () => fetchAny(index, signal))
    got(index, piece)
    // A piece fetched ahead of the stream's head would wait in memory, unwritten, until the stream
    // gets there: not served to peers, not announced (so the scheduler had others read it from the
    // origin again). Stored at once it is both, and the download, finding it in the file when the
    // stream gets there, does not write it again. Awaited: the stream does not need it yet.
    if (seedInto != null && index > streamHead && !seedInto.has(index)) {
      await seedInto.write(index, piece.chunks, piece.digest).catch((err: Error) => {
        log.warn('a piece fetched ahead of the stream was not stored early', { digest: table.digest, piece: index, error: `${err.name}: ${err.message}` })
      })
    }
    return piece.chunks
  }

  async function * inOrder (offset: number, outer: AbortSignal): AsyncIterable<Uint8Array> {
    const count = book.pieceCount
    if (offset >= table.size) return
    const controller = new AbortController()
    const signal = AbortSignal.any([outer, controller.signal])
    const pending = new Map<number, Promise<readonly Uint8Array[]>>()
    let next = pieceAt(table.size, offset)
    try {
      while (next < count) {
        while (pending.size < window) {
          const index = book.nextForStream(next, new Set(pending.keys()), lookahead)
          if (index == null) break
          const fetching = fetchPiece(index, signal)
          // Awaited in order below, where its failure ends the stream; meanwhile it must not count as unhandled.
          fetching.catch(() => {})
          pending.set(index, fetching)
        }
        const since = performance.now()
        const chunks = await (pending.get(next) as Promise<readonly Uint8Array[]>)
        waited('stream-head', since)
        pending.delete(next)
        streamHead = next + 1
        // Only the first piece may start before `offset`.
        let skip = Math.max(0, offset - pieceSpan(table.size, next).offset)
        for (const chunk of chunks) {
          if (skip >= chunk.byteLength) {
            skip -= chunk.byteLength
            continue
          }
          yield skip > 0 ? chunk.subarray(skip) : chunk
          skip = 0
        }
        next++
      }
    } finally {
      controller.abort()
    }
  }

  return {
    open: async (offset, signal) => {
      ahead?.start()
      return inOrder(offset, signal)
    },
    close: async () => {
      swarm.stop()
      await ahead?.stop()
    },
    verifiedPiece: index => {
      const digest = verified.get(index)
      verified.delete(index)
      return digest
    },
    pieceSource: index => {
      const source = notFromPeers.get(index)
      notFromPeers.delete(index)
      return source
    },
    tableSources: () => [...book.tableSources],
    addPeers: peers => { book.addPeers(peers) },
    learnTable: table => { if (book.learnTable(table) > 0) book.progressed() },
    assign: pieces => { if (origin != null) book.assign(pieces) }
  }
}
