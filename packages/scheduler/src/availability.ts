import { Bitfield, InvalidBitfieldError, InvalidPieceError, MAX_BLOB_SIZE, pieceCountFor } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { TaskSizeMismatchError, UnknownTaskError } from './errors.ts'
import type { PeerKey } from './types.ts'

/**
 * Piece availability: which peer holds which piece of which task (a task is one blob, named by its
 * digest). Pure bookkeeping, no I/O and no clock.
 *
 * Sized for 5,000 peers x 100 tasks x 64 pieces. Per task it keeps one Bitfield per peer
 * (ceil(pieceCount / 8) bytes) and one holder count per piece (a Uint32Array), updated on every
 * change, so the question asked most (how many hold piece i) costs O(1) and there is no list of
 * peers per piece to keep in step. The one question that needs peers per piece, `holders(i)`,
 * scans the task's bitfields; it is for admin views and tests, not for the hot path.
 * Costs below: P = pieces of the task, N = peers in the task.
 */

/** A bitfield the holder may read but not change (the registry's copy must stay in step with its counts). */
export type ReadonlyBitfield = Pick<Bitfield, 'pieceCount' | 'has' | 'count' | 'missing' | 'full' | 'toBytes' | 'view'>

export interface RarestMissingOptions {
  /** Also list pieces that no peer holds (holder count 0, first in the order). Default false. */
  includeUnheld?: boolean
}

/** The read side of one task's availability, as the registry hands it out. */
export interface TaskAvailabilityView {
  readonly digest: Digest
  readonly size: number
  readonly pieceCount: number
  /** Peers in the task (holding any number of its pieces, zero included). */
  readonly peerCount: number
  /** Is `peer` in the task? O(1). */
  has(peer: PeerKey): boolean
  /** The peers in the task, in the order they joined. O(1) to start, O(N) to exhaust. */
  peers(): IterableIterator<PeerKey>
  /** What `peer` holds, or undefined if it is not in the task. O(1); a view, not a copy. */
  bitfield(peer: PeerKey): ReadonlyBitfield | undefined
  /** How many peers hold piece `index`. O(1). */
  holderCount(index: number): number
  /** How many pieces nobody holds. O(pieces). */
  unheldCount(): number
  /** The peers that hold piece `index`, in join order. O(N): a scan, for admin views and tests. */
  holders(index: number): PeerKey[]
  /**
   * Up to `limit` pieces that `peer` lacks, fewest holders first, lower index first among equals
   * (a client reads in order). Pieces nobody holds are left out unless asked for: reading those is
   * the origin split's business. A peer not in the task lacks every piece. O(P log P).
   */
  rarestMissing(peer: PeerKey, limit: number, options?: RarestMissingOptions): number[]
}

export interface TaskAvailabilityInit {
  digest: Digest
  /** The blob size in bytes; the piece count follows from it (pieceCountFor). */
  size: number
}

/** Availability of one task: a bitfield per peer and a holder count per piece, kept in step. */
export class TaskAvailability implements TaskAvailabilityView {
  readonly digest: Digest
  readonly size: number
  readonly pieceCount: number
  readonly #bitfields = new Map<PeerKey, Bitfield>()
  readonly #holderCounts: Uint32Array

  constructor (init: TaskAvailabilityInit) {
    if (!Number.isSafeInteger(init.size) || init.size < 0 || init.size > MAX_BLOB_SIZE) {
      throw new InvalidPieceError(`blob size ${init.size} of ${init.digest} is not an integer in [0, ${MAX_BLOB_SIZE}]`)
    }
    this.digest = init.digest
    this.size = init.size
    this.pieceCount = pieceCountFor(init.size)
    this.#holderCounts = new Uint32Array(this.pieceCount)
  }

  get peerCount (): number {
    return this.#bitfields.size
  }

  has (peer: PeerKey): boolean {
    return this.#bitfields.has(peer)
  }

  peers (): IterableIterator<PeerKey> {
    return this.#bitfields.keys()
  }

  bitfield (peer: PeerKey): ReadonlyBitfield | undefined {
    return this.#bitfields.get(peer)
  }

  holderCount (index: number): number {
    this.#checkIndex(index)
    return this.#holderCounts[index]!
  }

