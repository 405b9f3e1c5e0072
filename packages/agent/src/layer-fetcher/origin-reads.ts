import { ORIGIN_HAND_OFF_MIN_SHARE, ORIGIN_PIECE_READS_IN_FLIGHT } from '../constants.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { Slots } from './slots.ts'
import { fetchOriginRange } from './sources/origin.ts'
import type { OriginBlobRequest, OriginLimiter } from './sources/origin.ts'
import type { OriginPieceReader } from './sources/origin-range.ts'

export interface OriginReadsComponents {
  upstream: UpstreamClient
  limiter?: OriginLimiter
  /** Bytes read from the origin (for the agent's counters). */
  onBytes?: (bytes: number) => void
}

/**
 * The agent's origin Range reads of pieces, for every blob, download and stripe: a few at a time
 * (ORIGIN_PIECE_READS_IN_FLIGHT), first come, first served, and pipelined. A read hands its slot on
 * once its remaining bytes will take no longer than its own first byte took (handOffDue), so the
 * next read's request crosses the path while those bytes arrive and its first byte follows them
 * closely. With one read at a time and no hand-off, every piece cost the origin's link a round trip
 * of idle: 3 hosts at 100 Mbit, the origin 100 ms away, pulled in 1.40x the link's limit against
 * 1.20x with the origin near (docs/dev/origin-hop.md). Near an idle origin the first byte comes in
 * milliseconds and the hand-off happens at the very end; where the origin's answers queue behind
 * other readers' bytes, the next answer waits in that queue instead of the link waiting for it.
 */
export class OriginReads {
  readonly #components: OriginReadsComponents
  readonly #slots: Slots

  constructor (components: OriginReadsComponents, init: { inFlight?: number } = {}) {
    this.#components = components
    this.#slots = new Slots(init.inFlight ?? ORIGIN_PIECE_READS_IN_FLIGHT)
  }

  /** The reader of one blob's pieces for this client's request. */
  readerFor (req: OriginBlobRequest): OriginPieceReader {
    return async (offset, length, signal, stillWanted) => {
      const queued = performance.now()
      return this.#slots.run(async handOff => {
        if (stillWanted?.() === false) return undefined
        const asked = performance.now()
        let headers = asked
        let firstChunk: { at: number, filled: number } | undefined
        const chunks = await fetchOriginRange(this.#components.upstream, req, { offset, length }, {
          limiter: this.#components.limiter,
          signal,
          onHeaders: () => { headers = performance.now() },
          onBytes: filled => {
            const now = performance.now()
            if (firstChunk == null) {
              firstChunk = { at: now, filled }
              return
            }
            if (handOffDue({ length, filled, firstByteMs: headers - asked, since: firstChunk, now })) handOff()
          }
        })
        this.#components.onBytes?.(length)
        return { chunks, slotSeconds: (asked - queued) / 1000, firstByteSeconds: (headers - asked) / 1000 }
      }, signal)
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
