import { ORIGIN_RUN_BYTES } from '@shoal/proto'
import { ORIGIN_HAND_OFF_MIN_SHARE, ORIGIN_PIECE_READS_IN_FLIGHT } from '../constants.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { fetchOriginRange } from './sources/origin.ts'
import type { OriginBlobRequest, OriginLimiter } from './sources/origin.ts'
import type { OriginPieceRead, OriginPieceReader } from './sources/origin-range.ts'

export interface OriginReadsComponents {
  upstream: UpstreamClient
  limiter?: OriginLimiter
  /** Bytes read from the origin (for the agent's counters). */
  onBytes?: (bytes: number) => void
}

/** A piece read waiting for a slot, or part of a read under way. */
interface Asked {
  /** The reader it came through: reads of one download (one blob, one client's request) join. */
  reader: object
  req: OriginBlobRequest
  offset: number
  length: number
  signal: AbortSignal
  stillWanted?: () => boolean
  onBytes?: (bytes: number) => void
  onReading?: (reading: boolean) => void
  /** Its read has begun and not ended (onReading told so). */
  reading: boolean
  queuedAt: number
  answer: PromiseWithResolvers<OriginPieceRead | undefined>
}

/**
 * The agent's origin Range reads of pieces, for every blob, download and stripe: a few at a time
 * (ORIGIN_PIECE_READS_IN_FLIGHT), nearest their blob's start first, joined and pipelined.
 *
 * Joined: a free slot takes the piece nearest its blob's start and the pieces of the same download
 * asked for right after it, up to ORIGIN_RUN_BYTES, and reads them in one request; each is answered
 * as soon as its own bytes are in. A scheduler deals a cold blob's small pieces in runs (originRunFor),
 * and the read-ahead asks for a run at once, so one answer of the origin brings 2 MiB, not 256 KiB.
 *
 * Pipelined: a read hands its slot on once its remaining bytes will take no longer than its own
 * first byte took (handOffDue), so the next read's request crosses the path while those bytes
 * arrive and its first byte follows them closely. With one read at a time and no hand-off, every
 * piece cost the origin's link a round trip of idle: 3 hosts at 100 Mbit, the origin 100 ms away,
 * pulled in 1.40x the link's limit against 1.20x with the origin near (docs/dev/origin-hop.md).
 * Where the origin's answers queue behind other readers' bytes, the next answer waits in that queue
 * instead of the link waiting for it.
 */
export class OriginReads {
  readonly #components: OriginReadsComponents
  #free: number
  readonly #queue: Asked[] = []
  #pumpDue = false

  constructor (components: OriginReadsComponents, init: { inFlight?: number } = {}) {
    this.#components = components
    this.#free = Math.max(1, init.inFlight ?? ORIGIN_PIECE_READS_IN_FLIGHT)
  }

  /**
   * The reader of one blob's pieces for this client's request. Its reads wait for a slot; one given
   * up by its signal leaves the queue with the signal's reason (or, joined to a read under way,
   * that read goes on for the others).
   */
  readerFor (req: OriginBlobRequest): OriginPieceReader {
    const reader = {}
    return async (offset, length, signal, options = {}) => {
      const { stillWanted, onBytes, onReading } = options
      signal.throwIfAborted()
      const asked: Asked = { reader, req, offset, length, signal, stillWanted, onBytes, onReading, reading: false, queuedAt: performance.now(), answer: Promise.withResolvers() }
      const onAbort = (): void => {
        const index = this.#queue.indexOf(asked)
        if (index >= 0) this.#queue.splice(index, 1)
        asked.answer.reject(signal.reason)
      }
      signal.addEventListener('abort', onAbort, { once: true })
      this.#queue.push(asked)
      this.#pumpSoon()
      try {
        return await asked.answer.promise
      } finally {
        signal.removeEventListener('abort', onAbort)
      }
    }
  }

  /** Starts reads once the caller's turn ends: pieces asked for together are all queued by then, and join. */
  #pumpSoon (): void {
    if (this.#pumpDue) return
    this.#pumpDue = true
    queueMicrotask(() => {
      this.#pumpDue = false
      this.#pump()
    })
  }