  unheldCount (): number {
    let unheld = 0
    for (const count of this.#holderCounts) if (count === 0) unheld++
    return unheld
  }

  holders (index: number): PeerKey[] {
    this.#checkIndex(index)
    const holders: PeerKey[] = []
    for (const [peer, bits] of this.#bitfields) {
      if (bits.has(index)) {
        holders.push(peer)
      }
    }
    return holders
  }

  rarestMissing (peer: PeerKey, limit: number, options: RarestMissingOptions = {}): number[] {
    const bits = this.#bitfields.get(peer)
    const counts = this.#holderCounts
    const includeUnheld = options.includeUnheld ?? false
    const missing: number[] = []
    for (let i = 0; i < this.pieceCount; i++) {
      if (bits?.has(i) !== true && (includeUnheld || counts[i]! > 0)) {
        missing.push(i)
      }
    }
    missing.sort((a, b) => counts[a]! - counts[b]! || a - b)
    return limit < missing.length ? missing.slice(0, Math.max(0, limit)) : missing
  }

  /** Adds `peer` holding nothing; returns false (and changes nothing) if it is already in. O(1). */
  addPeer (peer: PeerKey): boolean {
    if (this.#bitfields.has(peer)) {
      return false
    }
    this.#bitfields.set(peer, new Bitfield(this.pieceCount))
    return true
  }

  /**
   * Sets what `peer` holds (adding it if new), as in an announcement after a (re)connection. The
   * bitfield is copied, so the caller's later changes do not reach the counts. O(P / 8) plus O(1)
   * per piece that changed.
   */
  setBitfield (peer: PeerKey, bitfield: ReadonlyBitfield): void {
    if (bitfield.pieceCount !== this.pieceCount) {
      throw new InvalidBitfieldError(`a bitfield of ${bitfield.pieceCount} pieces for ${this.digest}, which has ${this.pieceCount}`)
    }
    const next = new Bitfield(this.pieceCount, bitfield.toBytes())
    const previous = this.#bitfields.get(peer)
    const before = previous?.toBytes()
    const after = next.toBytes()
    for (let byte = 0; byte < after.length; byte++) {
      const old = before?.[byte] ?? 0
      this.#addBits(byte, after[byte]! & ~old, 1)
      this.#addBits(byte, old & ~after[byte]!, -1)
    }
    this.#bitfields.set(peer, next)
  }

  /**
   * Records that `peer` holds piece `index` (adding the peer if new); returns false if it already
   * did. O(1).
   */
  pieceFinished (peer: PeerKey, index: number): boolean {
    let bits = this.#bitfields.get(peer)
    if (bits == null) {
      bits = new Bitfield(this.pieceCount)
      bits.set(index) // throws on a bad index before the peer is added
      this.#bitfields.set(peer, bits)
    } else if (!bits.set(index)) {
      return false
    }
    this.#holderCounts[index]!++
    return true
  }

  /** Records that `peer` no longer holds piece `index` (evicted, found corrupt); false if it did not. O(1). */
  pieceLost (peer: PeerKey, index: number): boolean {
    this.#checkIndex(index)
    const bits = this.#bitfields.get(peer)
    if (bits == null || !bits.clear(index)) {
      return false
    }
    this.#holderCounts[index]!--
    return true
  }

  /** Takes `peer` out of the task; false if it was not in. O(P / 8) plus O(1) per piece it held. */
  removePeer (peer: PeerKey): boolean {
    const bits = this.#bitfields.get(peer)
    if (bits == null) {
      return false
    }
    const bytes = bits.toBytes()
    for (let byte = 0; byte < bytes.length; byte++) {
      this.#addBits(byte, bytes[byte]!, -1)
    }
    this.#bitfields.delete(peer)
    return true
  }

  /** Adds `delta` to the holder count of each piece whose bit is set in `mask`, byte `byte` of a bitfield. */
  #addBits (byte: number, mask: number, delta: number): void {
    for (let m = mask & 0xff; m !== 0; m &= m - 1) {
      // The lowest set bit of m; bit 7 (0x80) is the first piece of the byte.
      const bit = 31 - Math.clz32(m & -m)
      this.#holderCounts[byte * 8 + 7 - bit]! += delta
    }
  }

  #checkIndex (index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new InvalidPieceError(`piece ${index} is outside ${this.digest}, which has ${this.pieceCount} pieces`)
    }
  }
}

