import type { PeerId } from '@libp2p/interface'
import { mergePieceTables } from '@shoal/proto'
import type { Bitfield, CID, PieceTable } from '@shoal/proto'
import { PEER_BUSY_BACKOFF_MS, PEER_FAILURE_BACKOFF_MS, PEER_LATENCY_PRIOR_S, PEER_MAX_FAILURES, PEER_MAX_REFUSALS } from '../constants.ts'

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

export interface PieceBookInit {
  /** No progress for this long (ms) is a stall: the pieces nobody holds come from the origin. */
  stallMs: number
  /**
   * Whether more sources may still come though no known peer is downloading (a scheduler is
   * handing out parents and origin assignments): missing pieces are then waited for, up to the stall time.
   */
  expectMore?: () => boolean
  /**
   * When this agent last got a piece of any blob (on the `now` clock): while pieces of other blobs
   * still come, no progress on this one is not a stall (see stalled).
   */
  progressElsewhereAt?: () => number | undefined
  /** The clock, in ms (performance.now() by default); tests move it by hand. */
  now?: () => number
  /** [0, 1) for the choices among equals (Math.random by default). */
  random?: () => number
  busyBackoffMs?: number
  maxRefusals?: number
  /** See failed(): the first pause after a failure, and the failures that drop a peer. */
  failureBackoffMs?: number
  maxFailures?: number
  /** A peer's recent first-byte time in seconds (PeerLatency); without it every holder counts the same. */
  latency?: (peer: PeerId) => number | undefined
}

/**
 * The bookkeeping of one blob's download, with no I/O: the piece table, which peer holds which
 * piece, who is dropped, who answered BUSY and until when, how many requests each peer has from
 * this download, which pieces a scheduler assigned this agent to read from the origin, and when
 * the swarm last made progress. It answers the two questions of the data path: which piece to ask
 * for next, and whom to ask. The clock and the coin are injected (fast-check properties in
 * test/layer-fetcher/piece-book.property.test.ts).
 *
 * Costs: holders() is O(peers) per piece, the choice of the next piece O(lookahead x peers); a
 * blob has at most a few dozen peers.
 */
export class PieceBook {
  readonly table: PieceTable
  readonly peers: PlannedPeer[]
  /** Peers whose piece table entries are in `table` (banned if the blob then fails its digest). */
  readonly tableSources = new Set<string>()
  /** The peer whose table the download started from, asked first to fill its holes. */
  tableSource?: PeerId
  readonly #dropped = new Set<string>()
  readonly #refusals = new Map<string, number>()
  /** Peers that answered BUSY or failed, until when they are passed over. */
  readonly #busyUntil = new Map<string, number>()
  /** Failures without an answer since each peer last answered (see failed). */
  readonly #failures = new Map<string, number>()
  /** The piece count each peer last reported (progress is measured against it, not against forget()). */
  readonly #reported = new Map<string, number>()
  /** Requests this download has open with each peer. */
  readonly #load = new Map<string, number>()
  #assigned: ReadonlySet<number> = new Set()
  readonly #stallMs: number
  readonly #expectMore: () => boolean
  readonly #progressElsewhereAt: () => number | undefined
  readonly #now: () => number
  readonly #random: () => number
  readonly #busyBackoffMs: number
  readonly #maxRefusals: number
  readonly #failureBackoffMs: number
  readonly #maxFailures: number
  readonly #latency?: (peer: PeerId) => number | undefined
  #lastProgressAt: number
  /** Assigned pieces this agent is reading from the origin now (see stalled). */
  #originReads = 0

