import { InvalidBitfieldError } from '@shoal/proto'
import type { ReadonlyBitfield, TaskAvailabilityView } from './availability.ts'
import { compareChoices, precedes, SCORE_EPSILON } from './parent-selection.ts'
import type { Locality, ParentChoice, ParentView } from './parent-selection.ts'
import { LocalityGroups, NO_GROUP } from './locality-groups.ts'
import type { GroupMember } from './locality-groups.ts'
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
 * Classes: candidates with the same bitfield, free share and failure divisor have the same score
 * for any child, bit for bit; a group's list is its classes by reach, each with its members. A scan
 * scores a class once: when the parent has nothing the child lacks, the whole class is passed
 * over; otherwise its members are taken by peer id (sorted when a scan first enters the class) and
 * the scan leaves the class at the first member that cannot enter the list, since the rest tie
 * with it and come after it. In a swarm most peers hold one of a few bitfields (everyone has the
 * pieces that spread first; seeds hold all), so a child whose pieces no one else has, or a fresh
 * child facing a crowd of equal holders, costs the number of classes, not of peers; and a list is
 * made by sorting its few classes, not its peers. Useful pieces are counted once per distinct
 * bitfield and child.
 *
 * Build: O(1) with groups, else O(N). Select: O(classes of site + zone + N when the nearer groups
 * fall short) x O(P / 8); each group's list is made when a child first needs the group (O(n) to
 * class its n peers, O(k log k) to sort its k classes), each peer looked up in the candidates once
 * per pool (then found by its slot in the groups). Locality is found by comparing the groups'
 * numbers (GroupMember), and the bitfields are read in place (Bitfield.view), not copied. The pool
 * is a snapshot of the candidates' loads and reads the bitfields as they are: build it after the
 * round's loads are known and drop it with the round, before any bitfield changes.
 */
export interface ParentPoolInput {
  availability: TaskAvailabilityView
  candidates: ParentView
  /** The task's peers by locality, kept across rounds; without them the pool groups the task's peers itself. */
  groups?: LocalityGroups
}

/**
 * Candidates that score the same for any child: one bitfield, free share and failure divisor. The
 * numbers every select reads are kept here once.
 */
interface CandidateClass {
  bytes: Uint8Array
  full: boolean
  /** Pieces held. */
  held: number
  /** The same number for every class of this pool with the same bitfield. */
  bitfieldId: number
  /** (slots - uploads) / slots and 1 + failures, kept apart so the score is computed as selectParents does, bit for bit. */
  free: number
  failureDivisor: number
  /** pieces held x free / failureDivisor: over a child's missing pieces, a bound of any score these parents can reach. */
  reach: number
  /** The list being made (#listOf) and this class's place in it. */
  listStamp: number
  listIndex: number
}

interface Candidate {
  id: PeerKey
  /** Its groups' numbers (GroupMember): locality is found by comparing numbers, not labels. */
  siteGroup: number
  zoneGroup: number
  class: CandidateClass
}

/** The members of one class in one locality group; sorted by peer id when a scan first enters them. */
interface ClassMembers {
  class: CandidateClass
  members: Candidate[]
  byId: boolean
}

/** The candidates of one locality group: its classes by reach, highest first. */
type CandidateList = ClassMembers[]

/** The bitfield id of every full bitfield. */
const FULL_BITFIELD = 0
const NO_BYTES = new Uint8Array(0)

export class ParentPool {
  readonly #availability: TaskAvailabilityView
  readonly #candidates: ParentView
  readonly #groups: LocalityGroups
  /** The candidates of each group scanned so far (peers that may not be parents this round left out). */
  readonly #bySite = new Map<string, CandidateList>()
  readonly #byZone = new Map<string, CandidateList>()
  #all?: CandidateList
  /** Each peer met so far, by its slot in the groups: its candidate, or null when it may not be a parent this round. */
  readonly #met: Array<Candidate | null | undefined>
  /** The bytes of each bitfield id (FULL_BITFIELD's are not kept), the ids by hash, and by content when two hashes collide. */
  readonly #bitfields: Uint8Array[] = [new Uint8Array(0)]
  readonly #idByHash = new Map<number, number>()
  readonly #idByContent = new Map<string, number>()
  /** The classes of each bitfield id. */
  readonly #classes: CandidateClass[][] = [[]]
  #listStamp = 0
  /** Useful pieces by bitfield id, for the child whose select stamped them (#stamp). */
  #useful = new Int32Array(16)
  #usefulStamp = new Int32Array(16)
  #stamp = 0

