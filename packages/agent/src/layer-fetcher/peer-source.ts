import type { PeerId } from '@libp2p/interface'
import { cidOfDigest, digestOf, digestOfCid, pieceAt, pieceSpan, Status } from '@shoal/proto'
import type { Digest, PieceTable } from '@shoal/proto'
import { ORIGIN_SEED_READS_PER_BLOB, PEER_FETCH_MAX_BYTES_IN_FLIGHT, PEER_FETCH_MAX_PIECES_IN_FLIGHT, PIECE_TIMEOUT_MS } from '../constants.ts'
import { NoPeerSourceError, PeerRefusedError, PieceTableMismatchError } from '../errors.ts'
import { createLogger } from '../logger.ts'
import type { RateLimiter } from '../bandwidth/index.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import type { ByteSource } from './blob-download.ts'
import { OriginSeeder } from './origin-seeder.ts'
import type { SeedStore } from './origin-seeder.ts'
import { SwarmView } from './peer-swarm.ts'
import type { PeerPlan, PlannedPeer } from './peer-swarm.ts'

export type { PeerPlan, PlannedPeer } from './peer-swarm.ts'

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
  client: Pick<PieceExchangeClient, 'piece' | 'pieceTable' | 'bitfield'>
  /** `--download-limit`: every piece requested from a peer waits for its bytes here first. */
  downloads?: Pick<RateLimiter, 'take'>
  /**
   * The bytes of a piece from the origin (HTTP Range), for pieces no peer could give; absent with
   * `--no-origin-fallback`, and such a piece fails the download.
   */
  originPiece?: (offset: number, length: number, signal: AbortSignal) => Promise<Uint8Array>
  pieceTimeoutMs?: number
  /** How often peers still downloading the blob are asked again, and how long without progress is a stall. */
  refreshMs?: number
  stallMs?: number
  /** The pieces a scheduler assigned this agent to read from the origin: fetched from it at once. */
  assigned?: () => ReadonlySet<number>
  /** Where assigned pieces are stored when they are read ahead of the stream (see OriginSeeder); none: they are read in turn. */
  seedInto?: SeedStore
  /** See SwarmViewInit.expectMore. */
  expectMore?: () => boolean
  onPiece?: (event: PieceFetchedEvent) => void
  onPieceFailed?: (event: PieceFailedEvent) => void
}

/** A ByteSource that also tells which peers' piece tables it trusted (banned if the blob fails its digest), and takes news from a scheduler. */
export interface PeerByteSource extends ByteSource {
  tableSources: () => string[]
  addPeers: (peers: PlannedPeer[]) => void
  learnTable: (table: PieceTable) => void
}

const log = createLogger('shoal:agent:layer-fetcher')

/**
 * The pieces of a blob from peers, as a ByteSource that yields the blob in order. A window of
 * pieces is in flight; the head of the window always, the other slots rarest-first (fewest live
 * holders) among the next pieces, each from its least busy holder. Every piece is checked
 * against the table (the client does it for peer pieces, this does it for origin pieces). A peer
 * that fails or sends a bad piece is dropped for this blob. A piece no peer holds yet is waited
 * for while some peer is still downloading the blob and making progress; then it comes from the
 * origin. The caller (BlobDownload) hashes the whole blob before it is complete.
 */
