import type { PeerInfo, PeerKey } from './types.ts'

/**
 * The peers of one task grouped by site and by zone, kept as peers join and leave the task, so
 * that a decision round does not regroup every peer of every changed task (O(N) each round) to
 * find a child's neighbours. Pure bookkeeping: the service adds a peer when it announces the task
 * and removes it when it leaves it or disconnects.
 *
 * Every group keeps the order in which its peers were added; a peer added again keeps its place
 * (as in the task's availability). Each peer has a slot, a small number no other peer of the
 * groups has meanwhile (a slot freed by a peer that left is given to the next one): what a round
 * works out per peer can sit in an array indexed by slot instead of a map by peer key. Costs: add
 * and remove O(1); a group is iterated in O(its size).
 */
export class LocalityGroups {
  readonly #all = new Map<PeerKey, GroupMember>()
  readonly #bySite = new Map<string, Group>()
  readonly #byZone = new Map<string, Group>()
  readonly #freeSlots: number[] = []
  #slots = 0
  /** The number of the next group made (never reused: a group made again gets a new one). */
  #groups = 0

  /** Groups `peers` by the info `infoOf` gives; peers it knows nothing of are left out. O(N). */
  static of (peers: Iterable<PeerKey>, infoOf: (peer: PeerKey) => PeerInfo | undefined): LocalityGroups {
    const groups = new LocalityGroups()
    for (const peer of peers) {
      const info = infoOf(peer)
      if (info != null) groups.add(info)
    }
    return groups
  }

  get size (): number {
    return this.#all.size
  }

  /** One more than the highest slot a peer has now (an array of this length has a place for each). */
  get slotCount (): number {
    return this.#slots
  }

  /** Adds a peer by its info; false (and nothing changes) if it is in already. */
  add (info: PeerInfo): boolean {
    if (this.#all.has(info.id)) return false
    const site = info.site == null ? undefined : this.#group(this.#bySite, info.site)
    const zone = info.zone == null ? undefined : this.#group(this.#byZone, info.zone)
    const member: GroupMember = { id: info.id, info, slot: this.#freeSlots.pop() ?? this.#slots++, siteGroup: site?.number ?? NO_GROUP, zoneGroup: zone?.number ?? NO_GROUP }
    this.#all.set(info.id, member)
    site?.members.add(member)
    zone?.members.add(member)
    return true
  }

  /** Removes a peer; false if it was not in. */
  remove (peer: PeerKey): boolean {
    const member = this.#all.get(peer)
    if (member == null) return false
    this.#all.delete(peer)
    this.#freeSlots.push(member.slot)
    if (member.info.site != null) leave(this.#bySite, member.info.site, member)
    if (member.info.zone != null) leave(this.#byZone, member.info.zone, member)
    return true
  }

  /** The info a peer was added with. */
  info (peer: PeerKey): PeerInfo | undefined {
    return this.#all.get(peer)?.info
  }

  /** Every peer, in the order added. */
  all (): Iterable<PeerKey> {
    return this.#all.keys()
  }

  /** The peers of a site label, in the order added (none for an unknown label). */
  site (label: string): Iterable<PeerKey> {
    return ids(this.siteMembers(label))
  }

  /** The peers of a zone label, in the order added (none for an unknown label). */
  zone (label: string): Iterable<PeerKey> {
    return ids(this.zoneMembers(label))
  }

  /**
   * The numbers of the groups a peer of this info would be in: a member is in the same site as
   * the peer when its siteGroup is this siteGroup and not NO_GROUP (a number compared in a scan,
   * where the labels would be strings compared character by character). NO_GROUP for a label no
   * member has.
   */
  groupsOf (info: PeerInfo): { siteGroup: number, zoneGroup: number } {
    const site = info.site == null ? undefined : this.#bySite.get(info.site)
    const zone = info.zone == null ? undefined : this.#byZone.get(info.zone)
    return { siteGroup: site?.number ?? NO_GROUP, zoneGroup: zone?.number ?? NO_GROUP }
  }

  /** Every peer with its slot, in the order added. */
  allMembers (): Iterable<GroupMember> {
    return this.#all.values()
  }

  /** The peers of a site label with their slots, in the order added. */
  siteMembers (label: string): Iterable<GroupMember> {
    return this.#bySite.get(label)?.members ?? NONE
  }

  /** The peers of a zone label with their slots, in the order added. */
  zoneMembers (label: string): Iterable<GroupMember> {
    return this.#byZone.get(label)?.members ?? NONE
  }

  #group (groups: Map<string, Group>, label: string): Group {
    let found = groups.get(label)
    if (found == null) groups.set(label, found = { number: this.#groups++, members: new Set() })
    return found
  }
}

/** A peer of the groups: its key, the info it was added with, its slot, and its groups' numbers. */
export interface GroupMember {
  readonly id: PeerKey
  readonly info: PeerInfo
  readonly slot: number
  /** The number of its site's group and its zone's (NO_GROUP for a peer without that label). */
  readonly siteGroup: number
  readonly zoneGroup: number
}

/** The group number of no group: a member without that label, or a label no member has. */
export const NO_GROUP = -1

interface Group {
  readonly number: number
  readonly members: Set<GroupMember>
}

const NONE: ReadonlySet<GroupMember> = new Set()

function * ids (members: Iterable<GroupMember>): Iterable<PeerKey> {
  for (const member of members) yield member.id
}

function leave (groups: Map<string, Group>, label: string, member: GroupMember): void {
  const members = groups.get(label)?.members
  members?.delete(member)
  if (members?.size === 0) groups.delete(label)
}
