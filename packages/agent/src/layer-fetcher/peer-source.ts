import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { cidOfDigest, digestOf, digestOfCid, pieceAt, pieceSpan, Status } from '@shoal/proto'
import type { Digest, PieceTable } from '@shoal/proto'
import { PEER_FETCH_MAX_BYTES_IN_FLIGHT, PEER_FETCH_MAX_PIECES_IN_FLIGHT, PIECE_TIMEOUT_MS, READ_AHEAD_PIECES_PER_BLOB } from '../constants.ts'
import { NoPeerSourceError, PeerRefusedError, PieceTableMismatchError } from '../errors.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { RateLimiter } from '../bandwidth/index.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import type { ByteSource } from './blob-download.ts'
import { ReadAhead } from './read-ahead.ts'
import type { AheadStore } from './read-ahead.ts'
import { SwarmView } from './peer-swarm.ts'
import type { PeerPlan, PlannedPeer } from './peer-swarm.ts'

export type { PeerPlan, PlannedPeer } from './peer-swarm.ts'

export interface PieceFetchedEvent {
  digest: Digest
  index: number
  bytes: number
  source: 'peer' | 'origin'
  peer?: string
  /** From the request to its first byte (a peer: the response header; the origin: the slot and the request). */
  firstByteSeconds?: number
  /** From the first byte to the last. */
  transferSeconds?: number
}

/**
 * Why a piece was not on its way: `no-holder` (no live peer held it yet), `holder-busy` (every
 * holder answered BUSY a moment ago), `download-limit`
 * (--download-limit), `origin-slot` (the origin reads of every blob were all busy), `stream-head`
 * (the client's in-order stream waited for its next piece: the sum of everything else, as the
 * client sees it).
 */
export type PieceWaitCause = 'no-holder' | 'holder-busy' | 'download-limit' | 'origin-slot' | 'stream-head' | 'scheduler-answer'

