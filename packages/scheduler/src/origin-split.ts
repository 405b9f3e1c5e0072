import { MAX_PIECE_COUNT } from '@shoal/proto'
import { DEFAULT_ORIGIN_READERS_PER_PIECE } from './constants.ts'
import { InvalidOriginAssignmentError, NoOriginAssigneeError } from './errors.ts'
import type { PeerKey } from './types.ts'

/**
 * Cooperative origin fetches: for a task that no peer holds, which of the first agents reads which
 * piece from the origin, so that the origin sends each piece about once and the swarm spreads it.
 *
 * Pieces are dealt round-robin in piece order, in runs of `run` consecutive pieces (originRunFor:
 * 8 for 256 KiB pieces, 2 for 1 MiB, 1 from 2 MiB up; an agent reads a run in one origin request).
 * With one reader per piece, assignee j of n reads runs j, j + n, j + 2n, ..., so every assignee
 * starts on an early run (clients read a blob in order, and each agent gets the pieces before and
 * after its own from the others), and the loads differ by at most one run. With k readers per
 * piece, the k slots of each run continue the deal: run r's readers are assignees
 * (r*k .. r*k+k-1) mod n, which are distinct while k <= n.
 *
 * Compact: an assignment is the assignee list and one Uint16 per piece and reader slot (an index
 * into the list, or NONE for a slot that was dropped): 2 x pieceCount x k bytes.
 */

/** A slot with no reader (its reader left after the piece was done). */
const NONE = 0xffff
const NO_PIECES: readonly number[] = Object.freeze([])
/** Assignees are indexed by Uint16 with NONE reserved. */
const MAX_ASSIGNEES = NONE
/** The raw slots of an assignment, for reassign only (set by the class's static block). */
let slotsOf: (assignment: OriginAssignment) => Uint16Array

export interface AssignOriginInput {
  pieceCount: number
  /** The agents that read from the origin, in arrival order. */
  assignees: readonly PeerKey[]
  /** Readers of each piece; default DEFAULT_ORIGIN_READERS_PER_PIECE. Capped at assignees.length. */
  readersPerPiece?: number
  /** Consecutive pieces dealt to the same readers (originRunFor of the blob's size); default 1. */
  run?: number
}

export interface ReassignInput {
  /** The assignee that failed or is too slow; it reads nothing in the new assignment. */
  failed: PeerKey
  /** Whether piece `index` is already held by someone (finished pieces are not reassigned). */
  done: (index: number) => boolean
  /** The assignees left (the failed one is ignored if listed); may name newcomers. */
  remaining: readonly PeerKey[]
  /** Of `remaining`, those that keep their own pieces but take none of the failed one's (stalled or behind themselves); at least one of `remaining` must not be. */
  closed?: ReadonlySet<PeerKey>
}

export interface RebalanceInput {
  /** Whether piece `index` is already held by someone (finished pieces are not moved). */
  done: (index: number) => boolean
  /** Every downloader that may read from the origin now: the assignees and the newcomers. */
  downloaders: readonly PeerKey[]
  /** Unfinished pieces each assignee keeps, its first ones in order: those it has likely started. */
  keep: number | ((peer: PeerKey) => number)
  /**
   * The most pieces in a row one origin read of an agent joins (originReadPiecesFor): an assignee
   * also keeps the rest of the reads its kept pieces are in, taking its pieces in a row this many
   * at a time from the first of them; per assignee when a function. Default 1 (a piece a read).
   */
  joined?: number | ((peer: PeerKey) => number)
  /** Pieces an assignee said it is reading: kept too, with the rest of their reads. */
  begun?: (peer: PeerKey, piece: number) => boolean
}

/** Who reads which piece from the origin. Immutable: `reassign` makes a new one. */
export class OriginAssignment {
  readonly pieceCount: number
  /** Reader slots per piece: min(readersPerPiece, assignees) when it was made. */
  readonly readersPerPiece: number
  /** Consecutive pieces dealt to the same readers; reassign and rebalance keep dealing so. */
  readonly run: number
  readonly assignees: readonly PeerKey[]
  readonly #slots: Uint16Array
  readonly #indexOf: Map<PeerKey, number>
  /** Each assignee's pieces, in order: made by the first piecesOf, in one pass over the slots. */
  #piecesByReader?: ReadonlyArray<readonly number[]>

