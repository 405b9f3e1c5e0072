import type { PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { LengthPrefixedStream } from '@libp2p/utils'
import { boundedLengthDecoder, decodePeerRequest, InvalidMessageError, PeerResponse, Status } from '@shoal/proto'
import type { Digest, ParsedPeerRequest } from '@shoal/proto'
import { PIECE_REQUEST_MAX_BYTES, PIECE_SEND_HIGH_WATER_BYTES } from '../constants.ts'
import { BannedPeerError } from '../errors.ts'
import type { Logger } from '../logger.ts'
import { refusal } from './responses.ts'
import type { RequestKind } from './responses.ts'

/** What a piece answer carries: its header and, with status OK, the piece bytes. */
export interface PieceAnswer {
  header: PeerResponse['piece'] & {}
  bytes?: Uint8Array
  /**
   * Gives back the memory the bytes hold, once they left the stream's buffer or will never be sent;
   * `reusable` when nothing references them any more (the stream's write buffer is empty);
   * `handedOn` when they were all written and left the stream's buffer (the send pace counts them).
   */
  release?: (reusable: boolean, handedOn: boolean) => void
}

/** The server side an inbound stream needs: answers from the store and the shared read budget. */
export interface InboundStreamContext {
  pieceTable: (digest: Digest) => PeerResponse['pieceTable'] & {}
  bitfield: (digest: Digest) => PeerResponse['bitfield'] & {}
  piece: (digest: Digest, index: number) => Promise<PieceAnswer>
  /** Takes one of the server-wide piece-read slots; false when all are taken. */
  acquireRead: (digest: Digest, index: number) => boolean
  releaseRead: () => void
  pieceServed: (event: { peer: PeerId, digest: Digest, index: number, bytes: number }) => void
  maxReadsPerStream: number
  idleTimeoutMs: number
  sendTimeoutMs: number
  /** Aborted when the server stops. */
  signal: AbortSignal
  log: Logger
  /** The peer sent a frame that does not decode (the stream is reset at once). */
  malformedFrame: () => void
  /** Whether the peer is banned now: a stream it opened before its ban is reset at its next request. */
  banned: () => boolean
}

/**
 * Errors that mean the peer sent bytes no correct agent sends: a frame, its length prefix or a
 * request that does not decode, or more unread request bytes than the read buffer holds (an agent
 * sends one small request per stream).
 */
const MALFORMED = new Set(['InvalidMessageError', 'InvalidDataLengthError', 'InvalidDataLengthLengthError', 'InvalidMessageLengthError', 'StreamBufferError'])

/**
 * One inbound /shoal/pieces stream: reads PeerRequest frames until the peer half-closes (or goes
 * idle), answers each, then closes. Requests are served concurrently; their answers are written
 * one at a time, so a piece's header and bytes stay adjacent. A request counts as started once its
 * answer begins to be written: a cancel before that turns the answer into CANCELLED, a cancel after
 * it is ignored. A malformed frame aborts the stream.
 */
export class InboundStream {
  readonly #stream: Stream
  readonly #peer: PeerId
  readonly #context: InboundStreamContext
  readonly #lp: LengthPrefixedStream<Stream>
  /** Requests whose answer has not begun: id -> cancelled. */
  readonly #open = new Map<number, { cancelled: boolean }>()
  readonly #tasks = new Set<Promise<void>>()
  #writes: Promise<void> = Promise.resolve()
  #reads = 0
  #broken = false

  constructor (stream: Stream, peer: PeerId, context: InboundStreamContext) {
    this.#stream = stream
    this.#peer = peer
    this.#context = context
    this.#lp = lpStream(stream, { maxDataLength: PIECE_REQUEST_MAX_BYTES, maxBufferSize: 64 * PIECE_REQUEST_MAX_BYTES, lengthDecoder: boundedLengthDecoder(PIECE_REQUEST_MAX_BYTES) })
  }

  /** Serves the stream to its end; never rejects. */
  async run (): Promise<void> {
    try {
      while (await this.#readOne()) { /* next request */ }
      await Promise.allSettled(this.#tasks)
      await this.#writes
      if (!this.#broken) await this.#stream.close({ signal: this.#sendSignal() })
    } catch (err) {
      if (MALFORMED.has((err as Error).name)) this.#context.malformedFrame()
      this.#abort(err)
      // Reads already under way finish (and give back their slots) before the stream counts as done.
      await Promise.allSettled(this.#tasks)
    }
  }

  /** Reads and dispatches one request; false at the end of the peer's requests. */
  async #readOne (): Promise<boolean> {
    const { signal, idleTimeoutMs } = this.#context
    let frame
    try {
      frame = await this.#lp.read({ signal: AbortSignal.any([signal, AbortSignal.timeout(idleTimeoutMs)]) })
    } catch (err) {
      // The peer half-closed (or sent nothing for a while): finish what was asked, then close.
      if ((err as Error).name === 'UnexpectedEOFError' || (!signal.aborted && (err as Error).name === 'TimeoutError')) return false
      throw err
    }
    if (this.#context.banned()) throw new BannedPeerError(`peer ${this.#peer.toString()} is banned`)
    this.#dispatch(decodePeerRequest(frame))
    return true
  }

  #dispatch (request: ParsedPeerRequest): void {
    if (request.kind === 'cancel') {
      const open = this.#open.get(request.cancelId)
      if (open != null) open.cancelled = true
      return
    }
    const { id } = request
    if (this.#open.has(id)) throw new InvalidMessageError(`request ${id} is already open on this stream`)
    this.#open.set(id, { cancelled: false })
    if (request.kind === 'pieceTable') {
      this.#track(this.#answer(id, 'pieceTable', () => [PeerResponse.encode({ id, pieceTable: this.#context.pieceTable(request.digest) })]))
    } else if (request.kind === 'bitfield') {
      this.#track(this.#answer(id, 'bitfield', () => [PeerResponse.encode({ id, bitfield: this.#context.bitfield(request.digest) })]))
    } else if (this.#reads >= this.#context.maxReadsPerStream || !this.#context.acquireRead(request.digest, request.index)) {
      this.#track(this.#answer(id, 'piece', () => [PeerResponse.encode({ id, ...refusal('piece', Status.BUSY, request.index) })]))
    } else {
      this.#reads++
      this.#track(this.#servePiece(id, request.digest, request.index).finally(() => {
        this.#reads--
        this.#context.releaseRead()
      }))
    }
  }

  async #servePiece (id: number, digest: Digest, index: number): Promise<void> {
    let answer: PieceAnswer
    try {
      answer = await this.#context.piece(digest, index)
    } catch (err) {
      this.#context.log.warn('piece not served', { peer: this.#peer.toString(), digest, index, error: `${(err as Error).name}: ${(err as Error).message}` })
      answer = { header: { status: Status.ERROR, index, length: 0 } }
    }
    const { header, bytes } = answer
    let handedOn = false
    try {
      const sent = await this.#answer(id, 'piece', () => {
        const frame = PeerResponse.encode({ id, piece: header })
        return bytes == null ? [frame] : [frame, bytes]
      }, index)
      if (sent && bytes != null) this.#context.pieceServed({ peer: this.#peer, digest, index, bytes: bytes.byteLength })
      // Fails only when the stream closes or stalls past the send timeout: the next answer's send fails
      // and ends the stream (logged there); here it only ends the wait.
      const drained = bytes != null && await this.#belowHighWater(this.#sendSignal(), 0).then(() => true, () => false)
      handedOn = sent && drained && !this.#broken
    } finally {
      // A send that timed out may leave the bytes in the stream's buffer: then not reused.
      answer.release?.(this.#stream.writeBufferLength === 0, handedOn)
    }
  }

  /**
   * Queues the answer to request `id`: `frames` is called when its turn to be written comes, unless
   * the request was cancelled by then. Resolves to whether the answer itself was written.
   */
  async #answer (id: number, kind: RequestKind, frames: () => Uint8Array[], index = 0): Promise<boolean> {
    const write = this.#writes.then(async () => {
      if (this.#broken) return false
      const cancelled = this.#open.get(id)?.cancelled === true
      this.#open.delete(id)
      const signal = this.#sendSignal()
      await this.#lp.writeV(cancelled ? [PeerResponse.encode({ id, ...refusal(kind, Status.CANCELLED, index) })] : frames(), { signal })
      await this.#belowHighWater(signal)
      return !cancelled
    })
    this.#writes = write.then(() => {}, (err: unknown) => { this.#abort(err) })
    return write.catch(() => false)
  }

  #track (task: Promise<unknown>): void {
    const tracked = task.then(() => {}, () => {})
    this.#tasks.add(tracked)
    void tracked.finally(() => this.#tasks.delete(tracked))
  }

  /**
   * send() back-pressure alone does not bound a stream's write buffer (docs/dev/libp2p3.md): hold
   * the next answer while more than the high-water mark is queued (0: until the buffer is empty,
   * which is when a piece's memory may be counted as free).
   */
  async #belowHighWater (signal: AbortSignal, mark = PIECE_SEND_HIGH_WATER_BYTES): Promise<void> {
    while (this.#stream.writeBufferLength > mark) {
      signal.throwIfAborted()
      if (this.#stream.writeStatus !== 'writable') return
      await new Promise<void>((resolve) => {
        const done = (): void => {
          for (const name of ['drain', 'idle', 'close'] as const) this.#stream.removeEventListener(name, done)
          signal.removeEventListener('abort', done)
          resolve()
        }
        for (const name of ['drain', 'idle', 'close'] as const) this.#stream.addEventListener(name, done)
        signal.addEventListener('abort', done)
      })
    }
  }

  #sendSignal (): AbortSignal {
    return AbortSignal.any([this.#context.signal, AbortSignal.timeout(this.#context.sendTimeoutMs)])
  }

  #abort (reason: unknown): void {
    if (this.#broken) return
    this.#broken = true
    // Not always an Error: a write waiting on a stream that closes under it is rejected with the
    // stream's close event (StreamCloseEvent, StreamResetEvent: seen when peers were killed).
    const closedUnderWrite = reason instanceof Event
    const err = reason instanceof Error ? reason : new Error(`the stream failed with a non-Error: ${describe(reason)}`)
    if (!this.#context.signal.aborted) {
      // The peer reset or closed the stream with answers still queued (it gave up on a request, or
      // left): routine in a swarm (3-4 per agent in a fresh 100 Mbit bench run), so not a warning.
      const routine = closedUnderWrite || err.name === 'StreamResetError' || err.name === 'StreamStateError'
      this.#context.log[routine ? 'debug' : 'warn']('piece-exchange stream aborted', { peer: this.#peer.toString(), error: `${err.name}: ${err.message}` })
    }
    this.#stream.abort(err)
  }
}

/** What a thrown value that is not an Error is: its class (and an event's type), or its text. */
function describe (value: unknown): string {
  if (typeof value !== 'object' || value == null) return String(value)
  const type = (value as { type?: unknown }).type
  return `${value.constructor?.name ?? 'Object'}${typeof type === 'string' ? ` (${type})` : ''}`
}
