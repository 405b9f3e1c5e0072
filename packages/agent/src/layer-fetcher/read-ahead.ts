import { setTimeout as sleep } from 'node:timers/promises'
import { pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { READ_AHEAD_MAX_ORIGIN_BACKOFF_MS } from '../constants.ts'
import type { PartialBlob } from '../piece-store/partial-blob.ts'
import { nextAhead } from './piece-book.ts'
import type { Piece } from './sources/piece-source.ts'

/** Where pieces read ahead go: the blob's partial file (written, recorded, and so offered to peers). */
export interface AheadStore {
  has: (index: number) => boolean
  write: (index: number, chunks: readonly Uint8Array[], digest: Digest) => Promise<void>
  read: (index: number) => Promise<Uint8Array>
}

/** A blob's partial file as the store of pieces read ahead. */
export function partialAheadStore (partial: PartialBlob): AheadStore {
  return {
    has: index => partial.hasPiece(index),
    write: async (index, chunks, digest) => { await partial.writePiece(index, chunks, digest) },
    read: async index => {
      const span = pieceSpan(partial.size, index)
      return partial.read(span.offset, span.length)
    }
  }
}

export interface ReadAheadInit {
  pieceCount: number
  /** Pieces the scheduler assigned this agent to read from the origin (may change): read first, lowest first. */
  assigned: () => ReadonlySet<number>
  /** How many live peers hold piece `index` (0: none known). */
  holders: (index: number) => number
  /** The next piece the in-order stream needs: pieces before it are behind us. */
  head: () => number
  /** A piece, checked, with its digest; shared with the in-order stream, so a piece is fetched once. */
  fetch: (index: number, signal: AbortSignal) => Promise<Piece>
  store: AheadStore
  /** Pieces read ahead at once for this blob. */
  workers: number
  /**
   * Consecutive assigned pieces asked for at once (originRunFor; default 1): the origin reads join
   * them into one request (OriginReads), as the scheduler deals them.
   */
  originRun?: number
  /** How often to look again when nothing can be read ahead now. */
  idleMs?: number
  /**
   * Asks the peers still downloading the blob what they hold now, when nothing can be read ahead:
   * a piece a peer finished a moment ago is worth fetching at once, not when the scheduler next says.
   */
  refresh?: (signal: AbortSignal) => Promise<void>
  onError?: (index: number, err: Error) => void
}

/**
 * Reads pieces ahead of the agent's own client and stores them at once, so peers can take them:
 * first the pieces the scheduler assigned it to read from the origin (so the swarm holds the whole
 * blob as soon as the origin link allows), then, rarest first, pieces some peer holds. Without it,
 * every agent asks for the same next pieces of its in-order stream at the same moment, those sit
 * on one or two peers, and the swarm moves in lockstep at the pace of one uploader.
 */
export class ReadAhead {
  readonly #init: ReadAheadInit
  /** Pieces read ahead and stored: their digest and where they came from, for the stream that takes them. */
  readonly #stored = new Map<number, Omit<Piece, 'chunks'>>()
  /** Pieces being read and stored: the stream that reaches one takes these bytes instead of reading it again. */
  readonly #underWay = new Map<number, Promise<Piece>>()
  readonly #taken = new Set<number>()
  /** Runs of assigned pieces being read: one at a time per blob, in order; the other workers take pieces peers hold. */
  #assignedUnderWay = 0
  /** Assigned (origin) reads that failed in a row: each waits twice as long before the next try. */
  #assignedFailures = 0
  readonly #controller = new AbortController()
  #running?: Promise<void>

  constructor (init: ReadAheadInit) {
    this.#init = init
  }

  start (): void {
    this.#running ??= Promise.all(Array.from({ length: Math.max(1, this.#init.workers) }, async () => { await this.#work() })).then(() => {})
  }

  async stop (): Promise<void> {
    this.#controller.abort()
    await this.#running
  }

  /**
   * A piece read ahead: its bytes and digest, from memory while it is being stored, then from the
   * store; undefined for a piece not read ahead.
   */
  take (index: number): Promise<Piece> | undefined {
    const underWay = this.#underWay.get(index)
    if (underWay != null) return underWay
    const stored = this.#stored.get(index)
    if (stored == null) return undefined
    return this.#init.store.read(index).then(bytes => ({ ...stored, chunks: [bytes] }))
  }

  async #work (): Promise<void> {
    const signal = this.#controller.signal
    while (!signal.aborted) {
      const next = this.#next()
      if (next.length === 0) {
        // An abort only cuts the pause short; the loop sees the signal.
        await sleep(this.#init.idleMs ?? 100, undefined, { signal }).catch(() => {})
        if (this.#next().length === 0) await this.#init.refresh?.(signal).catch(() => {})
        continue
      }
      const assigned = this.#init.assigned().has(next[0]!)
      if (assigned) this.#assignedUnderWay++
      // All asked for in this turn, so that their origin reads join.
      const failed = (await Promise.all(next.map(async index => this.#readOne(index, signal)))).some(ok => !ok)
      if (failed && assigned) this.#assignedFailures++
      else if (assigned) this.#assignedFailures = 0
      // A piece no holder gave now is looked at again soon; an origin that keeps failing is asked
      // less and less often (it was tried every ~110 ms for as long as the download lasted).
      const idleMs = this.#init.idleMs ?? 100
      const pause = !failed || signal.aborted ? 0 : assigned ? Math.min(idleMs * 2 ** (this.#assignedFailures - 1), READ_AHEAD_MAX_ORIGIN_BACKOFF_MS) : idleMs
      try {
        // An abort only cuts the pause short; the loop sees the signal.
        if (pause > 0) await sleep(pause, undefined, { signal }).catch(() => {})
      } finally {
        // Through its pause a failed assigned read still counts: the other workers leave the origin alone meanwhile.
        if (assigned) this.#assignedUnderWay--
      }
    }
  }

  /** Reads and stores one piece; false when that failed (the stream reads it when it gets there, and a later pick may try it again). */
  async #readOne (index: number, signal: AbortSignal): Promise<boolean> {
    this.#taken.add(index)
    const job = (async () => {
      const piece = await this.#init.fetch(index, signal)
      await this.#init.store.write(index, piece.chunks, piece.digest)
      return piece
    })()
    this.#underWay.set(index, job)
    try {
      const { digest, from } = await job
      this.#stored.set(index, { digest, from })
      return true
    } catch (err) {
      this.#taken.delete(index)
      if (!signal.aborted) this.#init.onError?.(index, err as Error)
      return false
    } finally {
      // Only this job's entry: once it failed, another worker may have picked the piece again. A
      // failed job that kept its entry through its pause removed the next one's, and the stream,
      // finding the piece neither under way nor stored, fetched it a second time.
      if (this.#underWay.get(index) === job) this.#underWay.delete(index)
    }
  }

  /** The next piece to read ahead, with the assigned pieces right after an assigned one (up to originRun); [] for none now. */
  #next (): number[] {
    const { assigned, holders, head, pieceCount, store } = this.#init
    const open = (index: number): boolean => !this.#taken.has(index) && !store.has(index)
    const owned = assigned()
    const first = nextAhead({
      head: head(),
      pieceCount,
      open,
      readingAssigned: this.#assignedUnderWay > 0,
      assigned: owned,
      holders,
      random: Math.random
    })
    if (first == null) return []
    const run = [first]
    if (!owned.has(first)) return run
    const most = Math.max(1, this.#init.originRun ?? 1)
    for (let index = first + 1; run.length < most && index < pieceCount && owned.has(index) && open(index); index++) run.push(index)
    return run
  }
}