  constructor (plan: PeerPlan, init: PieceBookInit) {
    this.table = plan.table
    this.peers = plan.peers
    this.tableSource = plan.tableSource
    if (plan.tableSource != null) this.tableSources.add(plan.tableSource.toString())
    for (const peer of plan.peers) this.#reported.set(peer.id.toString(), peer.bitfield.count())
    this.#stallMs = init.stallMs
    this.#expectMore = init.expectMore ?? (() => false)
    this.#progressElsewhereAt = init.progressElsewhereAt ?? (() => undefined)
    this.#now = init.now ?? (() => performance.now())
    this.#random = init.random ?? Math.random
    this.#busyBackoffMs = init.busyBackoffMs ?? PEER_BUSY_BACKOFF_MS
    this.#maxRefusals = init.maxRefusals ?? PEER_MAX_REFUSALS
    this.#failureBackoffMs = init.failureBackoffMs ?? PEER_FAILURE_BACKOFF_MS
    this.#maxFailures = init.maxFailures ?? PEER_MAX_FAILURES
    this.#latency = init.latency
    this.#lastProgressAt = this.#now()
  }

  get pieceCount (): number {
    return this.table.pieces.length
  }

  /** The piece's CID when the table names it. */
  cid (index: number): CID | undefined {
    return this.table.pieces[index]
  }

  isDropped (peer: PeerId): boolean {
    return this.#dropped.has(peer.toString())
  }

