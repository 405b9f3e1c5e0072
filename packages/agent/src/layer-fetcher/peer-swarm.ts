import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { mergePieceTables } from '@shoal/proto'
import type { Bitfield, CID, PieceTable } from '@shoal/proto'
import { PEER_BUSY_BACKOFF_MS, PEER_MAX_REFUSALS, PEER_PLAN_TIMEOUT_MS, PEER_TABLE_ASKS_PER_REFRESH, PEER_REFRESH_INTERVAL_MS, PEER_STALL_MIN_BYTES_PER_S, PEER_STALL_MS } from '../constants.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'

/** A peer that holds pieces of the blob, with what it said it holds. */
export interface PlannedPeer {
  id: PeerId
  bitfield: Bitfield
  /** It holds the whole blob, verified: its bitfield will not grow. */
  complete: boolean
}

/** Where a blob's pieces can come from: a piece table (maybe with holes) from `tableSource`, and the peers. */
export interface PeerPlan {
  table: PieceTable
  /** The peer that gave the table; none when it came from elsewhere (a scheduler) or is still empty. */
  tableSource?: PeerId
  peers: PlannedPeer[]
}

export interface SwarmViewInit {
  client: Pick<PieceExchangeClient, 'pieceTable' | 'bitfield'>
  refreshMs?: number
  stallMs?: number
  /**
   * Whether more sources may still come though no known peer is downloading (a scheduler is
   * handing out parents and origin assignments): missing pieces are then waited for, up to the stall time.
   */
  expectMore?: () => boolean
}

/**
 * What this agent knows of one blob among its peers: the piece table, who holds which piece, who
 * is dropped. Peers that are still downloading the blob are asked again (table and bitfields)
 * while pieces are missing, so a download can follow another agent's download piece by piece:
 * that is how several agents pulling one cold blob at once cost the origin about one copy.
 */
export class SwarmView {
  readonly table: PieceTable
  readonly peers: PlannedPeer[]
  /** Peers whose piece table entries are in `table` (banned if the blob then fails its digest). */
  readonly tableSources = new Set<string>()
  readonly #dropped = new Set<string>()
  readonly #refusals = new Map<string, number>()
  /** Peers that answered BUSY, until when they are passed over. */
  readonly #busyUntil = new Map<string, number>()
  /** The piece count each peer last reported (progress is measured against it, not against forget()). */
  readonly #reported = new Map<string, number>()
  readonly #client: SwarmViewInit['client']
  readonly #refreshMs: number
  readonly #stallMs: number
  #tableSource?: PeerId
  readonly #expectMore: () => boolean
  #lastProgressAt = performance.now()
  #refreshing?: Promise<void>

  constructor (plan: PeerPlan, init: SwarmViewInit) {
    this.table = plan.table
    this.peers = plan.peers
    this.#tableSource = plan.tableSource
    if (plan.tableSource != null) this.tableSources.add(plan.tableSource.toString())
    this.#expectMore = init.expectMore ?? (() => false)
    for (const peer of plan.peers) this.#reported.set(peer.id.toString(), peer.bitfield.count())
    this.#client = init.client
    this.#refreshMs = init.refreshMs ?? PEER_REFRESH_INTERVAL_MS
    // Progress is seen a whole piece at a time: big pieces from a slow origin take a while each.
    this.#stallMs = init.stallMs ?? Math.max(PEER_STALL_MS, 1000 * plan.table.pieceSize / PEER_STALL_MIN_BYTES_PER_S)
  }

  /** The piece's CID when the table names it. */
  cid (index: number): CID | undefined {
    return this.table.pieces[index]
  }

  isDropped (peer: PeerId): boolean {
    return this.#dropped.has(peer.toString())
  }

