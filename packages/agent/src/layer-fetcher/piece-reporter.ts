import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { Digest } from '@shoal/proto'
import { recordedTable } from '../piece-store/blob-record.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { SchedulerSession } from '../scheduler-client/session.ts'
import type { PieceFetchedEvent } from './events.ts'

/** What the reporter needs of a scheduler session. */
export type ReportingSession = Pick<SchedulerSession, 'piecesFinished' | 'pieceTable' | 'closed' | 'reportIntervalMs'>

/**
 * Finished pieces go to the scheduler once they are committed (offered to peers), in batches, at
 * most every report interval, with the agent's piece table when it has news. While bytes of an
 * assigned origin read arrive and no origin piece is to be reported (nor waits for its commit), an
 * empty origin report says the read goes on: at 2 Mbit a piece takes 8 s and more, and the
 * scheduler, seeing no piece, took its readers for stalled and moved their reads from one to the next.
 */
export class PieceReporter {
  readonly #session: ReportingSession
  readonly #store: Pick<PieceStore, 'get'>
  readonly #digest: Digest
  /** Pieces fetched and not yet committed: told when they are. */
  readonly #fetched = new Map<number, PieceFetchedEvent>()
  readonly #pending = new Map<string, { indexes: number[], bytes: number, source: 'peer' | 'origin', parent?: string }>()
  #timer?: ReturnType<typeof setTimeout>
  /** Pieces read from the origin since the table was last sent: CIDs the swarm may not know yet. */
  #originSinceTable = false
  /** Bytes of assigned origin reads that arrived since the last report (the scheduler's measure of the agent's pace). */
  #originBytes = 0
  /** Assigned pieces whose origin reads are under way, and whether that changed since the last report. */
  readonly #reading = new Set<number>()
  #readingChanged = false

  constructor (session: ReportingSession, store: Pick<PieceStore, 'get'>, digest: Digest) {
    this.#session = session
    this.#store = store
    this.#digest = digest
  }

  finished (event: PieceFetchedEvent): void {
    this.#fetched.set(event.index, event)
  }

  /** Bytes of an assigned origin piece arrived (OriginBytesEvent). */
  originBytes (bytes: number): void {
    this.#originBytes += bytes
    this.#timer ??= setTimeout(() => { this.flush() }, this.#session.reportIntervalMs)
  }

  /** The origin read of an assigned piece began or ended (OriginReadingEvent): the next report names what is under way. */
  originReading (index: number, reading: boolean): void {
    if (reading) this.#reading.add(index)
    else this.#reading.delete(index)
    this.#readingChanged = true
    this.#timer ??= setTimeout(() => { this.flush() }, this.#session.reportIntervalMs)
  }

  committed (indexes: number[]): void {
    for (const index of indexes) {
      const event = this.#fetched.get(index)
      if (event == null) continue
      this.#fetched.delete(index)
      this.#add(event)
    }
  }

  #add (event: PieceFetchedEvent): void {
    const key = `${event.source}/${event.peer ?? ''}`
    const batch = this.#pending.get(key) ?? { indexes: [], bytes: 0, source: event.source, parent: event.peer }
    batch.indexes.push(event.index)
    batch.bytes += event.bytes
    if (event.source === 'origin') this.#originSinceTable = true
    this.#pending.set(key, batch)
    this.#timer ??= setTimeout(() => { this.flush() }, this.#session.reportIntervalMs)
  }

  /** Sends what is pending, then the agent's table; at the end (`final`) the table goes out even with nothing pending, now that every piece is recorded. */
  flush (final = false): void {
    clearTimeout(this.#timer)
    this.#timer = undefined
    let originBytes = this.#originBytes
    const readingChanged = this.#readingChanged
    this.#originBytes = 0
    this.#readingChanged = false
    if ((this.#pending.size === 0 && !final && originBytes === 0 && !readingChanged) || this.#session.closed) return
    const reading = [...this.#reading].sort((a, b) => a - b)
    // The bytes and the reads under way go with the origin pieces reported now, or alone.
    if ((originBytes > 0 || readingChanged) && ![...this.#pending.values()].some(batch => batch.source === 'origin')) {
      this.#session.piecesFinished({ digest: this.#digest, indexes: [], source: 'origin', bytes: 0, originBytes, reading })
      originBytes = 0
    }
    for (const batch of this.#pending.values()) {
      const origin = batch.source === 'origin'
      this.#session.piecesFinished({ digest: this.#digest, indexes: batch.indexes, source: batch.source, parent: batch.parent == null ? undefined : parsePeer(batch.parent), bytes: batch.bytes, originBytes: origin ? originBytes : 0, reading: origin ? reading : [] })
      if (origin) originBytes = 0
    }
    this.#pending.clear()
    // Pieces from peers were checked against a table the swarm already has: only origin pieces (and
    // the end) bring CIDs worth sending.
    if (!this.#originSinceTable && !final) return
    this.#originSinceTable = false
    const record = this.#store.get(this.#digest)
    if (record != null) {
      this.#session.pieceTable(recordedTable(record))
    }
  }

  /** At the end every piece is recorded: what was fetched goes out now. */
  stop (): void {
    for (const event of this.#fetched.values()) this.#add(event)
    this.#fetched.clear()
    this.flush(true)
  }
}

/** A peer id from an event's text form; undefined when it does not parse. */
export function parsePeer (text: string): PeerId | undefined {
  try {
    return peerIdFromString(text)
  } catch {
    return undefined
  }
}
