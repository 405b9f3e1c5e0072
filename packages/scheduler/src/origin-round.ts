import { originReadPiecesFor, originRunFor, pieceSizeFor } from '@shoal/proto'
import type { Digest, SchedulerMessage } from '@shoal/proto'
import type { TaskAvailabilityView } from './availability.ts'
import { DEFAULT_ORIGIN_READERS_PER_PIECE, SCHEDULER_ASSIGNEE_STALL_MS, SCHEDULER_ASSIGNEE_STALL_PIECES, SCHEDULER_ORIGIN_KEEP_MS, SCHEDULER_ORIGIN_KEEP_PIECES, SCHEDULER_ORIGIN_READERS, SCHEDULER_ORIGIN_SPREAD_WAIT_MS, SCHEDULER_ORIGIN_BUSY_MS } from './constants.ts'
import { chooseOriginReaders } from './origin-readers.ts'
import { assignOrigin, reassign, rebalance } from './origin-split.ts'
import type { OriginSinceDeal, TaskState } from './task-state.ts'
import type { PeerKey } from './types.ts'

/**
 * A task's origin pieces were dealt: to `assignees` readers, first (`pieces` unheld) or again. Dealt
 * again from a reader (`from`): it left the task, finished it or got the whole blob (`left`), or
 * reported no origin progress for its stall time (`stalled`).
 */
export interface OriginAssignedEvent {
  digest: Digest
  assignees: number
  pieces: number
  reassigned: boolean
  from?: PeerKey
  why?: 'left' | 'stalled'
}

export interface OriginRoundsComponents {
  now: () => number
  /** The availability of a task, if any peer is in it. */
  availability: (digest: Digest) => TaskAvailabilityView | undefined
  /** Sends a message to a registered agent (nothing when it is gone). */
  send: (peer: PeerKey, message: Partial<SchedulerMessage>) => void
  onOriginAssigned?: (event: OriginAssignedEvent) => void
  /**
   * When the peer last reported origin progress (a piece, or bytes of one) for any task. A reader
   * of several tasks reads a few pieces at a time over all of them: one task may wait on the others
   * for longer than the stall time while the reader is busy; handing its pieces on then made them
   * read twice.
   */
  originProgressAt?: (peer: PeerKey) => number | undefined
  /** The peer's usual time per origin piece lately, when it has read a few (see SchedulerService). */
  originPaceMs?: (peer: PeerKey) => number | undefined
  /** How many tasks each peer reads from the origin now (see SchedulerService). */
  originLoads?: () => ReadonlyMap<PeerKey, number>
}

export interface OriginRoundsInit {
  readersPerPiece?: number
  /** Agents that read one task's pieces from the origin at once (SCHEDULER_ORIGIN_READERS). */
  originReaders?: number
  /** An origin assignee that finishes no piece for this long has its pieces handed to others. */
  assigneeStallMs?: number
}

const NO_PIECES: readonly number[] = Object.freeze([])

/**
 * The origin side of the decision rounds, for one task at a time: a cold task's pieces are split
 * among the downloaders there at the first round after it appeared; later downloaders share what
 * nobody has likely started; an assignee that leaves or stalls has its pieces handed to the others;
 * each assignee hears of the pieces still nobody holds when they change.
 *
 * Cost per round and task: O(assignees) lookups (OriginAssignment.piecesOf is O(1) after the
 * first call on an assignment), plus O(pieces) for each assignee whose list is not empty. The
 * splits themselves (assign, rebalance, reassign) cost what origin-split.ts says, when they happen.
 */
export class OriginRounds {
  readonly #components: OriginRoundsComponents
  readonly #readersPerPiece: number
  readonly #assigneeStallMs: number
  /** Readers of a task at most: originReaders, or more when each piece has more readers. */
  readonly #readers: number
  /** Cold tasks split so far: each split deals its first run to the next reader (assignColdPieces). */
  #splits = 0

  constructor (components: OriginRoundsComponents, init: OriginRoundsInit = {}) {
    this.#components = components
    this.#readersPerPiece = init.readersPerPiece ?? DEFAULT_ORIGIN_READERS_PER_PIECE
    this.#assigneeStallMs = init.assigneeStallMs ?? SCHEDULER_ASSIGNEE_STALL_MS
    this.#readers = Math.max(1, init.originReaders ?? SCHEDULER_ORIGIN_READERS, this.#readersPerPiece)
  }