  constructor (input: ParentPoolInput) {
    const { availability, candidates } = input
    this.#availability = availability
    this.#candidates = candidates
    this.#groups = input.groups ?? LocalityGroups.of(availability.peers(), peer => candidates.get(peer)?.info)
    this.#met = new Array<Candidate | null | undefined>(this.#groups.slotCount)
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
    const childBytes = child.bitfield.view()
    const childId = child.info.id
    const { siteGroup, zoneGroup } = this.#groups.groupsOf(child.info)
    // localityOf(child, candidate), on the groups' numbers.
    const localityOf = (candidate: Candidate): Locality =>
      siteGroup !== NO_GROUP && candidate.siteGroup === siteGroup ? 'site' : zoneGroup !== NO_GROUP && candidate.zoneGroup === zoneGroup ? 'zone' : 'other'
    const stamp = ++this.#stamp
    const consider = (list: CandidateList, locality: Locality): boolean => {
      for (const group of list) {
        const k = group.class
        // Classes go by reach, highest first: once the list is full and no one further can beat its last, stop.
        const last = best.length === limit ? best[limit - 1]! : undefined
        if (last?.locality === locality && k.reach / missing < last.score - SCORE_EPSILON) break
        const usefulPieces = k.full ? missing : this.#usefulOf(k, childBytes, stamp)
        if (usefulPieces === 0) continue
        const score = (usefulPieces / missing) * k.free / k.failureDivisor
        if (!group.byId) {
          group.members.sort(byPeerId)
          group.byId = true
        }
        for (const candidate of group.members) {
          if (candidate.id === childId || localityOf(candidate) !== locality) continue
          // The rest of the class ties with this one and comes after it by id.
          if (best.length === limit && !precedes(locality, score, candidate.id, best[limit - 1]!)) break
          insertBest(best, { id: candidate.id, locality, usefulPieces, heldPieces: k.held, score }, limit)
        }
      }
      // Every choice of a farther group comes after all of these: a full list is final.
      return best.length === limit
    }
    const { site, zone } = child.info
    if (site != null && consider(this.#group(this.#bySite, site, () => this.#groups.siteMembers(site)), 'site')) return best
    if (zone != null && consider(this.#group(this.#byZone, zone, () => this.#groups.zoneMembers(zone)), 'zone')) return best
    consider(this.#all ??= this.#listOf(this.#groups.allMembers()), 'other')
    return best
  }

  #group (made: Map<string, CandidateList>, label: string, peers: () => Iterable<GroupMember>): CandidateList {
    let list = made.get(label)
    if (list == null) made.set(label, list = this.#listOf(peers()))
    return list
  }

  /** Pieces `candidate` holds that the child lacks, counted once per bitfield and child. */
  #usefulOf (k: CandidateClass, childBytes: Uint8Array, stamp: number): number {
    const id = k.bitfieldId
    if (this.#usefulStamp[id] === stamp) return this.#useful[id]!
    const useful = countUseful(k.bytes, childBytes)
    this.#usefulStamp[id] = stamp
    this.#useful[id] = useful
    return useful
  }

  /**
   * The peers that may be parents this round, as candidates, in their classes, by reach, highest
   * first (a child's scan stops at the first class that cannot make its list); a peer in several
   * groups is worked out once. O(n) to put the n peers in their classes, O(k log k) to sort the k
   * classes.
   */
  #listOf (members: Iterable<GroupMember>): CandidateList {
    const list: CandidateList = []
    const stamp = ++this.#listStamp
    for (const member of members) {
      let candidate = this.#met[member.slot]
      if (candidate === undefined) this.#met[member.slot] = candidate = this.#make(member) ?? null
      if (candidate == null) continue
      const k = candidate.class
      if (k.listStamp === stamp) {
        list[k.listIndex]!.members.push(candidate)
      } else {
        k.listStamp = stamp
        k.listIndex = list.length
        list.push({ class: k, members: [candidate], byId: false })
      }
    }
    return list.sort(byReach)
  }

  /** The peer as a candidate: in the task, holding some piece, known, not ejected, a free slot. */
  #make (member: GroupMember): Candidate | undefined {
    const peer = member.id
    const bits = this.#availability.bitfield(peer)
    if (bits == null || bits.count() === 0) return undefined
    const state = this.#candidates.get(peer, member.info)
    if (state == null || state.ejected || !(state.uploads < state.info.uploadSlots)) return undefined
    const free = (state.info.uploadSlots - state.uploads) / state.info.uploadSlots
    const failureDivisor = 1 + Math.max(0, state.recentFailures)
    return { id: peer, siteGroup: member.siteGroup, zoneGroup: member.zoneGroup, class: this.#classOf(bits, free, failureDivisor) }
  }

  /** The class of a bitfield, free share and failure divisor: made when first met. */
  #classOf (bits: ReadonlyBitfield, free: number, failureDivisor: number): CandidateClass {
    const full = bits.full()
    // A full bitfield's bytes are never read: every piece the child lacks is useful.
    const bytes = full ? NO_BYTES : bits.view()
    const bitfieldId = full ? FULL_BITFIELD : this.#bitfieldId(bytes)
    const classes = this.#classes[bitfieldId]!
    for (const k of classes) if (k.free === free && k.failureDivisor === failureDivisor) return k
    const held = bits.count()
    const k: CandidateClass = { bytes, full, held, bitfieldId, free, failureDivisor, reach: held * free / failureDivisor, listStamp: 0, listIndex: 0 }
    classes.push(k)
    return k
  }

  /** The id of a bitfield that is not full: by a hash of its bytes, checked against the first bitfield of that hash. */
  #bitfieldId (bytes: Uint8Array): number {
    const hash = hashBytes(bytes)
    const first = this.#idByHash.get(hash)
    if (first != null && equalBytes(this.#bitfields[first]!, bytes)) return first
    // A new bitfield, or another with the same hash (then looked up by its whole content).
    const key = first == null ? undefined : latin1(bytes)
    const known = key == null ? undefined : this.#idByContent.get(key)
    if (known != null) return known
    const id = this.#bitfields.length
    this.#bitfields.push(bytes)
    this.#classes.push([])
    if (key == null) this.#idByHash.set(hash, id)
    else this.#idByContent.set(key, id)
    if (id >= this.#useful.length) {
      const useful = new Int32Array(this.#useful.length * 2)
      const stamps = new Int32Array(this.#useful.length * 2)
      useful.set(this.#useful)
      stamps.set(this.#usefulStamp)
      this.#useful = useful
      this.#usefulStamp = stamps
    }
    return id
  }
}

/** Classes by reach, highest first (the order among equal reach does not matter: they stop a scan together). */
function byReach (a: ClassMembers, b: ClassMembers): number {
  return b.class.reach - a.class.reach
}

function byPeerId (a: Candidate, b: Candidate): number {
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0
}

/** FNV-1a over the bytes: 32 bits. */
function hashBytes (bytes: Uint8Array): number {
  let hash = 0x811c9dc5
  for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i]!, 0x01000193)
  return hash >>> 0
}

function equalBytes (a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** Bytes as a string, one character each: a Map key for a bitfield's content. */
function latin1 (bytes: Uint8Array): string {
  let text = ''
  for (let i = 0; i < bytes.length; i += LATIN1_CHUNK) text += String.fromCharCode(...bytes.subarray(i, i + LATIN1_CHUNK))
  return text
}

const LATIN1_CHUNK = 4096

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