export function peerSource (init: PeerSourceInit): PeerByteSource {
  const swarm = new SwarmView(init.plan, { client: init.client, refreshMs: init.refreshMs, stallMs: init.stallMs, expectMore: init.expectMore })
  const { table } = swarm
  const busy = new Map<string, number>()
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

  const fromPeer = async (peer: PeerId, index: number, signal: AbortSignal): Promise<Uint8Array | undefined> => {
    const key = peer.toString()
    const cid = swarm.cid(index)
    if (cid == null) return undefined
    busy.set(key, (busy.get(key) ?? 0) + 1)
    try {
      await init.downloads?.take(pieceSpan(table.size, index).length, { signal })
      const bytes = await init.client.piece(peer, { digest: table.digest, size: table.size, index, cid }, {
        signal: AbortSignal.any([signal, AbortSignal.timeout(init.pieceTimeoutMs ?? PIECE_TIMEOUT_MS)])
      })
      verified.set(index, digestOfCid(cid))
      init.onPiece?.({ digest: table.digest, index, bytes: bytes.byteLength, source: 'peer', peer: key })
      return bytes
    } catch (err) {
      signal.throwIfAborted()
      const error = (err as Error).name
      // NOT_FOUND and BUSY are answers, not faults: ask others (or this one later) for the piece.
      const status = err instanceof PeerRefusedError ? err.status : undefined
      const gentle = status === Status.NOT_FOUND || status === Status.BUSY
      if (gentle) swarm.forget(peer, index)
      const dropped = !gentle && swarm.drop(peer)
      init.onPieceFailed?.({ digest: table.digest, index, peer: key, result: failureOf(error), error, dropped })
      if (dropped) log.warn('peer dropped for this blob', { digest: table.digest, peer: key, piece: index, error: `${error}: ${(err as Error).message}` })
      return undefined
    } finally {
      busy.set(key, (busy.get(key) ?? 1) - 1)
    }
  }

  const isAssigned = (index: number): boolean => init.originPiece != null && init.assigned?.().has(index) === true
  const readOrigin = async (index: number, signal: AbortSignal): Promise<{ bytes: Uint8Array, digest: Digest }> => {
    if (init.originPiece == null) {
      throw new NoPeerSourceError(`no peer could give piece ${index} of ${table.digest}, and origin fallback is off (--no-origin-fallback)`)
    }
    if (!toldOrigin) {
      toldOrigin = true
      const why = isAssigned(index) ? 'the scheduler assigned them to this agent' : swarm.growing ? 'no progress among the peers' : 'no live peer holds or is fetching them'
      log.info('pieces no peer gives come from the origin', { digest: table.digest, from: index, why })
    }
    const span = pieceSpan(table.size, index)
    const bytes = await init.originPiece(span.offset, span.length, signal)
    // A hole in the table (no peer knew the piece) leaves only the whole-blob digest to check it.
    const expected = swarm.cid(index)
    const digest = digestOf(bytes)
    const cid = cidOfDigest(digest)
    if (expected != null && !cid.equals(expected)) {
      throw new PieceTableMismatchError(`piece ${index} of ${table.digest} from the origin hashes to ${cid.toString()}, the peers' table says ${String(expected)}`)
    }
    init.onPiece?.({ digest: table.digest, index, bytes: bytes.byteLength, source: 'origin' })
    return { bytes, digest }
  }
  // One origin read per piece, whether the stream or the seeder asks first.
  const originReads = new Map<number, Promise<{ bytes: Uint8Array, digest: Digest }>>()
  const originOnce = async (index: number, signal: AbortSignal): Promise<{ bytes: Uint8Array, digest: Digest }> => {
    let read = originReads.get(index)
    if (read == null) {
      read = readOrigin(index, signal)
      originReads.set(index, read)
      read.then(() => { originReads.delete(index) }, () => { originReads.delete(index) })
    }
    return read
  }
  const fromOrigin = async (index: number, signal: AbortSignal): Promise<Uint8Array> => {
    const { bytes, digest } = await originOnce(index, signal)
    verified.set(index, digest)
    return bytes
  }
  const seeder = init.seedInto == null || init.originPiece == null || init.assigned == null
    ? undefined
    : new OriginSeeder({
      assigned: init.assigned,
      fetch: originOnce,
      store: init.seedInto,
      workers: ORIGIN_SEED_READS_PER_BLOB,
      onError: (index, err) => { log.info('a piece read ahead from the origin failed; the stream reads it in turn', { digest: table.digest, piece: index, error: err.message }) }
    })

  const fetchPiece = async (index: number, signal: AbortSignal): Promise<Uint8Array> => {
    const ahead = await seeder?.take(index)?.catch(() => undefined)
    if (ahead != null) {
      verified.set(index, ahead.digest)
      return ahead.bytes
    }
    if (isAssigned(index)) return fromOrigin(index, signal)
    for (;;) {
      const peer = leastBusy(swarm.holders(index))
      if (peer != null) {
        const bytes = await fromPeer(peer.id, index, signal)
        if (bytes != null) return bytes
      } else if (!await swarm.waitFor(index, signal, () => isAssigned(index))) {
        // No holder, and the scheduler assigned the piece to this agent meanwhile, or the peers stalled.
        return fromOrigin(index, signal)
      }
    }
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
          fetching.catch(() => {})
          pending.set(index, fetching)
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

  return {
    open: async (offset, signal) => {
      seeder?.start()
      return inOrder(offset, signal)
    },
    close: async () => { await seeder?.stop() },
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
