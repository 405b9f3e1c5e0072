import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import {
  bitfieldResponse, cidOfDigest, digestAlgorithm, digestOf, PIECES_PROTOCOL, pieceSpan, pieceTableResponse, Status
} from '@shoal/proto'
import type { Digest, PeerResponse } from '@shoal/proto'
import {
  PIECE_SERVER_IDLE_TIMEOUT_MS, PIECE_SERVER_MAX_READ_BYTES, PIECE_VERIFIED_MAX_ENTRIES, PIECE_VERIFIED_TTL_MS, PIECE_SERVER_ASKING_WINDOW_MS, PIECE_SERVER_MAX_READS, PIECE_SERVER_MIN_READS_PER_PEER, PIECE_SERVER_MAX_READS_PER_STREAM, PIECE_SERVER_NEW_PIECE_READS, PIECE_SPREAD_SENDS, PIECE_SPREAD_WINDOW_MS,
  PIECE_SERVER_MAX_STREAMS_PER_CONNECTION, PIECE_SERVER_MAX_STREAMS_PER_PEER, PIECE_TIMEOUT_MS,
  PIECE_SERVER_MIN_READ_BYTES, PIECE_SERVER_SEND_QUEUE_MS, PIECE_SERVER_PACE_WINDOW_MS, PIECE_SERVER_PACE_SAMPLE_MS
} from '../constants.ts'
import { AbortError, BannedPeerError, CorruptPieceError, PeerStreamLimitError } from '../errors.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { RateLimiter } from '../bandwidth/index.ts'
import type { PeerBans } from '../peer-bans.ts'
import { recordedBitfield, recordedTable } from '../piece-store/blob-record.ts'
import type { BlobRecord } from '../piece-store/blob-record.ts'
import type { PieceStore } from '../piece-store/store.ts'
import { PieceBuffers } from './piece-buffers.ts'
import { PieceSpread } from './piece-spread.ts'
import { ReadBudget } from './read-budget.ts'
import type { ReleaseRead } from './read-budget.ts'
import { ReadShares } from './read-shares.ts'
import { SendPace } from './send-pace.ts'
import { VerifiedPieces } from './verified-pieces.ts'
import { InboundStream } from './inbound-stream.ts'
import type { PieceAnswer } from './inbound-stream.ts'
import { refusal } from './responses.ts'

/** One piece sent to a peer in full (header and bytes handed to the stream). */
export interface PieceServedEvent {
  peer: PeerId
  digest: Digest
  index: number
  bytes: number
}

export interface PieceExchangeServerComponents {
  node: Pick<Libp2p, 'handle' | 'unhandle'>
  store: Pick<PieceStore, 'get' | 'readPiece' | 'touch' | 'dropCorrupt'>
  /** Called for every stream reset at once for being past the per-peer cap (metrics). */
  onStreamRefused?: () => void
  /** Called for every piece served (metrics). */
  onPieceServed?: (event: PieceServedEvent) => void
  /** `--upload-limit`: every piece sent waits for its bytes here. */
  uploads?: Pick<RateLimiter, 'take'>
  /** The agent's bans: a banned peer's streams are reset at once, and malformed frames count toward a ban. */
  bans?: Pick<PeerBans, 'isBanned' | 'malformedFrame'>
  /** `--share-private`: a blob this says no to is answered as not found. */
  shareable?: (digest: Digest) => boolean
  logger?: Logger
}

