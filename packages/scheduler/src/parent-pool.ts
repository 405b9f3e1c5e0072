import { InvalidBitfieldError } from '@shoal/proto'
import type { ReadonlyBitfield, TaskAvailabilityView } from './availability.ts'
import { compareChoices, localityOf } from './parent-selection.ts'
import type { Locality, ParentChoice, ParentView } from './parent-selection.ts'
import type { PeerInfo, PeerKey } from './types.ts'

/**
 * Parent selection for every downloader of one task in one decision round: for each child, the
 * same answer as `selectParents` with the same availability and candidates, at a fraction of the
 * cost when a task has thousands of peers.
 *
 * `selectParents` looks every peer of the task up and scores it against the child: O(N) per
 * child, O(N^2) per task and round. The pool does the part that does not depend on the child once
 * (which peers may be parents at all, their load and failure factors, their bitfield bytes) and
 * indexes the candidates by site and zone. Since locality comes first in the order, a child whose
 * site offers `wanted` useful parents needs nothing beyond its site; only when it does not are its
 * zone, then the rest, scanned. Useful pieces are counted a byte at a time (parent & ~child).
 *
 * Build: O(N) lookups and O(N x P / 8) bytes. Select: O(site + zone + N when the nearer groups
 * fall short) x O(P / 8). The pool is a snapshot: build it after the round's loads are known and
 * drop it with the round.
 */
export interface ParentPoolInput {
  availability: TaskAvailabilityView
  candidates: ParentView
}

interface Candidate {
  id: PeerKey
  info: PeerInfo
  bytes: Uint8Array
  full: boolean
  /** (slots - uploads) / slots and 1 + failures, kept apart so the score is computed as selectParents does, bit for bit. */
  free: number
  failureDivisor: number
}

export class ParentPool {
  readonly #pieceCount: number
  readonly #digest: string
  readonly #all: Candidate[] = []
  readonly #bySite = new Map<string, Candidate[]>()
  readonly #byZone = new Map<string, Candidate[]>()

  constructor (input: ParentPoolInput) {
    const { availability, candidates } = input
    this.#pieceCount = availability.pieceCount
    this.#digest = availability.digest
    for (const peer of availability.peers()) {
      const state = candidates.get(peer)
      if (state == null || state.ejected || !(state.uploads < state.info.uploadSlots)) continue
      const bits = availability.bitfield(peer)
      if (bits == null || bits.count() === 0) continue
      const candidate: Candidate = {
        id: peer,
        info: state.info,
        bytes: bits.toBytes(),
        full: bits.full(),
        free: (state.info.uploadSlots - state.uploads) / state.info.uploadSlots,
        failureDivisor: 1 + Math.max(0, state.recentFailures)
      }
      this.#all.push(candidate)
      if (state.info.site != null) group(this.#bySite, state.info.site).push(candidate)
      if (state.info.zone != null) group(this.#byZone, state.info.zone).push(candidate)
    }
  }

  /** Peers that may be a parent to someone this round (in the task, not ejected, a free slot, some piece). */
  get size (): number {
    return this.#all.length
  }

  /** The best `wanted` parents for the child, best first: `selectParents`'s answer. */
  select (child: { info: PeerInfo, bitfield: ReadonlyBitfield }, wanted: number): ParentChoice[] {
    if (child.bitfield.pieceCount !== this.#pieceCount) {
      throw new InvalidBitfieldError(`the child's bitfield has ${child.bitfield.pieceCount} pieces; ${this.#digest} has ${this.#pieceCount}`)
    }
    const limit = Math.floor(wanted)
    const missing = this.#pieceCount - child.bitfield.count()
    const best: ParentChoice[] = []
    if (!(limit > 0) || missing === 0) return best
    const childBytes = child.bitfield.toBytes()
    const consider = (candidates: readonly Candidate[] | undefined, locality: Locality): boolean => {
      for (const candidate of candidates ?? []) {
        if (candidate.id === child.info.id || localityOf(child.info, candidate.info) !== locality) continue
        const usefulPieces = candidate.full ? missing : countUseful(candidate.bytes, childBytes)
        if (usefulPieces === 0) continue
        insertBest(best, { id: candidate.id, locality, usefulPieces, score: (usefulPieces / missing) * candidate.free / candidate.failureDivisor }, limit)
      }
      // Every choice of a farther group comes after all of these: a full list is final.
      return best.length === limit
    }
    if (child.info.site != null && consider(this.#bySite.get(child.info.site), 'site')) return best
    if (child.info.zone != null && consider(this.#byZone.get(child.info.zone), 'zone')) return best
    consider(this.#all, 'other')
    return best
  }
}

function group (groups: Map<string, Candidate[]>, key: string): Candidate[] {
  let members = groups.get(key)
  if (members == null) groups.set(key, members = [])
  return members
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