  /** Made by assignOrigin and reassign; `slots` holds pieceCount x readersPerPiece assignee indexes. */
  constructor (assignees: readonly PeerKey[], readersPerPiece: number, slots: Uint16Array, run = 1) {
    this.assignees = Object.freeze([...assignees])
    this.readersPerPiece = readersPerPiece
    this.run = run
    this.pieceCount = readersPerPiece === 0 ? 0 : slots.length / readersPerPiece
    this.#slots = slots
    this.#indexOf = new Map(assignees.map((peer, index) => [peer, index]))
  }

  /** The assignees that read piece `index` from the origin. O(readersPerPiece). */
  readers (index: number): PeerKey[] {
    this.#checkIndex(index)
    const readers: PeerKey[] = []
    for (let s = index * this.readersPerPiece; s < (index + 1) * this.readersPerPiece; s++) {
      const reader = this.#slots[s]!
      if (reader !== NONE) {
        readers.push(this.assignees[reader]!)
      }
    }
    return readers
  }

  /** Is `peer` an assignee (reading pieces or not)? O(1). */
  has (peer: PeerKey): boolean {
    return this.#indexOf.has(peer)
  }

  /**
   * The pieces `peer` reads from the origin, in order. The first call costs O(pieceCount x
   * readersPerPiece + assignees) for every assignee at once; later ones O(1). A decision round asks
   * it of every assignee of a task, so one scan of the slots per assignee would make that O(N x P).
   */
  piecesOf (peer: PeerKey): readonly number[] {
    const reader = this.#indexOf.get(peer)
    if (reader == null) {
      return NO_PIECES
    }
    this.#piecesByReader ??= this.#dealt()
    return this.#piecesByReader[reader]!
  }

  #dealt (): ReadonlyArray<readonly number[]> {
    const lists = this.assignees.map((): number[] => [])
    for (let s = 0; s < this.#slots.length; s++) {
      const reader = this.#slots[s]!
      if (reader !== NONE) {
        lists[reader]!.push(Math.floor(s / this.readersPerPiece))
      }
    }
    return lists.map(list => Object.freeze(list))
  }

  #checkIndex (index: number): void {
    if (!Number.isInteger(index) || index < 0 || index >= this.pieceCount) {
      throw new InvalidOriginAssignmentError(`piece ${index} is outside an assignment of ${this.pieceCount} pieces`)
    }
  }

  static {
    slotsOf = assignment => assignment.#slots
  }
}

/** Splits the pieces of a cold task among `assignees` (see the module's comment). O(pieceCount x k). */
export function assignOrigin (input: AssignOriginInput): OriginAssignment {
  const { pieceCount, assignees } = input
  const readersPerPiece = input.readersPerPiece ?? DEFAULT_ORIGIN_READERS_PER_PIECE
  const run = input.run ?? 1
  if (!Number.isSafeInteger(pieceCount) || pieceCount < 0 || pieceCount > MAX_PIECE_COUNT) {
    throw new InvalidOriginAssignmentError(`piece count ${pieceCount} is not an integer in [0, ${MAX_PIECE_COUNT}]`)
  }
  if (!Number.isSafeInteger(readersPerPiece) || readersPerPiece < 1) {
    throw new InvalidOriginAssignmentError(`readers per piece ${readersPerPiece} is not a positive integer`)
  }
  if (!Number.isSafeInteger(run) || run < 1) {
    throw new InvalidOriginAssignmentError(`a run of ${run} pieces is not a positive integer`)
  }
  checkAssignees(assignees)
  if (assignees.length === 0 && pieceCount > 0) {
    throw new NoOriginAssigneeError(`no assignee to read ${pieceCount} pieces from the origin`)
  }
  const n = assignees.length
  const k = Math.min(readersPerPiece, n)
  const slots = new Uint16Array(pieceCount * k)
  for (let s = 0; s < slots.length; s++) {
    slots[s] = (Math.floor(s / (k * run)) * k + s % k) % n
  }
  return new OriginAssignment(assignees, k, slots, run)
}