export interface PieceExchangeServerInit {
  /** Piece reads one stream may have under way; more are answered BUSY. */
  maxReadsPerStream?: number
  /** Piece reads all streams together may have under way (reading or waiting for memory); more are answered BUSY. */
  maxReads?: number
  /** Bytes of pieces read and not yet sent, all streams together; more wait their turn. */
  maxReadBytes?: number
  /** A stream that sends no request for this long is closed. */
  idleTimeoutMs?: number
  /** Piece streams one peer may have open at once, over all its connections; more are reset. */
  maxStreamsPerPeer?: number
  /** How long one answer may take to be handed to a stream (a peer that stops reading). */
  sendTimeoutMs?: number
  /** The read budget's floor on a slow link (default PIECE_SERVER_MIN_READ_BYTES; see ReadBudget). */
  minReadBytes?: number
  /** The read budget is at most this much of the measured send rate (default PIECE_SERVER_SEND_QUEUE_MS). */
  sendQueueMs?: number
  /** The clock of the send pace (tests). */
  now?: () => number
  /** Piece reads a peer may have under way however many others ask (see ReadShares). */
  minReadsPerPeer?: number
  /** Reads beyond maxReads for pieces not sent recently (default PIECE_SERVER_NEW_PIECE_READS). */
  newPieceReads?: number
  /** Sends of one piece per PIECE_SPREAD_WINDOW_MS; more are answered BUSY (0: no limit). See PieceSpread. */
  sendsPerPiece?: number
}

/**
 * Serves the blobs of the local store to peers over /shoal/pieces/2.0.0: piece tables, bitfields and
 * pieces of whatever is held, partial blobs included (their tables with holes), so a blob spreads
 * while it is still downloading. Every piece is verified against its recorded CID before it leaves.
 */
export class PieceExchangeServer {
  readonly #components: PieceExchangeServerComponents
  readonly #log: Logger
  readonly #maxReadsPerStream: number
  readonly #maxReads: number
  readonly #shares: ReadShares
  readonly #newPieceReads: number
  readonly #idleTimeoutMs: number
  readonly #sendTimeoutMs: number
  readonly #streams = new Map<Stream, Promise<void>>()
  readonly #streamsByPeer = new Map<string, number>()
  readonly #maxStreamsPerPeer: number
  readonly #budget: ReadBudget
  readonly #buffers: PieceBuffers
  readonly #spread: PieceSpread
  readonly #verified = new VerifiedPieces({ ttlMs: PIECE_VERIFIED_TTL_MS, maxEntries: PIECE_VERIFIED_MAX_ENTRIES })
  #controller?: AbortController
  #reads = 0