  /**
   * The peer said it does not have the piece (it evicted the blob, or answered before its write
   * was durable): not asked for it again until its next bitfield says otherwise.
   */
  forget (peer: PeerId, index: number): void {
    const planned = this.peers.find(p => p.id.equals(peer))
    if (planned == null) return
    const key = peer.toString()
    const refusals = (this.#refusals.get(key) ?? 0) + 1
    this.#refusals.set(key, refusals)
    // A peer that keeps refusing what its bitfield offers is no use for this blob.
    if (refusals > PEER_MAX_REFUSALS) this.drop(peer)
    planned.bitfield.clear(index)
    // It holds less than it said, so it is not known to be complete any more: ask it again.
    planned.complete = false
  }

  /** The peer answered BUSY: it is asked for nothing of this blob for a moment while others hold what is needed. */
  busy (peer: PeerId): void {
    this.#busyUntil.set(peer.toString(), performance.now() + PEER_BUSY_BACKOFF_MS)
  }

  /** How long the peer is still passed over after its BUSY (0: free). */
  busyFor (peer: PeerId): number {
    return Math.max(0, (this.#busyUntil.get(peer.toString()) ?? 0) - performance.now())
  }

  /** Returns true when this call dropped the peer (false when it already was). */
  drop (peer: PeerId): boolean {
    const key = peer.toString()
    if (this.#dropped.has(key)) return false
    this.#dropped.add(key)
    return true
  }

  /**
   * Peers not dropped that hold the piece, when the table names it (a piece without a CID cannot be
   * checked); those that answered BUSY a moment ago only when no other holder is free.
   */
  holders (index: number): PlannedPeer[] {
    if (this.table.pieces[index] == null) return []
    const all = this.peers.filter(p => !this.#dropped.has(p.id.toString()) && p.bitfield.has(index))
    if (this.#busyUntil.size === 0) return all
    const now = performance.now()
    const free = all.filter(p => (this.#busyUntil.get(p.id.toString()) ?? 0) <= now)
    return free.length > 0 ? free : all
  }

  /** Whether a live peer is still downloading the blob, or a scheduler may send more (pieces may yet come). */
  get growing (): boolean {
    return this.#expectMore() || this.peers.some(p => !p.complete && !this.#dropped.has(p.id.toString()))
  }

  /** Peers a scheduler named: new ones join the view, a known one's bitfield is taken when it holds more. */
  addPeers (peers: PlannedPeer[]): void {
    let learned = false
    for (const peer of peers) {
      const key = peer.id.toString()
      if (this.#dropped.has(key)) continue
      const known = this.peers.find(p => p.id.equals(peer.id))
      if (known == null) {
        this.peers.push(peer)
        this.#reported.set(key, peer.bitfield.count())
        learned = true
      } else if (peer.bitfield.count() > known.bitfield.count()) {
        known.bitfield = peer.bitfield
        known.complete = peer.complete
        learned = true
      }
    }
    if (learned) this.#lastProgressAt = performance.now()
  }

  /**
   * A piece arrived from a peer: the swarm is moving. A busy uploader's answers to bitfield requests
   * queue behind its piece data on the same connection, so its growth can go unseen for seconds
   * while its pieces keep arriving; that is not a stall.
   */
  pieceArrived (): void {
    this.#lastProgressAt = performance.now()
  }

  /** A piece table from elsewhere (a scheduler relays one): fills holes, never changes a known piece. */
  learnTable (table: PieceTable): void {
    if (mergePieceTables(this.table, table) > 0) this.#lastProgressAt = performance.now()
  }

  /**
   * Waits until some live peer holds the piece and the table names it: true. false when no peer
   * can give it: none is still downloading, or none has made progress for the stall time.
   */
  async waitFor (index: number, signal: AbortSignal, giveUp?: () => boolean): Promise<boolean> {
    for (;;) {
      if (this.holders(index).length > 0) return true
      if (giveUp?.() === true) return false
      if (!this.growing || performance.now() - this.#lastProgressAt > this.#stallMs) return false
      await sleep(this.#refreshMs, undefined, { signal })
      await this.refresh(signal)
    }
  }

  /** One refresh at a time, shared by every piece waiting on it. */
  async refresh (signal: AbortSignal): Promise<void> {
    this.#refreshing ??= this.#refresh(signal).finally(() => { this.#refreshing = undefined })
    await this.#refreshing
  }

  async #refresh (signal: AbortSignal): Promise<void> {
    const options = { signal: AbortSignal.any([signal, AbortSignal.timeout(PEER_PLAN_TIMEOUT_MS)]) }
    const growing = this.peers.filter(p => !p.complete && !this.#dropped.has(p.id.toString()))
    let learned = 0
    await Promise.all(growing.map(async peer => {
      try {
        const fresh = await this.#client.bitfield(peer.id, this.table.digest, this.table.pieces.length, options)
        const count = fresh.bitfield.count()
        learned += Math.max(0, count - (this.#reported.get(peer.id.toString()) ?? 0))
        this.#reported.set(peer.id.toString(), count)
        peer.bitfield = fresh.bitfield
        peer.complete = fresh.complete
      } catch {
        signal.throwIfAborted()
        this.drop(peer.id)
      }
    }))
    if (this.table.pieces.some(cid => cid == null)) learned += await this.#refreshTable(options)
    if (learned > 0) this.#lastProgressAt = performance.now()
  }

  /**
   * Fills the table's holes. A peer knows the CIDs of the pieces it holds, so each hole is asked of
   * a live peer holding that piece (the table's source first), a few peers per round; with no such
   * peer, the table's source (or the peer holding most) is asked for what it has learned since.
   */
  async #refreshTable (options: { signal: AbortSignal }): Promise<number> {
    const live = this.peers.filter(p => !this.#dropped.has(p.id.toString()))
    const source = live.find(p => this.#tableSource != null && p.id.equals(this.#tableSource))
    const asked = new Map<string, PeerId>()
    for (let i = 0; i < this.table.pieces.length && asked.size < PEER_TABLE_ASKS_PER_REFRESH; i++) {
      if (this.table.pieces[i] != null) continue
      const holder = source?.bitfield.has(i) === true ? source : live.find(p => p.bitfield.has(i))
      if (holder != null) asked.set(holder.id.toString(), holder.id)
    }
    if (asked.size === 0) {
      const fallback = source ?? [...live].sort((a, b) => b.bitfield.count() - a.bitfield.count()).find(p => p.bitfield.count() > 0)
      if (fallback == null) return 0
      asked.set(fallback.id.toString(), fallback.id)
    }
    const learned = await Promise.all([...asked.values()].map(async peer => {
      try {
        const fresh = await this.#client.pieceTable(peer, this.table.digest, { size: this.table.size, ...options })
        const n = mergePieceTables(this.table, fresh)
        if (n > 0) this.tableSources.add(peer.toString())
        this.#tableSource ??= peer
        return n
      } catch {
        options.signal.throwIfAborted()
        // No answer, or a table that contradicts what is known: no use for this blob.
        this.drop(peer)
        return 0
      }
    }))
    return learned.reduce((a, b) => a + b, 0)
  }
}