export interface TaskAnnouncement {
  digest: Digest
  size: number
}

/**
 * The availability of every task, and the tasks of every peer, so that a peer that goes away is
 * taken out of its tasks in O(its tasks x P / 8). A task is made by its first announcement and
 * dropped when its last peer leaves: the state is soft, rebuilt from re-announcements after a
 * restart. Tasks are handed out read-only; every change goes through the registry so both maps
 * stay in step.
 */
export class AvailabilityRegistry {
  readonly #tasks = new Map<Digest, TaskAvailability>()
  readonly #tasksOfPeer = new Map<PeerKey, Set<Digest>>()

  get taskCount (): number {
    return this.#tasks.size
  }

  /** Peers in at least one task. */
  get peerCount (): number {
    return this.#tasksOfPeer.size
  }

  task (digest: Digest): TaskAvailabilityView | undefined {
    return this.#tasks.get(digest)
  }

  tasks (): IterableIterator<TaskAvailabilityView> {
    return this.#tasks.values()
  }

  /** The tasks `peer` is in. O(its tasks). */
  tasksOf (peer: PeerKey): Digest[] {
    return [...this.#tasksOfPeer.get(peer) ?? []]
  }

  /**
   * `peer` takes part in a task: it downloads it, holds it, or both. With a bitfield, what it holds
   * is replaced by it; without, a new peer holds nothing and a known one keeps what it has. The
   * first announcement of a digest makes the task; a later one with another size is refused
   * (TaskSizeMismatchError), since the size fixes the pieces. O(1), or setBitfield's cost.
   */
  announce (peer: PeerKey, announcement: TaskAnnouncement, bitfield?: ReadonlyBitfield): TaskAvailabilityView {
    let task = this.#tasks.get(announcement.digest)
    if (task != null && task.size !== announcement.size) {
      throw new TaskSizeMismatchError(`${peer} announced ${announcement.digest} with ${announcement.size} bytes; the task has ${task.size}`)
    }
    const made = task == null
    task ??= new TaskAvailability(announcement)
    if (bitfield != null) {
      task.setBitfield(peer, bitfield) // throws on a bitfield of the wrong piece count
    } else {
      task.addPeer(peer)
    }
    if (made) {
      this.#tasks.set(task.digest, task)
    }
    this.#join(peer, task.digest)
    return task
  }

  /** `peer` holds piece `index` of `digest` now; false if it already did. O(1). */
  pieceFinished (peer: PeerKey, digest: Digest, index: number): boolean {
    const task = this.#known(digest)
    const added = task.pieceFinished(peer, index)
    this.#join(peer, digest)
    return added
  }

  /** `peer` no longer holds piece `index` of `digest`; false if it did not. O(1). */
  pieceLost (peer: PeerKey, digest: Digest, index: number): boolean {
    return this.#known(digest).pieceLost(peer, index)
  }

  /** `peer` leaves one task (the task goes with its last peer); false if it was not in. O(P / 8). */
  leave (peer: PeerKey, digest: Digest): boolean {
    const task = this.#tasks.get(digest)
    if (task == null || !task.removePeer(peer)) {
      return false
    }
    if (task.peerCount === 0) {
      this.#tasks.delete(digest)
    }
    const digests = this.#tasksOfPeer.get(peer)
    digests?.delete(digest)
    if (digests?.size === 0) {
      this.#tasksOfPeer.delete(peer)
    }
    return true
  }

  /** `peer` is gone: it leaves every task it was in, which are returned. O(its tasks x P / 8). */
  removePeer (peer: PeerKey): Digest[] {
    const digests = [...this.#tasksOfPeer.get(peer) ?? []]
    for (const digest of digests) {
      this.leave(peer, digest)
    }
    this.#tasksOfPeer.delete(peer)
    return digests
  }

  #known (digest: Digest): TaskAvailability {
    const task = this.#tasks.get(digest)
    if (task == null) {
      throw new UnknownTaskError(`no peer has announced ${digest}`)
    }
    return task
  }

  #join (peer: PeerKey, digest: Digest): void {
    let digests = this.#tasksOfPeer.get(peer)
    if (digests == null) {
      digests = new Set()
      this.#tasksOfPeer.set(peer, digests)
    }
    digests.add(digest)
  }
}
