import { InvalidBitfieldError } from '@shoal/proto'
import type { ReadonlyBitfield, TaskAvailabilityView } from './availability.ts'
import { compareChoices, localityOf, SCORE_EPSILON } from './parent-selection.ts'
import type { Locality, ParentChoice, ParentView } from './parent-selection.ts'
import { LocalityGroups } from './locality-groups.ts'
import type { PeerInfo, PeerKey } from './types.ts'

/**
 * Parent selection for every downloader of one task in one decision round: for each child, the
 * same answer as `selectParents` with the same availability and candidates, at a fraction of the
 * cost when a task has thousands of peers.
 *
 * `selectParents` looks every peer of the task up and scores it against the child: O(N) per
 * child, O(N^2) per task and round. The pool indexes the peers by site and zone (LocalityGroups,
 * which the service keeps from round to round, or which the pool makes itself in O(N)); since
 * locality comes first in the order, a child whose site offers `wanted` useful parents needs
 * nothing beyond its site; only when it does not are its zone, then the rest, scanned. What does
 * not depend on the child (may the peer be a parent at all, its load and failure factors, its
 * bitfield bytes) is worked out once per peer, when a child first meets it. Useful pieces are
 * counted a byte at a time (parent & ~child). Each group's candidates are kept by reach (pieces
 * held x free / failure divisor, which over the child's missing pieces bounds any score the parent
 * can have), so a scan stops as soon as the list is full and no one left could beat its last.
 *
 * Build: O(1) with groups, else O(N). Select: O(site + zone + N when the nearer groups fall short)
 * x O(P / 8); each group's candidates are listed when a child first needs the group, each peer
 * looked up in the candidates once per pool. The pool is a snapshot of the candidates' state:
 * build it after the round's loads are known and drop it with the round.
 */
export interface ParentPoolInput {
  availability: TaskAvailabilityView
  candidates: ParentView
  /** The task's peers by locality, kept across rounds; without them the pool groups the task's peers itself. */
  groups?: LocalityGroups
}

interface Candidate {
  id: PeerKey
  info: PeerInfo
  bytes: Uint8Array
  full: boolean
  /** (slots - uploads) / slots and 1 + failures, kept apart so the score is computed as selectParents does, bit for bit. */
  free: number
  failureDivisor: number
  /** pieces held x free / failureDivisor: over a child's missing pieces, a bound of any score this parent can reach. */
  reach: number
}

export class ParentPool {
  readonly #availability: TaskAvailabilityView
  readonly #candidates: ParentView
  readonly #groups: LocalityGroups
  /** The candidates of each group scanned so far (peers that may not be parents this round left out). */
  readonly #bySite = new Map<string, Candidate[]>()
  readonly #byZone = new Map<string, Candidate[]>()
  #all?: Candidate[]
  /** Each peer met so far: its candidate, or null when it may not be a parent this round. */
  readonly #met = new Map<PeerKey, Candidate | null>()

  constructor (input: ParentPoolInput) {
    const { availability, candidates } = input
    this.#availability = availability
    this.#candidates = candidates
    this.#groups = input.groups ?? LocalityGroups.of(availability.peers(), peer => candidates.get(peer)?.info)
  }

  /** The best `wanted` parents for the child, best first: `selectParents`'s answer. */
  select (child: { info: PeerInfo, bitfield: ReadonlyBitfield }, wanted: number): ParentChoice[] {
    const pieceCount = this.#availability.pieceCount
    if (child.bitfield.pieceCount !== pieceCount) {
      throw new InvalidBitfieldError(`the child's bitfield has ${child.bitfield.pieceCount} pieces; ${this.#availability.digest} has ${pieceCount}`)
    }
    const limit = Math.floor(wanted)
    const missing = pieceCount - child.bitfield.count()
    const best: ParentChoice[] = []
    if (!(limit > 0) || missing === 0) return best
    const childBytes = child.bitfield.toBytes()
    const consider = (candidates: readonly Candidate[], locality: Locality): boolean => {
      for (const candidate of candidates) {
        // Lists go by reach, highest first: once the list is full and no one further can beat its last, stop.
        const last = best.length === limit ? best[limit - 1]! : undefined
        if (last?.locality === locality && candidate.reach / missing < last.score - SCORE_EPSILON) break
        if (candidate.id === child.info.id || localityOf(child.info, candidate.info) !== locality) continue
        const usefulPieces = candidate.full ? missing : countUseful(candidate.bytes, childBytes)
        if (usefulPieces === 0) continue
        insertBest(best, { id: candidate.id, locality, usefulPieces, score: (usefulPieces / missing) * candidate.free / candidate.failureDivisor }, limit)
      }
      // Every choice of a farther group comes after all of these: a full list is final.
      return best.length === limit
    }
    const { site, zone } = child.info
    if (site != null && consider(this.#group(this.#bySite, site, () => this.#groups.site(site)), 'site')) return best
    if (zone != null && consider(this.#group(this.#byZone, zone, () => this.#groups.zone(zone)), 'zone')) return best
    consider(this.#all ??= this.#candidatesOf(this.#groups.all()), 'other')
    return best
  }

  #group (made: Map<string, Candidate[]>, label: string, peers: () => Iterable<PeerKey>): Candidate[] {
    let candidates = made.get(label)
    if (candidates == null) made.set(label, candidates = this.#candidatesOf(peers()))
    return candidates
  }

  /**
   * The peers that may be parents this round, as candidates, by reach, highest first (a child's
   * scan stops at the first that cannot make its list); a peer in several groups is worked out once.
   */
  #candidatesOf (peers: Iterable<PeerKey>): Candidate[] {
    const candidates: Candidate[] = []
    for (const peer of peers) {
      let candidate = this.#met.get(peer)
      if (candidate === undefined) this.#met.set(peer, candidate = this.#make(peer) ?? null)
      if (candidate != null) candidates.push(candidate)
    }
    return candidates.sort((a, b) => b.reach - a.reach)
  }

  /** The peer as a candidate: in the task, known, not ejected, a free slot, some piece. */
  #make (peer: PeerKey): Candidate | undefined {
    const state = this.#candidates.get(peer)
    if (state == null || state.ejected || !(state.uploads < state.info.uploadSlots)) return undefined
    const bits = this.#availability.bitfield(peer)
    if (bits == null || bits.count() === 0) return undefined
    const free = (state.info.uploadSlots - state.uploads) / state.info.uploadSlots
    const failureDivisor = 1 + Math.max(0, state.recentFailures)
    return { id: peer, info: state.info, bytes: bits.toBytes(), full: bits.full(), free, failureDivisor, reach: bits.count() * free / failureDivisor }
  }
}

/** Pieces set in `parent` and clear in `child` (spare bits are clear in both). */
function countUseful (parent: Uint8Array, child: Uint8Array): number {
  let useful = 0
  for (let i = 0; i < parent.length; i++) {
    for (let bits = parent[i]! & ~child[i]! & 0xff; bits !== 0; bits &= bits - 1) useful++
  }
  return useful
}

/** Keeps `best` sorted and at most `limit` long (as selectParents does). O(limit). */
function insertBest (best: ParentChoice[], choice: ParentChoice, limit: number): void {
  if (best.length === limit && compareChoices(choice, best[limit - 1]!) >= 0) return
  let at = best.length
  while (at > 0 && compareChoices(choice, best[at - 1]!) < 0) at--
  best.splice(at, 0, choice)
  if (best.length > limit) best.pop()
}
