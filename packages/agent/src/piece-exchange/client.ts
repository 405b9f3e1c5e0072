import { isPeerId } from '@libp2p/interface'
import type { AbortOptions, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import {
  boundedLengthDecoder, cidOfDigest, decodePeerResponse, digestOf, MAX_MESSAGE_SIZE, parseBitfieldResponse, parsePieceTable, PeerRequest,
  PIECES_PROTOCOL, pieceSpan, Status
} from '@shoal/proto'
import type { CID, Digest, PeerBitfield, PeerResponse, PieceTable } from '@shoal/proto'
import {
  PIECE_CLIENT_IDLE_STREAM_MS, PIECE_CLIENT_IDLE_STREAMS_PER_PEER, PIECE_CLIENT_MIN_MEAN_CHUNK_BYTES, PIECE_CLIENT_OWN_DIAL_FAILURES_KEPT,
  PIECE_CLIENT_OWN_DIAL_RETRY_MS, PIECE_CLIENT_OWN_DIAL_TIMEOUT_MS, PIECE_TIMEOUT_MS
} from '../constants.ts'
import {
  AbortError, BadPieceError, PeerProtocolError, PeerRefusedError, PeerTimeoutError, PeerUnavailableError
} from '../errors.ts'
import type { HashThread } from '../hashing/hash-thread.ts'
import { closeKept, IdleStreams, resetUnlessClosed } from './idle-streams.ts'
import { OwnConnections } from './own-connections.ts'
import { REFUSALS } from './responses.ts'

export type PeerAddress = PeerId | Multiaddr | Multiaddr[]

/** A piece to fetch, as the caller's piece table describes it. */
export interface PieceRef {
  digest: Digest
  /** The blob's size, from which the piece's offset and length follow (pieceSpan). */
  size: number
  index: number
  /** What the piece must hash to. */
  cid: CID
}

export interface PieceOptions extends AbortOptions {
  /** Told when the piece's response header arrives (its bytes follow): the first byte. */
  onFirstByte?: () => void
}

export interface PieceTableOptions extends AbortOptions {
  /** The blob's size when the caller knows it; a table that disagrees is refused. */
  size?: number
}

export interface PieceExchangeClientComponents {
  node: Pick<Libp2p, 'dialProtocol' | 'dial' | 'getConnections'>
  /** Hashes each piece off the main thread; without it pieces are hashed on it. */
  hashing?: HashThread
}

export interface PieceExchangeClientInit {
  /** The timeout of a request whose caller gives no signal. */
  timeoutMs?: number
}

/** How long a peer may keep a stream open after its answer before the stream is reset. */
const CLOSE_GRACE_MS = 2_000
/** Frames beyond the answer that may arrive before a stream is dropped (a piece payload is allowed for separately). */
const SLACK_BYTES = 64 * 1024

/**
 * Asks peers for piece tables, bitfields and pieces over /shoal/pieces/2.0.0, trusting nothing
 * they send: tables and bitfields are checked against the blob, every piece against its length and
 * CID. Errors are named: PeerRefusedError (the peer declined, with its status), BadPieceError (wrong
 * bytes: ban the peer), PeerProtocolError (malformed or unexpected answer), PeerUnavailableError
 * (dial failed, stream broke), PeerTimeoutError (no answer within the default timeout) and
 * AbortError (the caller's signal).
 *
 * One request at a time per stream: each request has its own flow-control window (a slow piece
 * never holds up a bitfield queued behind it), cancellation is a reset of its stream that stops the
 * peer's work at once, and there is no demultiplexing state to go wrong. A stream whose answer was
 * read in full is kept for the next request to that peer (IdleStreams): a new stream per request
 * cost a dial lookup, a protocol negotiation and a peer-store write on each side, which in a CPU
 * profile of an 8-host swarm was more than the ciphers and the hashing together. A kept stream
 * that turns out closed before any answer arrived is replaced by a new one, once. Streams to a peer
 * go on a connection this agent dialled itself (OwnConnections), so that its requests do not queue
 * behind the piece bytes it uploads to that peer.
 */
export class PieceExchangeClient {
  readonly #node: Pick<Libp2p, 'dialProtocol'>
  readonly #hashing?: HashThread
  readonly #own: OwnConnections
  readonly #timeoutMs: number
  readonly #idle: IdleStreams
  /** The id of the last request sent on each stream (ids are per stream, from 1). */
  readonly #lastId = new WeakMap<Stream, number>()
  /** Streams opened on a connection the peer dialled, while ours was not up yet. */
  readonly #onPeerConnection = new WeakSet<Stream>()

  constructor (components: PieceExchangeClientComponents, init: PieceExchangeClientInit = {}) {
    this.#node = components.node
    this.#hashing = components.hashing
    this.#own = new OwnConnections(components.node, { dialTimeoutMs: PIECE_CLIENT_OWN_DIAL_TIMEOUT_MS, retryMs: PIECE_CLIENT_OWN_DIAL_RETRY_MS, maxFailures: PIECE_CLIENT_OWN_DIAL_FAILURES_KEPT })
    this.#timeoutMs = init.timeoutMs ?? PIECE_TIMEOUT_MS
    this.#idle = new IdleStreams({ maxPerPeer: PIECE_CLIENT_IDLE_STREAMS_PER_PEER, idleMs: PIECE_CLIENT_IDLE_STREAM_MS, closeGraceMs: CLOSE_GRACE_MS })
  }

  /** Closes the streams kept for later requests, and stops dialling connections of its own. */
  close (): void {
    this.#own.stop()
    this.#idle.closeAll()
  }

  async pieceTable (peer: PeerAddress, digest: Digest, options: PieceTableOptions = {}): Promise<PieceTable> {
    return this.#request(peer, { pieceTable: { digest } }, 0, options, async response => {
      const body = expectBody(response, 'pieceTable')
      return validated(() => parsePieceTable(body, { digest, size: options.size }))
    })
  }

  async bitfield (peer: PeerAddress, digest: Digest, pieceCount: number, options: AbortOptions = {}): Promise<PeerBitfield> {
    return this.#request(peer, { bitfield: { digest } }, 0, options, async response => {
      const body = expectBody(response, 'bitfield')
      return validated(() => parseBitfieldResponse(body, pieceCount))
    })
  }

  /** The piece's bytes as the chunks they arrived in (not joined: see Piece), checked against its length and CID. */
  async piece (peer: PeerAddress, ref: PieceRef, options: PieceOptions = {}): Promise<Uint8Array[]> {
    const span = pieceSpan(ref.size, ref.index)
    const what = `piece ${ref.index} of ${ref.digest}`
    return this.#request(peer, { piece: { digest: ref.digest, index: ref.index } }, span.length, options, async (response, lp, signal) => {
      const header = expectBody(response, 'piece')
      options.onFirstByte?.()
      if (header.index !== ref.index) throw new PeerProtocolError(`asked for ${what}, the peer answered piece ${header.index}`)
      if (header.length !== span.length) throw new BadPieceError(`${what} has ${span.length} bytes, the peer announced ${header.length}`)
      const payload = await lp.read({ signal }).catch((err: Error) => {
        throw err.name === 'InvalidDataLengthError' ? new BadPieceError(`${what}: the peer sent more than ${span.length} bytes`, { cause: err }) : err
      })
      if (payload.byteLength !== span.length) throw new BadPieceError(`${what} has ${span.length} bytes, the peer sent ${payload.byteLength}`)
      // Views of the decrypted messages, which nothing else holds or reuses; joined when they are tiny.
      let chunks = [...payload]
      if (chunks.length * PIECE_CLIENT_MIN_MEAN_CHUNK_BYTES > span.length) chunks = [payload.subarray()]
      const cid = cidOfDigest(await this.#digestOf(chunks)).toString()
      if (cid !== ref.cid.toString()) throw new BadPieceError(`${what} must hash to ${ref.cid.toString()}, the peer sent ${cid}`)
      return chunks
    })
  }

  /** The piece's sha256, on the hashing thread when there is one. */
  async #digestOf (chunks: readonly Uint8Array[]): Promise<Digest> {
    if (this.#hashing == null) return digestOf(chunks)
    const session = this.#hashing.session('sha256')
    try {
      for (const chunk of chunks) await session.update(chunk, false)
      return `sha256:${await session.digest()}` as Digest
    } finally {
      session.close()
    }
  }

  async #request<T> (
    peer: PeerAddress,
    body: Omit<PeerRequest, 'id'>,
    payloadBytes: number,
    options: AbortOptions,
    answer: (response: PeerResponse, lp: LengthPrefixedStream<Stream>, signal: AbortSignal) => Promise<T>
  ): Promise<T> {
    const signal = options.signal ?? AbortSignal.timeout(this.#timeoutMs)
    // Only a peer named by its id has streams kept for it (an address may reach anyone).
    const peerId = isPeerId(peer) ? peer : undefined
    let stream = peerId == null ? undefined : this.#takeKept(peerId)
    let kept = stream != null
    for (;;) {
      try {
        signal.throwIfAborted()
        stream ??= await this.#openStream(peer, signal)
        return await this.#exchange(stream, kept, peerId, body, payloadBytes, signal, answer)
      } catch (err) {
        // A refusal left its stream released (#exchange): it may already carry another request.
        if (!(err instanceof PeerRefusedError)) stream?.abort(err as Error)
        if (err instanceof StaleStreamError && !signal.aborted) {
          stream = undefined
          kept = false
          continue
        }
        throw classify(err as Error, signal, options.signal != null)
      }
    }
  }

  /** A new stream to the peer: on the connection this agent dialled to it (OwnConnections), else on the one there is, else on a new one. */
  async #openStream (peer: PeerAddress, signal: AbortSignal): Promise<Stream> {
    if (!isPeerId(peer)) return this.#node.dialProtocol(peer, PIECES_PROTOCOL, { signal })
    const { own, peerDialled } = this.#own.get(peer)
    if (own != null) return own.newStream(PIECES_PROTOCOL, { signal })
    const stream = await this.#node.dialProtocol(peer, PIECES_PROTOCOL, { signal })
    if (peerDialled) this.#onPeerConnection.add(stream)
    return stream
  }

  /** A stream kept for the peer; one on the peer's connection is closed instead once this agent has its own. */
  #takeKept (peer: PeerId): Stream | undefined {
    for (let stream = this.#idle.take(peer); stream != null; stream = this.#idle.take(peer)) {
      if (!this.#onPeerConnection.has(stream) || this.#own.get(peer).own == null) return stream
      closeKept(stream, CLOSE_GRACE_MS)
    }
    return undefined
  }

  /** One request and its answer on `stream`; the stream is kept for the peer when the answer was read in full. */
  async #exchange<T> (
    stream: Stream,
    kept: boolean,
    peerId: PeerId | undefined,
    body: Omit<PeerRequest, 'id'>,
    payloadBytes: number,
    signal: AbortSignal,
    answer: (response: PeerResponse, lp: LengthPrefixedStream<Stream>, signal: AbortSignal) => Promise<T>
  ): Promise<T> {
    const onAbort = (): void => { stream.abort(new AbortError('the request was aborted')) }
    signal.addEventListener('abort', onAbort)
    try {
      const id = (this.#lastId.get(stream) ?? 0) + 1
      this.#lastId.set(stream, id)
      const maxDataLength = Math.max(MAX_MESSAGE_SIZE, payloadBytes)
      const lp = lpStream(stream, {
        maxDataLength,
        lengthDecoder: boundedLengthDecoder(maxDataLength),
        maxBufferSize: MAX_MESSAGE_SIZE + payloadBytes + SLACK_BYTES
      })
      let frame
      try {
        await lp.write(PeerRequest.encode({ id, ...body }), { signal })
        // Half-close: a stream that is not kept carries no other request.
        if (peerId == null) await stream.close({ signal })
        frame = await lp.read({ signal })
      } catch (err) {
        // A kept stream the peer closed meanwhile (its idle timeout, a restart): not the peer's fault.
        if (kept && !signal.aborted && !PROTOCOL_ERRORS.has((err as Error).name)) throw new StaleStreamError('a kept stream was closed before its answer', { cause: err })
        throw err
      }
      const response = decodePeerResponse(frame)
      if (response.id !== id) throw new PeerProtocolError(`the peer answered request ${response.id}, not ${id}`)
      let result: T
      try {
        result = await answer(response, lp, signal)
      } catch (err) {
        // A refusal (BUSY, NOT_FOUND) is a whole answer: the stream is as clean as after a piece. Under
        // load a new stream waits for the peer's protocol echo behind the piece bytes it is sending
        // (0.2-2 s in an 8-host swarm), so it is kept like one.
        if (err instanceof PeerRefusedError) this.#release(stream, lp, peerId)
        throw err
      }
      this.#release(stream, lp, peerId)
      return result
    } finally {
      signal.removeEventListener('abort', onAbort)
    }
  }

  /**
   * The stream after an answer read in full: kept for the peer's next request, or (one not kept for
   * requests) left for the server to close after its answer, and reset if it does not.
   */
  #release (stream: Stream, lp: LengthPrefixedStream<Stream>, peerId: PeerId | undefined): void {
    if (peerId == null) {
      resetUnlessClosed(stream, CLOSE_GRACE_MS, 'the peer kept the stream open after its answer')
      return
    }
    lp.unwrap()
    // Bytes beyond the answer: a peer that does not follow the protocol; its stream is not reused.
    if (stream.readBufferLength > 0) stream.abort(new PeerProtocolError('the peer sent more than its answer'))
    else this.#idle.give(peerId, stream)
  }
}