  /** Returns true when this call dropped the peer (false when it already was). */
  drop (peer: PeerId): boolean {
    const key = peer.toString()
    if (this.#dropped.has(key)) return false
    this.#dropped.add(key)
    return true
  }

  /**
   * The peer said it does not have the piece (it evicted the blob, or answered before its write
   * was durable): not asked for it again until its next bitfield says otherwise. A peer that keeps
   * refusing what its bitfield offers is dropped.
   */
  forget (peer: PeerId, index: number): void {
    const planned = this.peers.find(p => p.id.equals(peer))
    if (planned == null) return
    const key = peer.toString()
    const refusals = (this.#refusals.get(key) ?? 0) + 1
    this.#refusals.set(key, refusals)
    if (refusals > this.#maxRefusals) this.drop(peer)
    planned.bitfield.clear(index)
    // It holds less than it said, so it is not known to be complete any more: ask it again.
    planned.complete = false
  }

  /**
   * A request to the peer failed without an answer: its stream broke, its connection went, or it
   * did not answer in time. On a slow, full link that happens to live peers (a connection aborted
   * under load takes every request on it along), so the peer is passed over for a pause that
   * doubles with each failure, and dropped for the blob at the maxFailures-th. Failures during a
   * pause are the same incident (the other requests that were on the connection). Returns true
   * when this call dropped the peer.
   */
  failed (peer: PeerId): boolean {
    const key = peer.toString()
    if (this.#dropped.has(key)) return false
    const before = this.#failures.get(key) ?? 0
    if (before > 0 && this.busyFor(peer) > 0) return false
    const failures = before + 1
    this.#failures.set(key, failures)
    if (failures >= this.#maxFailures) return this.drop(peer)
    this.#busyUntil.set(key, this.#now() + this.#failureBackoffMs * 2 ** (failures - 1))
    return false
  }

  /** The peer answered (a piece, or a refusal): its failures so far were passing. */
  answered (peer: PeerId): void {
    this.#failures.delete(peer.toString())
  }

  /** The peer answered BUSY: it is asked for nothing of this blob for a moment while others hold what is needed. */
  busy (peer: PeerId): void {
    this.#busyUntil.set(peer.toString(), this.#now() + this.#busyBackoffMs)
  }

  /** How long (ms) the peer is still passed over after its BUSY (0: free). */
  busyFor (peer: PeerId): number {
    return Math.max(0, (this.#busyUntil.get(peer.toString()) ?? 0) - this.#now())
  }

  /**
   * Live peers that hold the piece, when the table names it (a piece without a CID cannot be
   * checked); those that answered BUSY a moment ago only when no other holder is free.
   */
  holders (index: number): PlannedPeer[] {
    if (this.table.pieces[index] == null) return []
    const all = this.peers.filter(p => this.#live(p) && p.bitfield.has(index))
    if (this.#busyUntil.size === 0) return all
    const now = this.#now()
    const free = all.filter(p => (this.#busyUntil.get(p.id.toString()) ?? 0) <= now)
    return free.length > 0 ? free : all
  }

  /** Live peers still downloading the blob: their bitfields are worth asking again. */
  growingPeers (): PlannedPeer[] {
    return this.peers.filter(this.#growing)
  }

  /** Live peers (for filling the table's holes). */
  livePeers (): PlannedPeer[] {
    return this.peers.filter(this.#live)
  }

  readonly #live = (peer: PlannedPeer): boolean => !this.#dropped.has(peer.id.toString())
  /** Live and not holding the whole blob yet: its bitfield may still grow. */
  readonly #growing = (peer: PlannedPeer): boolean => !peer.complete && this.#live(peer)

  /** Whether a live peer is still downloading the blob, or a scheduler may send more (pieces may yet come). */
  get growing (): boolean {
    return this.#expectMore() || this.peers.some(this.#growing)
  }

  /**
   * Nothing new among the peers for the stall time, or nothing can come: what nobody holds comes
   * from the origin. Not while this agent reads assigned pieces from the origin: the other readers
   * (claimers, or agents the scheduler assigned) read theirs from the same origin at the same pace,
   * and at a slow origin a piece takes longer than the stall time (a 25 Mbit origin read by 8
   * claimers at once: 10 s and more). The clock starts again when the last such read ends. Nor
   * while pieces of other blobs still come to this agent (progressElsewhereAt): the readers of this
   * one are busy with those, and whoever directs them (a scheduler) hands on the pieces of one
   * that stalls.
   */
  stalled (): boolean {
    if (!this.growing) return true
    const since = Math.max(this.#lastProgressAt, this.#progressElsewhereAt() ?? -Infinity)
    return this.#originReads === 0 && this.#now() - since > this.#stallMs
  }

  /** An assigned origin read began. */
  originReadStarted (): void {
    this.#originReads++
  }

  /**
   * An assigned origin read ended; one that brought its piece starts the stall clock again. One
   * that failed or was given up does not: read-ahead retries a failing read every ~100 ms, and
   * restarting the clock each time kept a download waiting for ever on a piece that only the origin
   * could give (an origin whose piece reads all broke off).
   */
  originReadEnded (read: boolean): void {
    this.#originReads = Math.max(0, this.#originReads - 1)
    if (read) this.progressed()
  }

  /** Something moved (a piece arrived, a peer or a table entry was learned). */
  progressed (): void {
    this.#lastProgressAt = this.#now()
  }

  /** Peers a scheduler named: new ones join, a known one's bitfield is taken when it holds more. */
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
    if (learned) this.progressed()
  }

  /** A peer's own fresh bitfield; returns how many pieces it reported beyond its last report. */
  updatePeer (peer: PlannedPeer, fresh: { bitfield: Bitfield, complete: boolean }): number {
    const key = peer.id.toString()
    const count = fresh.bitfield.count()
    const learned = Math.max(0, count - (this.#reported.get(key) ?? 0))
    this.#reported.set(key, count)
    peer.bitfield = fresh.bitfield
    peer.complete = fresh.complete
    return learned
  }

  /** A piece table from elsewhere (a peer, a scheduler): fills holes, never changes a known piece. Returns the entries learned. */
  learnTable (table: PieceTable, from?: PeerId): number {
    const learned = mergePieceTables(this.table, table)
    if (from != null) {
      if (learned > 0) this.tableSources.add(from.toString())
      this.tableSource ??= from
    }
    return learned
  }

  /** The pieces a scheduler assigned this agent to read from the origin (replaces the last assignment). */
  assign (pieces: Iterable<number>): void {
    this.#assigned = new Set(pieces)
  }

  get assigned (): ReadonlySet<number> {
    return this.#assigned
  }

  isAssigned (index: number): boolean {
    return this.#assigned.has(index)
  }

  /** A request to the peer starts (`+1`) or ends (`-1`). */
  asking (peer: PeerId, delta: 1 | -1): void {
    const key = peer.toString()
    this.#load.set(key, Math.max(0, (this.#load.get(key) ?? 0) + delta))
  }

  /** Requests this download has open with the peer. */
  load (peer: PeerId): number {
    return this.#load.get(peer.toString()) ?? 0
  }

  /**
   * What asking the peer costs now: (requests this download has open with it + 1) x its recent
   * first-byte time (PEER_LATENCY_PRIOR_S when not heard from yet; 1 for every peer without a
   * latency source, which leaves the load alone).
   */
  cost (peer: PeerId): number {
    const seconds = this.#latency == null ? 1 : this.#latency(peer) ?? PEER_LATENCY_PRIOR_S
    return (this.load(peer) + 1) * seconds
  }

  /**
   * Whom to ask for the piece: the holder that costs least (above): the one this download asks
   * least, weighted by how long it has lately taken to start answering, so requests go to idle
   * uplinks rather than queue behind an uploader that is also reading from the origin. When every
   * holder is passed over (BUSY, or a failure's pause), the one free soonest: a peer paused 2 s
   * for a lost connection is not waited for while another's 250 ms BUSY pause ends first. Among
   * equals one at random: every agent gets the same parents in the same order, and taking the
   * first would send them all to one uploader. undefined when no live peer holds it.
   */
  whomToAsk (index: number): PlannedPeer | undefined {
    let least: { pause: number, cost: number } | undefined
    let choices: PlannedPeer[] = []
    for (const holder of this.holders(index)) {
      const pause = this.busyFor(holder.id)
      const cost = this.cost(holder.id)
      if (least == null || pause < least.pause || (pause === least.pause && cost < least.cost)) {
        least = { pause, cost }
        choices = [holder]
      } else if (pause === least.pause && cost === least.cost) {
        choices.push(holder)
      }
    }
    return choices[Math.floor(this.#random() * choices.length)]
  }

  /**
   * The next piece for the in-order stream's window: the head if it is not under way, else the
   * rarest piece of the next `lookahead` that someone holds, else the first free one after the head.
   */
  nextForStream (head: number, started: ReadonlySet<number>, lookahead: number): number | undefined {
    if (!started.has(head)) return head
    const end = Math.min(this.pieceCount, head + lookahead)
    let best: number | undefined
    let bestHolders = Infinity
    let firstFree: number | undefined
    for (let i = head + 1; i < end; i++) {
      if (started.has(i)) continue
      firstFree ??= i
      const holders = this.holders(i).length
      if (holders > 0 && holders < bestHolders) {
        best = i
        bestHolders = holders
      }
    }
    return best ?? firstFree
  }
}

/**
 * The next piece to read ahead of the stream (ReadAhead): the lowest assigned piece still open,
 * unless one is being read (`readingAssigned`); else one of the open pieces fewest live peers
 * hold, at random (agents that all chose the lowest would all ask the same holder for the same
 * piece); never one before the stream's head, never one nobody holds.
 */
export function nextAhead (view: {
  head: number
  pieceCount: number
  open: (index: number) => boolean
  readingAssigned: boolean
  assigned: ReadonlySet<number>
  holders: (index: number) => number
  random: () => number
}): number | undefined {
  const { head, open } = view
  const usable = (index: number): boolean => index >= head && open(index)
  if (!view.readingAssigned) {
    let lowest: number | undefined
    for (const index of view.assigned) if (usable(index) && (lowest == null || index < lowest)) lowest = index
    if (lowest != null) return lowest
  }
  let fewest = Infinity
  let rarest: number[] = []
  for (let index = head; index < view.pieceCount; index++) {
    if (!open(index)) continue
    const holders = view.holders(index)
    if (holders === 0 || holders > fewest) continue
    if (holders < fewest) {
      fewest = holders
      rarest = []
    }
    rarest.push(index)
  }
  return rarest[Math.floor(view.random() * rarest.length)]
}
