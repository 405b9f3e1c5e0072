import { EventEmitter } from 'node:events'
import type { Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { AgentMessage, decodeSchedulerMessage, FailureReason, PieceSource, PREFETCH_BLOB_STATES, prefetchBlob, prefetchFailure, SCHEDULER_PROTOCOL, stripeFields } from '@shoal/proto'
import type {
  Bitfield, Digest, JobId, ParsedPrefetchBlob, ParsedPrefetchFailure, ParsedSchedulerMessage, PieceFailureReason, PieceStripe, PieceTable, PrefetchBlobStateName
} from '@shoal/proto'
import { SCHEDULER_REGISTER_TIMEOUT_MS } from '../constants.ts'
import { SchedulerUnavailableError } from '../errors.ts'
import { streamChannel } from './frame-channel.ts'
import type { FrameChannel } from './frame-channel.ts'

/** What an agent tells a scheduler about itself (the peer id is the connection's). */
export interface Registration {
  addresses: Multiaddr[]
  hostName: string
  site?: string
  zone?: string
  uploadSlots: number
  uploadBytesPerSecond?: number
  /** `--join-token`: what a scheduler that admits members checks (docs/membership.md). */
  joinToken?: string
}

export type ParentsMessage = ParsedSchedulerMessage & { kind: 'parents' }
export type OriginMessage = ParsedSchedulerMessage & { kind: 'origin' }
export type PieceTableMessage = ParsedSchedulerMessage & { kind: 'pieceTable' }
export type PrefetchOrderMessage = ParsedSchedulerMessage & { kind: 'prefetch' }
export type PrefetchCancelMessage = ParsedSchedulerMessage & { kind: 'prefetchCancel' }
export type MembersMessage = ParsedSchedulerMessage & { kind: 'members' }

/** One concrete image as the agent resolved it, for the scheduler. */
export interface ResolvedImageReport {
  reference: string
  manifestDigest?: Digest
  blobs: ParsedPrefetchBlob[]
  failure?: ParsedPrefetchFailure
}

/** Where one blob of a prefetch job stands on this agent. */
export interface PrefetchBlobReport {
  digest: Digest
  state: PrefetchBlobStateName
  bytes: number
  failure?: ParsedPrefetchFailure
  /** The stripe of the blob's pieces the report is of, as ordered; none: the whole blob. */
  stripe?: PieceStripe
}

export interface SchedulerSessionEvents {
  parents: [ParentsMessage]
  origin: [OriginMessage]
  pieceTable: [PieceTableMessage]
  prefetch: [PrefetchOrderMessage]
  prefetchCancel: [PrefetchCancelMessage]
  members: [MembersMessage]
  /** The stream ended: the scheduler left, the connection died, or it sent something malformed. */
  close: [Error | undefined]
}

const REASONS: Record<PieceFailureReason, FailureReason> = {
  timeout: FailureReason.FAILURE_TIMEOUT,
  refused: FailureReason.FAILURE_REFUSED,
  unavailable: FailureReason.FAILURE_UNAVAILABLE,
  'bad-piece': FailureReason.FAILURE_BAD_PIECE,
  'bad-table': FailureReason.FAILURE_BAD_TABLE
}

/**
 * One agent's long-lived stream to one scheduler: registers, then carries the agent's reports
 * out and the scheduler's parents and origin assignments in, until either side closes it. Writes
 * go out one at a time in the order they were made; a failed write closes the session.
 */
export class SchedulerSession extends EventEmitter<SchedulerSessionEvents> {
  readonly scheduler: PeerId
  /** How often the scheduler wants finished pieces reported, at most. */
  readonly reportIntervalMs: number
  readonly #channel: FrameChannel
  #writes: Promise<void> = Promise.resolve()
  #closed = false

  private constructor (scheduler: PeerId, channel: FrameChannel, reportIntervalMs: number) {
    super()
    this.scheduler = scheduler
    this.#channel = channel
    this.reportIntervalMs = reportIntervalMs
  }

  /** Dials the scheduler, registers and waits for its Registered; SchedulerUnavailableError when it does not answer. */
  static async open (node: Pick<Libp2p, 'dial'>, scheduler: PeerId | Multiaddr | Multiaddr[], registration: Registration, options: { signal?: AbortSignal } = {}): Promise<SchedulerSession> {
    const signal = AbortSignal.any([AbortSignal.timeout(SCHEDULER_REGISTER_TIMEOUT_MS), ...(options.signal == null ? [] : [options.signal])])
    let stream: Stream | undefined
    try {
      const connection = await node.dial(scheduler, { signal })
      stream = await connection.newStream(SCHEDULER_PROTOCOL, { signal })
      return await SchedulerSession.register(streamChannel(stream), connection.remotePeer, registration, { signal })
    } catch (err) {
      stream?.abort(err as Error)
      if ((err as Error).name === 'SchedulerUnavailableError') throw err
      throw new SchedulerUnavailableError(`scheduler ${Array.isArray(scheduler) ? scheduler.join(', ') : scheduler.toString()} did not take the registration: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Registers on a channel already open (a stream, or the in-process end of an embedded scheduler). */
  static async register (channel: FrameChannel, scheduler: PeerId, registration: Registration, options: { signal?: AbortSignal } = {}): Promise<SchedulerSession> {
    const signal = options.signal ?? AbortSignal.timeout(SCHEDULER_REGISTER_TIMEOUT_MS)
    await channel.write(AgentMessage.encode({
      register: {
        addresses: registration.addresses.map(a => a.bytes),
        hostName: registration.hostName,
        site: registration.site ?? '',
        zone: registration.zone ?? '',
        uploadSlots: registration.uploadSlots,
        uploadBytesPerSecond: BigInt(registration.uploadBytesPerSecond ?? 0),
        joinToken: registration.joinToken ?? ''
      }
    }), { signal })
    const first = decodeSchedulerMessage(await channel.read({ signal }))
    if (first.kind !== 'registered') throw new SchedulerUnavailableError(`the scheduler answered a registration with ${first.kind}`)
    const session = new SchedulerSession(scheduler, channel, first.reportIntervalMs)
    session.#readLoop()
    return session
  }

  get closed (): boolean {
    return this.#closed
  }

  /** The agent holds (part of) a blob, or wants it (`wantsPieces`). */
  announce (task: { digest: Digest, size: number, bitfield: Bitfield, wantsPieces: boolean }): void {
    this.#send({ announceTask: { digest: task.digest, size: BigInt(task.size), bitfield: task.bitfield.toBytes(), wantsPieces: task.wantsPieces } })
  }

  piecesFinished (report: { digest: Digest, indexes: number[], source: 'peer' | 'origin', parent?: PeerId, bytes: number, originBytes?: number, reading?: number[] }): void {
    this.#send({
      piecesFinished: {
        digest: report.digest,
        indexes: report.indexes,
        source: report.source === 'peer' ? PieceSource.SOURCE_PEER : PieceSource.SOURCE_ORIGIN,
        parent: report.parent?.toMultihash().bytes ?? new Uint8Array(),
        bytes: BigInt(report.bytes),
        originBytes: BigInt(report.originBytes ?? 0),
        reading: report.reading ?? []
      }
    })
  }

  pieceFailed (report: { digest: Digest, index: number, parent?: PeerId, reason: PieceFailureReason }): void {
    this.#send({ pieceFailed: { digest: report.digest, index: report.index, parent: report.parent?.toMultihash().bytes ?? new Uint8Array(), reason: REASONS[report.reason] } })
  }

  pieceTable (table: PieceTable): void {
    this.#send({
      pieceTable: {
        digest: table.digest,
        size: BigInt(table.size),
        pieceSize: table.pieceSize,
        pieces: table.pieces.map(cid => cid == null ? new Uint8Array() : cid.bytes.slice())
      }
    })
  }

  leaveTask (digest: Digest): void {
    this.#send({ leaveTask: { digest } })
  }

  /** The answer to a prefetch order that named images. */
  prefetchResolved (job: JobId, images: ResolvedImageReport[]): void {
    this.#send({
      prefetchResolved: {
        job,
        images: images.map(image => ({
          reference: image.reference,
          manifestDigest: image.manifestDigest ?? '',
          blobs: image.blobs.map(prefetchBlob),
          failure: image.failure == null ? undefined : prefetchFailure(image.failure)
        }))
      }
    })
  }

  prefetchProgress (job: JobId, blobs: PrefetchBlobReport[]): void {
    this.#send({
      prefetchProgress: {
        job,
        blobs: blobs.map(blob => ({ digest: blob.digest, state: PREFETCH_BLOB_STATES[blob.state], bytes: BigInt(blob.bytes), failure: blob.failure == null ? undefined : prefetchFailure(blob.failure), ...stripeFields(blob.stripe) }))
      }
    })
  }

  /** Closes the stream (a leave); the close event follows. */
  close (): void {
    this.#finish(undefined)
    this.#channel.close()
  }

  #send (message: Partial<AgentMessage>): void {
    if (this.#closed) return
    const frame = AgentMessage.encode(message as AgentMessage)
    this.#writes = this.#writes.then(async () => {
      if (!this.#closed) await this.#channel.write(frame)
    }).catch((err: Error) => {
      this.#finish(err)
      this.#channel.abort(err)
    })
  }

  #readLoop (): void {
    void (async () => {
      try {
        for (;;) {
          const message = decodeSchedulerMessage(await this.#channel.read())
          if (message.kind === 'parents') this.emit('parents', message)
          else if (message.kind === 'origin') this.emit('origin', message)
          else if (message.kind === 'pieceTable') this.emit('pieceTable', message)
          else if (message.kind === 'prefetch') this.emit('prefetch', message)
          else if (message.kind === 'prefetchCancel') this.emit('prefetchCancel', message)
          else if (message.kind === 'members') this.emit('members', message)
        }
      } catch (err) {
        // The end of the stream is a leave, not a fault.
        const error = (err as Error).name === 'UnexpectedEOFError' ? undefined : err as Error
        if (error != null) this.#channel.abort(error)
        this.#finish(error)
      }
    })()
  }

  #finish (err: Error | undefined): void {
    if (this.#closed) return
    this.#closed = true
    this.emit('close', err)
  }
}