  /**
   * Pieces no agent holds are split among a few downloaders (those reading the fewest other tasks
   * from the origin, then the first arrivals), once, when the task has none assigned. The deal
   * starts one reader further with each split: a blob's first run is what every downloader's stream
   * waits on first, and when the layers of an image were dealt from the same first reader, that
   * agent read every layer's first run, one after the other through its single origin slot.
   */
  assignColdPieces (task: TaskState, availability: TaskAvailabilityView, now: number): void {
    if (task.assignment != null || task.wanting.size === 0) return
    const unheld = availability.unheldCount()
    if (unheld === 0) return
    const loads = this.#components.originLoads?.()
    const readers = chooseOriginReaders([...task.wanting], this.#readers, peer => loads?.get(peer) ?? 0)
    const first = this.#splits++ % Math.max(1, readers.length)
    const assignees = [...readers.slice(first), ...readers.slice(0, first)]
    task.assignment = assignOrigin({ pieceCount: availability.pieceCount, assignees, readersPerPiece: this.#readersPerPiece, run: originRunFor(task.size) })
    for (const peer of task.assignment.assignees) {
      task.originDealt(peer, now)
      task.originConsidered.add(peer)
    }
    this.#components.onOriginAssigned?.({ digest: task.digest, assignees: task.assignment.assignees.length, pieces: unheld, reassigned: false })
  }

  /**
   * Downloaders that came after the split share the origin pieces nobody has likely started yet,
   * while the task has fewer readers than it may. Each newcomer is weighed once; when every unheld
   * piece is among the readers' kept ones there is nothing to share (so a big task's later arrivals
   * cost one count of its pieces, not a deal). The newcomers wait until every reader has said how
   * its reads go (SCHEDULER_ORIGIN_SPREAD_WAIT_MS); then a reader keeps what its byte rate reads
   * before the scheduler would hear of it (originKeepFor) and the rest of the origin reads those
   * pieces are in: an agent joins the pieces it was dealt in a row into one request of up to
   * originReadPiecesFor, however they were dealt. Finished pieces are reported after their commit,
   * so right after a deal what a reader reads looks unstarted: with two pieces kept, a 3 MiB blob
   * dealt to one reader a piece a run was read twice (1.14-1.22x in four of five pulls of 6 agents
   * on loopback); with 2 MiB kept, in a row or not, a 4 MiB layer dealt in runs of 2 kept its first
   * two readers, and 8 hosts at 2 Mbit took a fifth longer than now, 2.5x the link's limit against
   * 2.1x on the mean of four pairs (docs/dev/relay-latency.md, "A re-deal by the readers' own word").
   */
  spreadOrigin (task: TaskState, availability: TaskAvailabilityView, now: number): void {
    task.spreadWaiting = false
    const assignment = task.assignment
    if (assignment == null) return
    const readers = assignment.assignees.filter(p => task.wanting.has(p))
    const room = this.#readers - readers.length
    if (room <= 0) return
    const newcomers = [...task.wanting].filter(peer => !assignment.has(peer) && !task.originConsidered.has(peer)).slice(0, room)
    if (newcomers.length === 0) return
    // Until each reader has said how it goes, what it has read is unknown: the newcomers wait, a
    // while at most (weighed again next round, whatever is reported: spreadWaiting). A reader that
    // has reported other tasks' reads, and none of this one's, for SCHEDULER_ORIGIN_BUSY_MS is busy
    // with those and has not begun this one's.
    const busyElsewhere = (peer: PeerKey): boolean => {
      const since = task.originSinceDeal.get(peer)
      return since != null && since.reports === 0 && now - since.dealtAt >= SCHEDULER_ORIGIN_BUSY_MS &&
        (this.#components.originProgressAt?.(peer) ?? 0) > since.dealtAt
    }
    const unheard = (peer: PeerKey): boolean => {
      const since = task.originSinceDeal.get(peer)
      return since != null && since.reports === 0 && now - since.dealtAt < SCHEDULER_ORIGIN_SPREAD_WAIT_MS &&
        !busyElsewhere(peer) && assignment.piecesOf(peer).some(i => availability.holderCount(i) === 0)
    }
    task.spreadWaiting = readers.some(unheard)
    if (task.spreadWaiting) return
    for (const peer of newcomers) task.originConsidered.add(peer)
    const unheld = availability.unheldCount()
    if (unheld <= readers.length * SCHEDULER_ORIGIN_KEEP_PIECES) return
    const keep = (peer: PeerKey): number => originKeepFor(task.originSinceDeal.get(peer), pieceSizeFor(task.size), now)
    // A reader busy with another task's reads has begun no read of this one: it keeps its next
    // SCHEDULER_ORIGIN_KEEP_PIECES pieces, not the 2 MiB a read would join (at 2 Mbit one agent that asked
    // first for all three layers of an image kept 2 MiB of each, half the image on one link). One
    // that said nothing at all by the end of the wait may have begun (an origin slow to answer): it
    // keeps the read. Every reader keeps the pieces it named as being read (a read it began before
    // its report could say so), with the rest of their reads.
    const joined = (peer: PeerKey): number => busyElsewhere(peer) ? 1 : originReadPiecesFor(task.size)
    const begun = (peer: PeerKey, piece: number): boolean => task.originSinceDeal.get(peer)?.reading.has(piece) === true
    const dealt = rebalance(assignment, { done: i => availability.holderCount(i) > 0, downloaders: [...readers, ...newcomers], keep, joined, begun })
    // Every unheld piece kept by a reader: nothing changes hands.
    if (newcomers.every(peer => dealt.piecesOf(peer).length === 0)) return
    task.assignment = dealt
    for (const peer of newcomers) task.originDealt(peer, now)
    this.#components.onOriginAssigned?.({ digest: task.digest, assignees: task.assignment.assignees.length, pieces: 0, reassigned: true })
  }

  /**
   * Assignees that reported no origin progress (a piece, or bytes of one) for the stall time, and
   * for SCHEDULER_ASSIGNEE_STALL_PIECES times their usual time per piece, while some of their
   * pieces are still unheld: their pieces go to downloaders that are further along (origin
   * progress within half the stall time, or nothing left to read). When every reader is slow alike
   * (a slow origin, links full of uploads), nobody is, and moving the pieces would only start them
   * over elsewhere: at 2 Mbit the whole deal went from reader to reader, one each round as each
   * crossed its threshold, and each read under way was lost.
   */
  replaceStalledAssignees (task: TaskState, availability: TaskAvailabilityView, now: number): void {
    const assignment = task.assignment
    if (assignment == null) return
    const unread = (peer: PeerKey): boolean => assignment.piecesOf(peer).some(i => availability.holderCount(i) === 0)
    const stalled = assignment.assignees.filter(peer => now - this.#progressAt(task, peer) > this.#stallAfterMs(peer) && unread(peer))
    if (stalled.length === 0) return
    // Not relative to the taker's own pace: one whose pieces are slow would count as further along
    // while as silent as the stalled reader.
    const furtherAlong = (peer: PeerKey): boolean => now - this.#progressAt(task, peer) <= this.#assigneeStallMs / 2 || !unread(peer)
    this.#reassignAway(task, stalled, 'stalled', furtherAlong)
  }

  /** How long without origin progress makes the peer stalled: the stall time, or its pace's worth of pieces when longer. */
  #stallAfterMs (peer: PeerKey): number {
    return Math.max(this.#assigneeStallMs, SCHEDULER_ASSIGNEE_STALL_PIECES * (this.#components.originPaceMs?.(peer) ?? 0))
  }

  /** When the peer last reported origin progress, for this task or any (or was dealt its pieces). */
  #progressAt (task: TaskState, peer: PeerKey): number {
    return Math.max(task.originProgressAt.get(peer) ?? 0, this.#components.originProgressAt?.(peer) ?? 0)
  }

  /** `peer` left the task, finished it or stalled: its unfinished origin pieces go to the other downloaders. */
  reassignFrom (task: TaskState, peer: PeerKey, why: OriginAssignedEvent['why'] = 'left'): void {
    this.#reassignAway(task, [peer], why)
  }

  /**
   * The unfinished origin pieces of `leaving` go to the other downloaders that `canTake`. Stalled
   * readers with no one to take their pieces keep them; readers that left with no one end the deal.
   */
  #reassignAway (task: TaskState, leaving: readonly PeerKey[], why: OriginAssignedEvent['why'], canTake: (peer: PeerKey) => boolean = () => true): void {
    const assignment = task.assignment
    const gone = leaving.filter(peer => assignment?.has(peer) === true)
    if (assignment == null || gone.length === 0) return
    const away = new Set(gone)
    const availability = this.#components.availability(task.digest)
    // The readers that stay, topped up with other downloaders to the task's number of readers.
    // Those that cannot take keep their own pieces (closed), and take none of these.
    const staying = assignment.assignees.filter(p => !away.has(p) && task.wanting.has(p))
    const closed = new Set(staying.filter(p => !canTake(p)))
    const others = [...task.wanting].filter(p => !away.has(p) && !staying.includes(p) && canTake(p))
    const remaining = [...staying, ...others.slice(0, Math.max(0, this.#readers - staying.length))]
    if (remaining.length === closed.size) {
      if (why !== 'stalled') task.assignment = undefined
      return
    }
    task.assignment = reassign(assignment, { failed: gone[0]!, done: i => (availability?.holderCount(i) ?? 0) > 0, remaining, closed })
    const now = this.#components.now()
    for (const p of remaining) if (!task.originProgressAt.has(p)) task.originDealt(p, now)
    for (const peer of gone) {
      task.originProgressAt.delete(peer)
      task.originSinceDeal.delete(peer)
      // A reader that failed or stalled is not taken back as a newcomer.
      task.originConsidered.add(peer)
      this.#components.onOriginAssigned?.({ digest: task.digest, assignees: remaining.length, pieces: 0, reassigned: true, from: peer, why })
    }
    task.dirty = true
  }

  /**
   * To the assignees (and to those that were, so their list empties): the pieces still nobody
   * holds, when that differs from what they were last told. An assignee with no pieces that was
   * told none is passed over at once.
   */
  sendOrigin (task: TaskState, availability: TaskAvailabilityView): void {
    const assignment = task.assignment
    if (assignment != null) for (const peer of assignment.assignees) this.#sendOriginTo(task, availability, peer)
    for (const peer of task.originSent.keys()) if (assignment?.has(peer) !== true) this.#sendOriginTo(task, availability, peer)
  }

  #sendOriginTo (task: TaskState, availability: TaskAvailabilityView, peer: PeerKey): void {
    if (!task.wanting.has(peer)) return
    const assigned = task.assignment?.piecesOf(peer) ?? NO_PIECES
    const before = task.originSent.get(peer) ?? ''
    if (assigned.length === 0 && before === '') return
    const pieces = assigned.filter(i => availability.holderCount(i) === 0)
    const signature = pieces.join(',')
    if (before === signature) return
    task.originSent.set(peer, signature)
    this.#components.send(peer, { origin: { digest: task.digest, pieces } })
  }
}

/**
 * Unfinished pieces a reader keeps when its origin reads of a task are dealt again (besides the
 * rest of the reads they are in, which rebalance keeps): SCHEDULER_ORIGIN_KEEP_PIECES, or what its
 * rate says it reads before the scheduler would hear of it (SCHEDULER_ORIGIN_KEEP_MS past its last
 * report), when more. Its rate: the origin bytes of its reports after the first, over the time
 * between them; with one report, all its bytes over the time since the deal (which counts the
 * wait for the origin's first byte, so slower than it reads). Counted in bytes, not finished
 * pieces: pieces reach the scheduler after their commit, and on a busy machine readers over
 * loopback had read pieces that no report named yet, which newcomers were dealt and read again
 * (1.06-1.25x the image in half of ten pulls of 6 agents).
 */
export function originKeepFor (since: OriginSinceDeal | undefined, pieceSize: number, now: number): number {
  if (since == null || since.bytes === 0) return SCHEDULER_ORIGIN_KEEP_PIECES
  const laterBytes = since.bytes - since.firstBytes
  const bytesPerMs = since.reports > 1 && since.lastAt > since.firstAt && laterBytes > 0
    ? laterBytes / (since.lastAt - since.firstAt)
    : since.bytes / Math.max(1, since.lastAt - since.dealtAt)
  return Math.max(SCHEDULER_ORIGIN_KEEP_PIECES, Math.ceil(bytesPerMs * (now - since.lastAt + SCHEDULER_ORIGIN_KEEP_MS) / pieceSize))
}