/**
 * Gives the unfinished pieces of `failed` (and of any assignee not in `remaining`) to the
 * remaining assignees. Each piece, in order, goes to the remaining assignee with the fewest
 * unfinished pieces that does not read it already (lowest position in `remaining` among equals),
 * so early pieces spread over several assignees and the loads stay even; inside a run, to the
 * reader of the piece before it (dealTo). A slot of a finished
 * piece is dropped rather than moved. Every unfinished piece ends with min(readersPerPiece,
 * remaining) readers (an empty slot of one is filled, e.g. by a newcomer). O(pieceCount x k x remaining); `done` is called once per piece.
 */
export function reassign (assignment: OriginAssignment, input: ReassignInput): OriginAssignment {
  const remaining = input.remaining.filter(peer => peer !== input.failed)
  checkAssignees(remaining)
  const k = assignment.readersPerPiece
  const old = slotsOf(assignment)
  const newIndex = new Map(remaining.map((peer, index) => [peer, index]))
  const translate = assignment.assignees.map(peer => newIndex.get(peer) ?? NONE)
  const done = new Uint8Array(assignment.pieceCount)
  const loads = new Array<number>(remaining.length).fill(0)
  const slots = new Uint16Array(old.length)
  for (let piece = 0; piece < assignment.pieceCount; piece++) {
    done[piece] = input.done(piece) ? 1 : 0
    for (let s = piece * k; s < (piece + 1) * k; s++) {
      const reader = old[s] === NONE ? NONE : translate[old[s]!]!
      slots[s] = reader
      if (reader !== NONE && done[piece] === 0) {
        loads[reader]!++
      }
    }
  }
  // A closed assignee is never the least loaded, nor continues a run it did not start.
  remaining.forEach((peer, index) => { if (input.closed?.has(peer) === true) loads[index] = Infinity })
  for (let piece = 0; piece < assignment.pieceCount; piece++) {
    const first = piece * k
    for (let s = first; s < first + k; s++) {
      if (done[piece] === 1 || slots[s] !== NONE) {
        continue
      }
      const reader = dealTo(loads, slots, s, k, assignment.run)
      if (reader === NONE && !slots.subarray(first, first + k).some(r => r !== NONE)) {
        throw new NoOriginAssigneeError(`piece ${piece} is unfinished and no assignee remains to read it from the origin`)
      }
      slots[s] = reader
      if (reader !== NONE) {
        loads[reader]!++
      }
    }
  }
  return new OriginAssignment(remaining, k, slots, assignment.run)
}

/**
 * Spreads a cold task's origin reads over downloaders that arrived after the split: each assignee
 * keeps its first `keep` unfinished pieces and the rest of the origin reads they are in (`joined`:
 * a reader of a whole small blob reads its first 2 MiB in one request, though dealt them a piece a
 * run): those it has likely started. The rest of its pieces
 * are dealt again, in piece order, each to the downloader with the fewest unfinished pieces (old or
 * new; lowest position among equals; inside a run, the reader of the piece before it, so a run an
 * assignee started stays whole), so that every downloader reads about the same share from the
 * origin and has something to give the others. Without it the first agent reads a whole blob that
 * everyone else then waits for through its one upload link. O(pieceCount x k x downloaders).
 */