  #pump (): void {
    while (this.#free > 0 && this.#queue.length > 0) {
      const run = this.#takeRun()
      if (run.length === 0) continue
      this.#free--
      void this.#read(run)
    }
  }

  /**
   * The waiting piece nearest the start of its blob (the oldest among equals) and those asked for
   * right after it in the same download; [] when it is no longer wanted. Nearest the start, because
   * a client reads a blob in order and every agent's stream waits on a blob's first pieces first:
   * taken first come, first served, an agent that read the first run of every layer of an image read
   * them one after the other, and the third layer's first piece came 10.5 s into a pull of 8 hosts
   * at 25 Mbit. A later piece waits only for pieces nearer their blob's start, which are finite.
   */
  #takeRun (): Asked[] {
    let at = 0
    for (let i = 1; i < this.#queue.length; i++) if (this.#queue[i]!.offset < this.#queue[at]!.offset) at = i
    const first = this.#queue.splice(at, 1)[0]!
    if (first.stillWanted?.() === false) {
      first.answer.resolve(undefined)
      return []
    }
    const run = [first]
    let end = first.offset + first.length
    let bytes = first.length
    for (;;) {
      const index = this.#queue.findIndex(a => a.reader === first.reader && a.offset === end && bytes + a.length <= ORIGIN_RUN_BYTES)
      if (index < 0) break
      const next = this.#queue.splice(index, 1)[0]!
      if (next.stillWanted?.() === false) {
        next.answer.resolve(undefined)
        break
      }
      run.push(next)
      end += next.length
      bytes += next.length
    }
    return run
  }

  /** One Range request for the run; each piece is answered when its bytes are in, the rest fail with the read. */
  async #read (run: Asked[]): Promise<void> {
    const { upstream, limiter, onBytes } = this.#components
    const length = run.reduce((sum, a) => sum + a.length, 0)
    const startedAt = performance.now()
    let headersAt = startedAt
    let firstChunk: { at: number, filled: number } | undefined
    let filled = 0
    let handedOff = false
    const handOff = (): void => {
      if (handedOff) return
      handedOff = true
      this.#free++
      this.#pump()
    }
    // The read goes on while any of its pieces is still wanted.
    const controller = new AbortController()
    let wanted = run.length
    const unwanted = (): void => { if (--wanted === 0) controller.abort(new Error('no piece of this origin read is wanted any more')) }
    for (const a of run) a.signal.addEventListener('abort', unwanted, { once: true })
    const ended = (a: Asked): void => {
      if (!a.reading) return
      a.reading = false
      a.onReading?.(false)
    }
    for (const a of run) {
      a.reading = true
      a.onReading?.(true)
    }
    let piece = 0
    let chunks: Uint8Array[] = []
    let pieceFilled = 0
    // When the piece's own first byte came: a later piece of a run waits for those before it.
    let pieceStartedAt = startedAt
    const take = (chunk: Uint8Array): void => {
      while (chunk.byteLength > 0) {
        const a = run[piece]!
        if (pieceFilled === 0) pieceStartedAt = piece === 0 ? headersAt : performance.now()
        const part = Math.min(chunk.byteLength, a.length - pieceFilled)
        chunks.push(part < chunk.byteLength ? chunk.subarray(0, part) : chunk)
        chunk = chunk.subarray(part)
        pieceFilled += part
        a.onBytes?.(part)
        if (pieceFilled < a.length) continue
        onBytes?.(a.length)
        ended(a)
        a.answer.resolve({ chunks, slotSeconds: (startedAt - a.queuedAt) / 1000, firstByteSeconds: (pieceStartedAt - startedAt) / 1000 })
        piece++
        chunks = []
        pieceFilled = 0
      }
    }
    try {
      await fetchOriginRange(upstream, run[0]!.req, { offset: run[0]!.offset, length }, {
        limiter,
        signal: controller.signal,
        onHeaders: () => { headersAt = performance.now() },
        onChunk: chunk => {
          take(chunk)
          filled += chunk.byteLength
          const now = performance.now()
          if (firstChunk == null) firstChunk = { at: now, filled }
          else if (filled < length && handOffDue({ length, filled, firstByteMs: headersAt - startedAt, since: firstChunk, now })) handOff()
        }
      })
    } catch (err) {
      for (const a of run.slice(piece)) a.answer.reject(err)
    } finally {
      for (const a of run) {
        a.signal.removeEventListener('abort', unwanted)
        ended(a)
      }
      handOff()
    }
  }
}

export interface HandOffInput {
  /** The read's length and the bytes received so far. */
  length: number
  filled: number
  /** How long the read waited for the origin's answer (its round trip and the origin's own time). */
  firstByteMs: number
  /** When the first chunk arrived and the bytes received then: the rate is measured from there. */
  since: { at: number, filled: number }
  now: number
}

/**
 * Whether a read's slot may pass to the next read: its remaining bytes, at the rate they have been
 * arriving, take no longer than its first byte took, and enough has arrived to tell the rate
 * (ORIGIN_HAND_OFF_MIN_SHARE of the read, over at least two chunks).
 */
export function handOffDue (read: HandOffInput): boolean {
  const { length, filled, firstByteMs, since, now } = read
  if (filled < length * ORIGIN_HAND_OFF_MIN_SHARE || filled <= since.filled || now <= since.at) return false
  const bytesPerMs = (filled - since.filled) / (now - since.at)
  return (length - filled) / bytesPerMs <= firstByteMs
}
