import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { PEER_PLAN_TIMEOUT_MS, PEER_TABLE_ASKS_PER_REFRESH, PEER_REFRESH_INTERVAL_MS } from '../constants.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import { raceSignal } from '../race-signal.ts'
import type { PieceBook } from './piece-book.ts'

export type { PeerPlan, PlannedPeer } from './piece-book.ts'

export interface SwarmViewInit {
  client: Pick<PieceExchangeClient, 'pieceTable' | 'bitfield'>
  refreshMs?: number
  /** How long a peer may take to answer one refresh's table or bitfield request (PEER_PLAN_TIMEOUT_MS). */
  answerTimeoutMs?: number
}

/**
 * The network side of a blob's PieceBook: peers that are still downloading the blob are asked
 * again (table and bitfields) while pieces are missing, so a download can follow another agent's
 * download piece by piece: that is how several agents pulling one cold blob at once cost the origin
 * about one copy.
 */
export class SwarmView {
  readonly book: PieceBook
  readonly #client: SwarmViewInit['client']
  readonly #refreshMs: number
  readonly #answerTimeoutMs: number
  /** Ends the refresh under way when the download is closed (stop). */
  readonly #lifetime = new AbortController()
  #refreshing?: Promise<void>

  constructor (book: PieceBook, init: SwarmViewInit) {
    this.book = book
    this.#client = init.client
    this.#refreshMs = init.refreshMs ?? PEER_REFRESH_INTERVAL_MS
    this.#answerTimeoutMs = init.answerTimeoutMs ?? PEER_PLAN_TIMEOUT_MS
  }

  /** Ends the refresh under way; the view is not refreshed again. */
  stop (): void {
    this.#lifetime.abort()
  }

  /**
   * Waits until some live peer holds the piece and the table names it: true. false when no peer
   * can give it (PieceBook.stalled), or when `giveUp` says so.
   */
  async waitFor (index: number, signal: AbortSignal, giveUp?: () => boolean): Promise<boolean> {
    for (;;) {
      if (this.book.holders(index).length > 0) return true
      if (giveUp?.() === true) return false
      if (this.book.stalled()) return false
      await sleep(this.#refreshMs, undefined, { signal })
      await this.refresh(signal)
    }
  }

  /**
   * One refresh at a time, shared by every piece waiting on it. It runs for the view, not for the
   * caller that started it: a caller that gives up (its own signal) stops waiting, and the others
   * still get the answers.
   */
  async refresh (signal: AbortSignal): Promise<void> {
    if (this.#refreshing == null) {
      const refreshing = this.#refresh().finally(() => { this.#refreshing = undefined })
      // Its waiters get its failure below; once they all gave up, a stop's AbortError has no one to tell.
      refreshing.catch(() => {})
      this.#refreshing = refreshing
    }
    await raceSignal(this.#refreshing, signal)
  }

  async #refresh (): Promise<void> {
    const book = this.book
    this.#lifetime.signal.throwIfAborted()
    const asking = this.#asking()
    let learned = 0
    await Promise.all(book.growingPeers().map(async peer => {
      try {
        learned += book.updatePeer(peer, await this.#client.bitfield(peer.id, book.table.digest, book.pieceCount, asking))
      } catch {
        this.#failed(peer.id, asking.signal)
      }
    }))
    if (book.table.pieces.some(cid => cid == null)) learned += await this.#refreshTable(this.#asking())
    if (learned > 0) book.progressed()
  }

  /** The signal of one round of requests: the view stopped, or the answer timeout. */
  #asking (): { signal: AbortSignal } {
    return { signal: AbortSignal.any([this.#lifetime.signal, AbortSignal.timeout(this.#answerTimeoutMs)]) }
  }

  /**
   * A peer that failed a request is passed over, and dropped for the blob when it keeps failing
   * (PieceBook.failed); one that only answered late is kept: on a slow, full link a small answer
   * waits behind the piece data ahead of it on the connection, and a peer slow to answer may still
   * be the only holder of a piece. Only the view's stop ends the refresh: the timeout of one round
   * is not the download's.
   */
  #failed (peer: PeerId, asking: AbortSignal): void {
    this.#lifetime.signal.throwIfAborted()
    if (asking.aborted) return
    this.book.failed(peer)
  }

  /**
   * Fills the table's holes. A peer knows the CIDs of the pieces it holds, so each hole is asked of
   * a live peer holding that piece (the table's source first), a few peers per round; with no such
   * peer, the table's source (or the peer holding most) is asked for what it has learned since.
   */
  async #refreshTable (options: { signal: AbortSignal }): Promise<number> {
    const book = this.book
    const live = book.livePeers()
    const source = live.find(p => book.tableSource != null && p.id.equals(book.tableSource))
    const asked = new Map<string, PeerId>()
    for (let i = 0; i < book.pieceCount && asked.size < PEER_TABLE_ASKS_PER_REFRESH; i++) {
      if (book.table.pieces[i] != null) continue
      const holder = source?.bitfield.has(i) === true ? source : live.find(p => p.bitfield.has(i))
      if (holder != null) asked.set(holder.id.toString(), holder.id)
    }
    if (asked.size === 0) {
      const fallback = source ?? [...live].sort((a, b) => b.bitfield.count() - a.bitfield.count()).find(p => p.bitfield.count() > 0)
      if (fallback == null) return 0
      asked.set(fallback.id.toString(), fallback.id)
    }
    const learned = await Promise.all([...asked.values()].map(async peer => {
      let table
      try {
        table = await this.#client.pieceTable(peer, book.table.digest, { size: book.table.size, ...options })
      } catch {
        this.#failed(peer, options.signal)
        return 0
      }
      try {
        return book.learnTable(table, peer)
      } catch {
        // A table that contradicts what is known: no use for this blob.
        book.drop(peer)
        return 0
      }
    }))
    return learned.reduce((a, b) => a + b, 0)
  }
}
