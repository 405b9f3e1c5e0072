import { InvalidBitfieldError } from '@shoal/proto'
import type { ReadonlyBitfield, TaskAvailabilityView } from './availability.ts'
import type { PeerInfo, PeerKey } from './types.ts'

/**
 * Parent selection: whom a child fetches the pieces of one task from. A pure function of what the
 * scheduler knows at the moment (availability, each candidate's load, failures and ejection).
 *
 * Who may be a parent: a peer in the task other than the child, known to the view, not ejected,
 * with a free upload slot (uploads < uploadSlots; a peer with 0 slots never is), holding at least
 * one piece the child lacks.
 *
 * Order: locality first, then score, then peer key (so equal scores give the same answer on every
 * scheduler and every run).
 *   locality: 'site' (both have a site label and they are equal), then 'zone' (same for the zone
 *             label), then 'other'. A far parent with a better score never comes before a near one.
 *   score   = useful / missing x (slots - uploads) / slots x 1 / (1 + failures)
 *     useful / missing          the share of what the child lacks that the parent can give (0, 1]
 *     (slots - uploads) / slots the parent's free upload capacity (0, 1]
 *     1 / (1 + failures)        its recent failures: one halves the score, three quarter it
 *   The product weighs them against each other without units: a seed that is 90% busy scores as a
 *   holder of a tenth of the missing pieces that is idle.
 *
 * Cost: O(N x M) for N peers in the task and M pieces the child lacks (O(N) for parents that hold
 * the whole blob, the usual case), plus O(N x wanted) to keep the best `wanted` in order; no sort
 * of all N.
 */

/** What the scheduler knows of a candidate parent now. */
export interface ParentState {
  info: PeerInfo
  /** Piece uploads the peer is serving now (as handed out by the scheduler or reported). */
  uploads: number
  /** Failures within the health window (ParentHealth.recentFailures). */
  recentFailures: number
  /** Ejected for bad pieces or repeated failures (ParentHealth.isEjected). */
  ejected: boolean
}

/**
 * Looks a candidate up by peer key; a Map<PeerKey, ParentState> is one. `info` is the peer's info
 * when the caller has it at hand (ParentPool, from the task's locality groups, which the service
 * keeps in step with registrations): a view may then answer from it instead of looking the peer's
 * registration up, and must answer as it would have with the registration.
 */
export interface ParentView {
  get(peer: PeerKey, info?: PeerInfo): ParentState | undefined
}

export interface SelectParentsInput {
  child: { info: PeerInfo, bitfield: ReadonlyBitfield }
  availability: TaskAvailabilityView
  candidates: ParentView
  /** How many parents to return at most. */
  wanted: number
}

export type Locality = 'site' | 'zone' | 'other'

export interface ParentChoice {
  id: PeerKey
  locality: Locality
  /** Pieces the parent holds that the child lacks. */
  usefulPieces: number
  /** Pieces the parent holds (of the whole blob). */
  heldPieces: number
  score: number
}

const LOCALITY_RANK: Record<Locality, number> = { site: 0, zone: 1, other: 2 }

/** The best `wanted` parents for the child, best first (see the module's comment for the order). */
export function selectParents (input: SelectParentsInput): ParentChoice[] {
  const { child, availability, candidates } = input
  if (child.bitfield.pieceCount !== availability.pieceCount) {
    throw new InvalidBitfieldError(`the child's bitfield has ${child.bitfield.pieceCount} pieces; ${availability.digest} has ${availability.pieceCount}`)
  }
  const wanted = Math.floor(input.wanted)
  const missing = child.bitfield.missing()
  if (!(wanted > 0) || missing.length === 0) {
    return []
  }
  const best: ParentChoice[] = []
  for (const peer of availability.peers()) {
    if (peer === child.info.id) {
      continue
    }
    const state = candidates.get(peer)
    if (state == null || state.ejected || !(state.uploads < state.info.uploadSlots)) {
      continue
    }
    const bits = availability.bitfield(peer)
    const usefulPieces = bits == null ? 0 : countUseful(bits, missing)
    if (usefulPieces === 0) {
      continue
    }
    const choice: ParentChoice = {
      id: peer,
      locality: localityOf(child.info, state.info),
      usefulPieces,
      heldPieces: bits!.count(),
      score: (usefulPieces / missing.length) *
        ((state.info.uploadSlots - state.uploads) / state.info.uploadSlots) /
        (1 + Math.max(0, state.recentFailures))
    }
    insertBest(best, choice, wanted)
  }
  return best
}

/** Which locality `parent` shares with `child`. */
export function localityOf (child: PeerInfo, parent: PeerInfo): Locality {
  if (child.site != null && child.site === parent.site) {
    return 'site'
  }
  if (child.zone != null && child.zone === parent.zone) {
    return 'zone'
  }
  return 'other'
}

/**
 * Scores this close are equal: the same ratios computed in another order differ in the last bits,
 * and the peer key, not rounding, must decide between equals.
 */
export const SCORE_EPSILON = 1e-9

/**
 * Whether a choice of this locality, score and peer goes before `other` (compareChoices < 0),
 * without making the choice: a scan asks it of every candidate that might enter a full list.
 */
export function precedes (locality: Locality, score: number, id: PeerKey, other: ParentChoice): boolean {
  const ranks = LOCALITY_RANK[locality] - LOCALITY_RANK[other.locality]
  if (ranks !== 0) return ranks < 0
  if (Math.abs(score - other.score) >= SCORE_EPSILON) return score > other.score
  return id < other.id
}

/** Negative when `a` goes before `b`. */
export function compareChoices (a: ParentChoice, b: ParentChoice): number {
  const scores = Math.abs(a.score - b.score) < SCORE_EPSILON ? 0 : b.score - a.score
  return LOCALITY_RANK[a.locality] - LOCALITY_RANK[b.locality] ||
    scores ||
    (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)
}

function countUseful (bits: ReadonlyBitfield, missing: number[]): number {
  if (bits.full()) {
    return missing.length
  }
  if (bits.count() === 0) {
    return 0
  }
  let useful = 0
  for (const index of missing) {
    if (bits.has(index)) {
      useful++
    }
  }
  return useful
}

/** Keeps `best` sorted and at most `limit` long. O(limit). */
function insertBest (best: ParentChoice[], choice: ParentChoice, limit: number): void {
  if (best.length === limit && compareChoices(choice, best[limit - 1]!) >= 0) {
    return
  }
  let at = best.length
  while (at > 0 && compareChoices(choice, best[at - 1]!) < 0) {
    at--
  }
  best.splice(at, 0, choice)
  if (best.length > limit) {
    best.pop()
  }
}