  constructor (components: PieceExchangeServerComponents, init: PieceExchangeServerInit = {}) {
    this.#components = components
    this.#log = components.logger ?? silentLogger
    this.#maxReadsPerStream = init.maxReadsPerStream ?? PIECE_SERVER_MAX_READS_PER_STREAM
    this.#maxReads = init.maxReads ?? PIECE_SERVER_MAX_READS
    this.#shares = new ReadShares({ slots: this.#maxReads, minPerPeer: init.minReadsPerPeer ?? PIECE_SERVER_MIN_READS_PER_PEER, windowMs: PIECE_SERVER_ASKING_WINDOW_MS })
    this.#newPieceReads = init.newPieceReads ?? PIECE_SERVER_NEW_PIECE_READS
    this.#idleTimeoutMs = init.idleTimeoutMs ?? PIECE_SERVER_IDLE_TIMEOUT_MS
    this.#maxStreamsPerPeer = init.maxStreamsPerPeer ?? PIECE_SERVER_MAX_STREAMS_PER_PEER
    this.#sendTimeoutMs = init.sendTimeoutMs ?? PIECE_TIMEOUT_MS
    const maxBytes = init.maxReadBytes ?? PIECE_SERVER_MAX_READ_BYTES
    this.#budget = new ReadBudget({
      maxBytes,
      minBytes: init.minReadBytes ?? PIECE_SERVER_MIN_READ_BYTES,
      queueMs: init.sendQueueMs ?? PIECE_SERVER_SEND_QUEUE_MS,
      pace: new SendPace({ windowMs: PIECE_SERVER_PACE_WINDOW_MS, sampleMs: PIECE_SERVER_PACE_SAMPLE_MS, now: init.now })
    })
    // The budget bounds the pieces in flight; as many idle ones are kept for the next reads.
    this.#buffers = new PieceBuffers(maxBytes)
    this.#spread = new PieceSpread({ perWindow: init.sendsPerPiece ?? PIECE_SPREAD_SENDS, windowMs: PIECE_SPREAD_WINDOW_MS })
  }

  async start (): Promise<void> {
    if (this.#controller != null) return
    const controller = new AbortController()
    this.#controller = controller
    await this.#components.node.handle(PIECES_PROTOCOL, (stream, connection) => {
      this.#serve(stream, connection.remotePeer, controller.signal)
    }, { maxInboundStreams: PIECE_SERVER_MAX_STREAMS_PER_CONNECTION })
  }

  /** Unregisters the protocol and aborts every open stream; resolves when their reads are done. */
  async stop (): Promise<void> {
    const controller = this.#controller
    if (controller == null) return
    this.#controller = undefined
    await this.#components.node.unhandle(PIECES_PROTOCOL)
    controller.abort(new AbortError('the piece exchange server stopped'))
    for (const stream of this.#streams.keys()) stream.abort(new AbortError('the piece exchange server stopped'))
    await Promise.allSettled(this.#streams.values())
  }

  /** Inbound streams being served. */
  get openStreams (): number {
    return this.#streams.size
  }

  /** Bytes of pieces that may be read and not yet sent now (the read budget, sized to the send rate). */
  get readBudgetBytes (): number {
    return this.#budget.size
  }

  #serve (stream: Stream, peer: PeerId, signal: AbortSignal): void {
    const bans = this.#components.bans
    const key = peer.toString()
    if (bans?.isBanned(key) === true) {
      stream.abort(new BannedPeerError(`peer ${key} is banned`))
      return
    }
    // Per peer, whatever its number of connections: past the cap a stream is reset at once.
    const mine = this.#streamsByPeer.get(key) ?? 0
    if (mine >= this.#maxStreamsPerPeer) {
      this.#components.onStreamRefused?.()
      stream.abort(new PeerStreamLimitError(`peer ${key} has ${mine} piece streams open, the most one peer may`))
      return
    }
    this.#streamsByPeer.set(key, mine + 1)
    stream.addEventListener('close', () => {
      const left = (this.#streamsByPeer.get(key) ?? 1) - 1
      if (left <= 0) this.#streamsByPeer.delete(key)
      else this.#streamsByPeer.set(key, left)
    }, { once: true })
    const inbound = new InboundStream(stream, peer, {
      malformedFrame: () => { bans?.malformedFrame(peer.toString()) },
      banned: () => bans?.isBanned(key) === true,
      pieceTable: digest => this.#pieceTable(digest),
      bitfield: digest => this.#bitfield(digest),
      piece: async (digest, index) => this.#piece(key, digest, index),
      acquireRead: (digest, index) => {
        // A piece not sent recently (new to the swarm) may wait beyond the bound, ahead of the rest.
        const bound = this.#spread.count(`${digest}/${index}`) === 0 ? this.#maxReads + this.#newPieceReads : this.#maxReads
        // Every ask counts toward the peers sharing the slots, also one answered BUSY.
        if (!this.#shares.admit(key, bound)) return false
        if (this.#reads >= bound) {
          this.#shares.release(key)
          // Turned away for want of a slot: the waiting reads of peers over their share give way.
          this.#shares.preempt(bound)
          return false
        }
        this.#reads++
        return true
      },
      releaseRead: () => {
        this.#reads--
        this.#shares.release(key)
      },
      pieceServed: event => { this.#components.onPieceServed?.(event) },
      maxReadsPerStream: this.#maxReadsPerStream,
      idleTimeoutMs: this.#idleTimeoutMs,
      sendTimeoutMs: this.#sendTimeoutMs,
      signal,
      log: this.#log
    })
    const done = inbound.run().finally(() => this.#streams.delete(stream))
    this.#streams.set(stream, done)
  }

  /** The blob's record when it is held and the share policy lets peers have it. */
  #shared (digest: Digest): BlobRecord | undefined {
    if (this.#components.shareable?.(digest) === false) return undefined
    return this.#components.store.get(digest)
  }

  /**
   * The recorded piece CIDs: all of them for a complete blob, the verified ones so far for a blob
   * still downloading (empty entries for the rest: the asker comes back for them). A complete blob
   * with a piece unrecorded has nothing trustworthy to give.
   */
  #pieceTable (digest: Digest): PeerResponse['pieceTable'] & {} {
    const record = this.#shared(digest)
    if (record == null || digestAlgorithm(digest) !== 'sha256') return refusal('pieceTable', Status.NOT_FOUND).pieceTable!
    if (record.state === 'complete' && record.pieces.some(cid => cid == null)) return refusal('pieceTable', Status.NOT_FOUND).pieceTable!
    try {
      return pieceTableResponse(recordedTable(record))
    } catch (err) {
      this.#log.warn('piece table not served', { digest, error: `${(err as Error).name}: ${(err as Error).message}` })
      return refusal('pieceTable', Status.ERROR).pieceTable!
    }
  }

  /** The recorded pieces: a piece without a recorded CID cannot be verified, so it is never offered. */
  #bitfield (digest: Digest): PeerResponse['bitfield'] & {} {
    const record = this.#shared(digest)
    if (record == null) return refusal('bitfield', Status.NOT_FOUND).bitfield!
    const bitfield = recordedBitfield(record)
    return bitfieldResponse(bitfield, record.state === 'complete' && bitfield.full())
  }

  async #piece (peer: string, digest: Digest, index: number): Promise<PieceAnswer> {
    const notFound = { header: { status: Status.NOT_FOUND, index, length: 0 } }
    const record = this.#shared(digest)
    const expected = record?.pieces[index]
    if (record == null || expected == null) return notFound
    const key = `${digest}/${index}`
    const priority = this.#spread.count(key)
    const busy = { header: { status: Status.BUSY, index, length: 0 } }
    if (!this.#spread.admit(key)) return busy
    const waiting = this.#shares.wait(peer)
    let release: ReleaseRead
    try {
      const stopped = this.#controller?.signal
      release = await this.#budget.acquire(pieceSpan(record.size, index).length, stopped == null ? waiting.signal : AbortSignal.any([stopped, waiting.signal]), priority)
    } catch (err) {
      if (waiting.signal.aborted) {
        // Given up for other peers' share: not sent, so still new to the swarm if it was.
        this.#spread.retract(key)
        return busy
      }
      throw err
    } finally {
      this.#shares.waited(peer, waiting)
    }
    const buffer = this.#buffers.take(record.pieceSize)
    const done = (reusable: boolean, sent: boolean): void => {
      if (reusable) this.#buffers.give(buffer)
      release(sent)
    }
    try {
      const answer = await this.#readVerified(record, index, expected, buffer)
      if (answer.bytes == null) done(true, false)
      return answer.bytes == null ? answer : { ...answer, release: done }
    } catch (err) {
      done(true, false)
      throw err
    }
  }

  async #readVerified (record: BlobRecord, index: number, expected: string, into: ArrayBuffer): Promise<PieceAnswer> {
    const { digest } = record
    const notFound = { header: { status: Status.NOT_FOUND, index, length: 0 } }
    const stored = await this.#components.store.readPiece(digest, index, { into })
    if (stored == null) return notFound
    const { bytes } = stored
    // Never serve bytes whose hash has not been checked: a torn or rotten piece on disk stays here.
    // Pieces this process wrote itself, or of a blob it hashed whole, were checked on their way in.
    if (!stored.checked && !this.#verified.has(digest, index, expected)) {
      const actual = cidOfDigest(digestOf(bytes)).toString()
      if (actual !== expected) {
        // The store drops what rotted (the whole blob when complete, else the piece), so the next
        // request for it here is fetched again instead of failing the same way.
        await this.#components.store.dropCorrupt(digest, { record, piece: index })
        throw new CorruptPieceError(`piece ${index} of ${digest} on disk hashes to ${actual}, the index records ${expected}`)
      }
      this.#verified.add(digest, index, expected)
    }
    this.#components.store.touch(digest)
    await this.#components.uploads?.take(bytes.byteLength, { signal: this.#controller?.signal })
    return { header: { status: Status.OK, index, length: bytes.byteLength }, bytes }
  }
}