export interface PieceWaitEvent {
  digest: Digest
  cause: PieceWaitCause
  seconds: number
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

/** The bytes of an origin read, how long it waited for a read slot, and then for the first byte. */
export interface OriginPieceRead {
  bytes: Uint8Array
  slotSeconds: number
  firstByteSeconds: number
}

/**
 * The bytes of a blob range from the origin (HTTP Range). With `stillWanted`, the read is given up
 * (undefined) when it returns false by the time the read may start: a piece the scheduler handed
 * to another agent while this one waited for an origin slot.
 */
export type OriginPieceReader = (offset: number, length: number, signal: AbortSignal, stillWanted?: () => boolean) => Promise<OriginPieceRead | undefined>

/** A piece's bytes and the digest they were checked against. */
interface Piece {
  bytes: Uint8Array
  digest: Digest
}

export interface PeerSourceInit {
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
  /** The pieces a scheduler assigned this agent to read from the origin: fetched from it at once. */
  assigned?: () => ReadonlySet<number>
  /** Where pieces read ahead of the stream are stored, for peers at once (see ReadAhead); none: pieces are read in turn. */
  seedInto?: AheadStore
  /** See SwarmViewInit.expectMore. */
  expectMore?: () => boolean
  onPiece?: (event: PieceFetchedEvent) => void
  onPieceFailed?: (event: PieceFailedEvent) => void
  onWait?: (event: PieceWaitEvent) => void
  logger?: Logger
}

/** A ByteSource that also tells which peers' piece tables it trusted (banned if the blob fails its digest), and takes news from a scheduler. */
export interface PeerByteSource extends ByteSource {
  tableSources: () => string[]
  addPeers: (peers: PlannedPeer[]) => void
  learnTable: (table: PieceTable) => void
}

/**
 * The pieces of a blob from peers, as a ByteSource that yields the blob in order. A window of
 * pieces is in flight; the head of the window always, the other slots rarest-first (fewest live
 * holders) among the next pieces, each from its least busy holder. Every piece is checked
 * against the table (the client does it for peer pieces, this does it for origin pieces). A peer
 * that fails or sends a bad piece is dropped for this blob. A piece no peer holds yet is waited
 * for while some peer is still downloading the blob and making progress; then it comes from the
 * origin. Pieces the scheduler assigned come from the origin. With `seedInto`, a ReadAhead also
 * fetches assigned pieces, then the rarest held ones, ahead of the stream and stores them for
 * peers; each piece is fetched once, whoever asks first. The caller (BlobDownload) hashes the
 * whole blob before it is complete.
 */
export function peerSource (init: PeerSourceInit): PeerByteSource {
  const log = init.logger ?? silentLogger
  const swarm = new SwarmView(init.plan, { client: init.client, refreshMs: init.refreshMs, stallMs: init.stallMs, expectMore: init.expectMore })
  const { table } = swarm
  const busy = new Map<string, number>()
  /** Reports the time since `since` (performance.now()) as a wait of `cause`. */
  const waited = (cause: PieceWaitCause, since: number): void => {
    init.onWait?.({ digest: table.digest, cause, seconds: (performance.now() - since) / 1000 })
  }
  const window = Math.max(1, Math.min(PEER_FETCH_MAX_PIECES_IN_FLIGHT, Math.floor(PEER_FETCH_MAX_BYTES_IN_FLIGHT / table.pieceSize)))
  const lookahead = 2 * window
  let toldOrigin = false
  /** Digests of pieces checked here (by the client against the table, or hashed from the origin), until the download takes them. */
  const verified = new Map<number, Digest>()

  /**
   * The holder this agent asks least at the moment; among equals one at random: every agent gets the
   * same parents in the same order, and taking the first would send them all to one uploader.
   */
  const leastBusy = (holders: PlannedPeer[]): PlannedPeer | undefined => {
    let fewest = Infinity
    let choices: PlannedPeer[] = []
    for (const holder of holders) {
      const load = busy.get(holder.id.toString()) ?? 0
      if (load < fewest) {
        fewest = load
        choices = [holder]
      } else if (load === fewest) {
        choices.push(holder)
      }
    }
    return choices[Math.floor(Math.random() * choices.length)]
  }

  const fromPeer = async (peer: PeerId, index: number, signal: AbortSignal): Promise<Piece | undefined> => {
    const key = peer.toString()
    const cid = swarm.cid(index)
    if (cid == null) return undefined
    busy.set(key, (busy.get(key) ?? 0) + 1)
    try {
      if (init.downloads != null) {
        const limited = performance.now()
        await init.downloads.take(pieceSpan(table.size, index).length, { signal })
        waited('download-limit', limited)
      }
      const asked = performance.now()
      let firstByte = asked
      const bytes = await init.client.piece(peer, { digest: table.digest, size: table.size, index, cid }, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(init.pieceTimeoutMs ?? PIECE_TIMEOUT_MS)]),
        onFirstByte: () => { firstByte = performance.now() }
      })
      swarm.pieceArrived()
      const done = performance.now()
      init.onPiece?.({ digest: table.digest, index, bytes: bytes.byteLength, source: 'peer', peer: key, firstByteSeconds: (firstByte - asked) / 1000, transferSeconds: (done - firstByte) / 1000 })
      return { bytes, digest: digestOfCid(cid) }
    } catch (err) {
      signal.throwIfAborted()
      const error = (err as Error).name
      // NOT_FOUND and BUSY are answers, not faults: ask others (or this one later) for the piece.
      const status = err instanceof PeerRefusedError ? err.status : undefined
      const gentle = status === Status.NOT_FOUND || status === Status.BUSY
      if (status === Status.NOT_FOUND) swarm.forget(peer, index)
      if (status === Status.BUSY) swarm.busy(peer)
      const dropped = !gentle && swarm.drop(peer)
      init.onPieceFailed?.({ digest: table.digest, index, peer: key, result: failureOf(error), error, dropped })
      if (dropped) log.warn('peer dropped for this blob', { digest: table.digest, peer: key, piece: index, error: `${error}: ${(err as Error).message}` })
      return undefined
    } finally {
      busy.set(key, (busy.get(key) ?? 1) - 1)
    }
  }

  const isAssigned = (index: number): boolean => init.originPiece != null && init.assigned?.().has(index) === true
  /** A piece from the origin; for an assigned one (`assignedOnly`), undefined if it was handed to another agent meanwhile. */
  const fromOrigin = async (index: number, signal: AbortSignal, assignedOnly = false): Promise<Piece | undefined> => {
    if (init.originPiece == null) {
      throw new NoPeerSourceError(`no peer could give piece ${index} of ${table.digest}, and origin fallback is off (--no-origin-fallback)`)
    }
    const span = pieceSpan(table.size, index)
    const asked = performance.now()
    const read = await init.originPiece(span.offset, span.length, signal, assignedOnly ? () => isAssigned(index) : undefined)
    if (read == null) return undefined
    const { bytes, slotSeconds, firstByteSeconds } = read
    if (slotSeconds > 0) init.onWait?.({ digest: table.digest, cause: 'origin-slot', seconds: slotSeconds })
    if (!toldOrigin) {
      toldOrigin = true
      const why = assignedOnly ? 'the scheduler assigned them to this agent' : swarm.growing ? 'no progress among the peers' : 'no live peer holds or is fetching them'
      log.info('pieces no peer gives come from the origin', { digest: table.digest, from: index, why })
    }
    // A hole in the table (no peer knew the piece) leaves only the whole-blob digest to check it.
    const expected = swarm.cid(index)
    const digest = digestOf(bytes)
    const cid = cidOfDigest(digest)
    if (expected != null && !cid.equals(expected)) {
      throw new PieceTableMismatchError(`piece ${index} of ${table.digest} from the origin hashes to ${cid.toString()}, the peers' table says ${String(expected)}`)
    }
    const transferSeconds = Math.max(0, (performance.now() - asked) / 1000 - slotSeconds - firstByteSeconds)
    init.onPiece?.({ digest: table.digest, index, bytes: bytes.byteLength, source: 'origin', firstByteSeconds, transferSeconds })
    return { bytes, digest }
  }

  /** Assigned pieces from the origin; the rest from their least busy holder, waiting for one while the swarm grows, else from the origin. */
  const fetchAny = async (index: number, signal: AbortSignal): Promise<Piece> => {
    for (;;) {
      const assigned = isAssigned(index) ? await fromOrigin(index, signal, true) : undefined
      if (assigned != null) return assigned
      const peer = leastBusy(swarm.holders(index))
      if (peer != null) {
        // Every holder answered BUSY a moment ago: ask again when its pause is over.
        const pause = swarm.busyFor(peer.id)
        if (pause > 0) {
          const since = performance.now()
          await sleep(pause, undefined, { signal })
          waited('holder-busy', since)
        }
        const piece = await fromPeer(peer.id, index, signal)
        if (piece != null) return piece
      } else {
        const since = performance.now()
        const held = await swarm.waitFor(index, signal, () => isAssigned(index))
        waited('no-holder', since)
        if (!held && !isAssigned(index)) {
          // No holder, and no progress among the peers for the stall time.
          const piece = await fromOrigin(index, signal)
          if (piece != null) return piece
        }
      }
    }
  }

  /** For reading ahead: assigned pieces from the origin, others from one holder, once; never a wait or the origin fallback. */
  const fetchAhead = async (index: number, signal: AbortSignal): Promise<Piece> => {
    const holder = isAssigned(index) ? undefined : leastBusy(swarm.holders(index))
    // A holder pausing after its BUSY is left to the stream, which waits for it.
    const peer = holder == null || swarm.busyFor(holder.id) > 0 ? undefined : holder
    const piece = isAssigned(index) ? await fromOrigin(index, signal, true) : peer == null ? undefined : await fromPeer(peer.id, index, signal)
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
  /** Pieces the in-order stream has got, whatever their source (until the download writes them). */
  const streamHas = new Set<number>()
  const seedInto = init.seedInto
  const ahead = seedInto == null
    ? undefined
    : new ReadAhead({
      pieceCount: table.pieces.length,
      assigned: () => init.originPiece == null ? new Set() : init.assigned?.() ?? new Set(),
      holders: index => swarm.holders(index).length,
      head: () => streamHead,
      fetch: async (index, signal) => once(index, async () => fetchAhead(index, signal)),
      // A piece the stream already has (taken, not yet written) is not read again.
      store: { ...seedInto, has: index => streamHas.has(index) || seedInto.has(index) },
      workers: READ_AHEAD_PIECES_PER_BLOB,
      refresh: async signal => { await swarm.refresh(signal) }
    })

  /** A piece for the in-order stream: one read ahead (or under way) if there is one, else fetched now. */
  const fetchPiece = async (index: number, signal: AbortSignal): Promise<Uint8Array> => {
    for (const pending of [ahead?.take(index), underWay.get(index)]) {
      // A read-ahead or a fetch that failed has reported its failure (onPieceFailed); the piece is fetched now.
      const piece = await pending?.catch(() => undefined)
      if (piece != null) {
        verified.set(index, piece.digest)
        return piece.bytes
      }
    }
    const piece = await once(index, async () => fetchAny(index, signal))
    verified.set(index, piece.digest)
    streamHas.add(index)
    // A piece fetched ahead of the stream's head would wait in memory, unwritten, until the stream
    // gets there: not served to peers, not announced (so the scheduler had others read it from the
    // origin again). Stored at once it is both; the stream writes the same bytes again in turn.
    if (seedInto != null && index > streamHead && !seedInto.has(index)) {
      seedInto.write(index, piece.bytes, piece.digest).catch((err: Error) => {
        log.warn('a piece fetched ahead of the stream was not stored early', { digest: table.digest, piece: index, error: `${err.name}: ${err.message}` })
      })
    }
    return piece.bytes
  }

  /** The head if it is not under way, else the rarest piece of the look-ahead that someone holds, else the next in order. */
  const pick = (head: number, started: Set<number>): number | undefined => {
    if (!started.has(head)) return head
    const end = Math.min(table.pieces.length, head + lookahead)
    let best: number | undefined
    let bestHolders = Infinity
    let firstFree: number | undefined
    for (let i = head + 1; i < end; i++) {
      if (started.has(i)) continue
      firstFree ??= i
      const holders = swarm.holders(i).length
      if (holders > 0 && holders < bestHolders) {
        best = i
        bestHolders = holders
      }
    }
    return best ?? firstFree
  }

  async function * inOrder (offset: number, outer: AbortSignal): AsyncIterable<Uint8Array> {
    const count = table.pieces.length
    if (offset >= table.size) return
    const controller = new AbortController()
    const signal = AbortSignal.any([outer, controller.signal])
    const pending = new Map<number, Promise<Uint8Array>>()
    let next = pieceAt(table.size, offset)
    try {
      while (next < count) {
        while (pending.size < window) {
          const index = pick(next, new Set(pending.keys()))
          if (index == null) break
          const fetching = fetchPiece(index, signal)
          // Awaited in order below, where its failure ends the stream; meanwhile it must not count as unhandled.
          fetching.catch(() => {})
          pending.set(index, fetching)
        }
        const since = performance.now()
        const bytes = await (pending.get(next) as Promise<Uint8Array>)
        waited('stream-head', since)
        pending.delete(next)
        streamHead = next + 1
        const start = pieceSpan(table.size, next).offset
        yield offset > start ? bytes.subarray(offset - start) : bytes
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
    close: async () => { await ahead?.stop() },
    verifiedPiece: index => {
      const digest = verified.get(index)
      verified.delete(index)
      return digest
    },
    tableSources: () => [...swarm.tableSources],
    addPeers: peers => { swarm.addPeers(peers) },
    learnTable: table => { swarm.learnTable(table) }
  }
}

function failureOf (name: string): PieceFailure {
  if (name === 'BadPieceError' || name === 'PeerProtocolError') return 'bad'
  if (name === 'PeerRefusedError') return 'refused'
  // The per-piece timeout aborts the request's signal (the caller's own abort is rethrown before this).
  if (name === 'PeerTimeoutError' || name === 'AbortError' || name === 'TimeoutError') return 'timeout'
  return 'unavailable'
}