/** A kept stream failed before its answer began: the request is sent again on a new stream. */
class StaleStreamError extends Error {
  override name = 'StaleStreamError'
}

type Bodies = Required<Omit<PeerResponse, 'id'>>

/** The body of the expected kind, with status OK; a refusal becomes PeerRefusedError. */
function expectBody<K extends keyof Bodies> (response: PeerResponse, kind: K): Bodies[K] {
  const body = response[kind]
  if (body == null) throw new PeerProtocolError(`the peer answered a ${kind} request with another kind of response`)
  if (REFUSALS.has(body.status)) throw new PeerRefusedError(body.status, `the peer answered ${body.status} to a ${kind} request`)
  if (body.status !== Status.OK) throw new PeerProtocolError(`the peer answered a ${kind} request with status ${body.status}`)
  return body as Bodies[K]
}

function validated<T> (parse: () => T): T {
  try {
    return parse()
  } catch (err) {
    throw new PeerProtocolError(`the peer sent an invalid answer: ${(err as Error).message}`, { cause: err })
  }
}

/** Frame errors of @libp2p/utils and of our decoders: the peer broke the protocol. */
const PROTOCOL_ERRORS = new Set([
  'InvalidMessageError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError', 'StreamBufferError'
])
const OWN_ERRORS = new Set(['PeerRefusedError', 'BadPieceError', 'PeerProtocolError'])

function classify (err: Error, signal: AbortSignal, callerSignal: boolean): Error {
  if (OWN_ERRORS.has(err.name)) return err
  if (signal.aborted) {
    return callerSignal
      ? new AbortError('the request to the peer was aborted', { cause: err })
      : new PeerTimeoutError('the peer did not answer in time', { cause: err })
  }
  if (PROTOCOL_ERRORS.has(err.name)) return new PeerProtocolError(`the peer sent a malformed frame: ${err.message}`, { cause: err })
  // A stream that ends early may be a dead connection (it can close without an error): not a ban.
  return new PeerUnavailableError(`the peer's stream failed: ${err.name}: ${err.message}`, { cause: err })
}