export function rebalance (assignment: OriginAssignment, input: RebalanceInput): OriginAssignment {
  const downloaders = [...new Set([...assignment.assignees.filter(peer => input.downloaders.includes(peer)), ...input.downloaders])]
  checkAssignees(downloaders)
  const k = assignment.readersPerPiece
  const old = slotsOf(assignment)
  const newIndex = new Map(downloaders.map((peer, index) => [peer, index]))
  const translate = assignment.assignees.map(peer => newIndex.get(peer) ?? NONE)
  const n = downloaders.length
  const { keep, joined: join = 1 } = input
  const keeps = downloaders.map(peer => typeof keep === 'number' ? keep : keep(peer))
  const joins = downloaders.map(peer => typeof join === 'number' ? join : join(peer))
  const loads = new Array<number>(n).fill(0)
  // Per assignee: where its current stretch of pieces in a row began, its last piece so far, and
  // the last piece of the reads its kept pieces are in (-1: none in this stretch).
  const stretchStart = new Array<number>(n).fill(0)
  const lastPiece = new Array<number>(n).fill(-2)
  const readEnd = new Array<number>(n).fill(-1)
  const done = new Uint8Array(assignment.pieceCount)
  const slots = new Uint16Array(old.length)
  for (let piece = 0; piece < assignment.pieceCount; piece++) {
    done[piece] = input.done(piece) ? 1 : 0
    for (let s = piece * k; s < (piece + 1) * k; s++) {
      const reader = old[s] === NONE ? NONE : translate[old[s]!]!
      if (reader === NONE) {
        slots[s] = NONE
        continue
      }
      if (lastPiece[reader] !== piece - 1) {
        stretchStart[reader] = piece
        readEnd[reader] = -1
      }
      lastPiece[reader] = piece
      // A finished piece's reader stays (moot).
      if (done[piece] === 1) {
        slots[s] = reader
        continue
      }
      const kept = loads[reader]! < keeps[reader]! || piece <= readEnd[reader]! || input.begun?.(downloaders[reader]!, piece) === true
      slots[s] = kept ? reader : NONE
      if (!kept) continue
      loads[reader]!++
      // Its reads took `joined` pieces at a time from the stretch's start: the rest of this one stays too.
      const start = stretchStart[reader]!
      const joined = joins[reader]!
      readEnd[reader] = Math.max(readEnd[reader]!, start + (Math.floor((piece - start) / joined) + 1) * joined - 1)
    }
  }
  for (let piece = 0; piece < assignment.pieceCount; piece++) {
    const first = piece * k
    for (let s = first; s < first + k; s++) {
      if (done[piece] === 1 || slots[s] !== NONE) continue
      const reader = dealTo(loads, slots, s, k, assignment.run)
      slots[s] = reader
      if (reader !== NONE) loads[reader]!++
    }
  }
  return new OriginAssignment(downloaders, k, slots, assignment.run)
}

/**
 * Who takes slot `s`: inside a run (not its first piece), the reader of the same slot of the piece
 * before, unless it reads this piece already; else the least loaded (leastLoaded).
 */
function dealTo (loads: number[], slots: Uint16Array, s: number, k: number, run: number): number {
  const piece = Math.floor(s / k)
  const first = piece * k
  if (piece % run !== 0) {
    const before = slots[s - k]!
    if (before !== NONE && loads[before] !== Infinity && !slots.subarray(first, first + k).includes(before)) return before
  }
  return leastLoaded(loads, slots, first, k)
}

/** The assignee with the fewest unfinished pieces that is not among slots[first .. first+k). */
function leastLoaded (loads: number[], slots: Uint16Array, first: number, k: number): number {
  let best = NONE
  for (let candidate = 0; candidate < loads.length; candidate++) {
    if (best !== NONE && loads[candidate]! >= loads[best]!) {
      continue
    }
    let reads = false
    for (let s = first; s < first + k; s++) {
      if (slots[s] === candidate) {
        reads = true
        break
      }
    }
    if (!reads) {
      best = candidate
    }
  }
  return best
}

function checkAssignees (assignees: readonly PeerKey[]): void {
  if (assignees.length >= MAX_ASSIGNEES) {
    throw new InvalidOriginAssignmentError(`${assignees.length} assignees; at most ${MAX_ASSIGNEES - 1}`)
  }
  if (new Set(assignees).size !== assignees.length) {
    throw new InvalidOriginAssignmentError('an assignee is listed twice')
  }
}
