import type { PeerInfo, PeerKey } from './types.ts'

/**
 * The peers of one task grouped by site and by zone, kept as peers join and leave the task, so
 * that a decision round does not regroup every peer of every changed task (O(N) each round) to
 * find a child's neighbours. Pure bookkeeping: the service adds a peer when it announces the task
 * and removes it when it leaves it or disconnects.
 *
 * Every group keeps the order in which its peers were added; a peer added again keeps its place
 * (as in the task's availability). Costs: add and remove O(1); a group is iterated in O(its size).
 */
export class LocalityGroups {
  readonly #all = new Map<PeerKey, PeerInfo>()
  readonly #bySite = new Map<string, Set<PeerKey>>()
  readonly #byZone = new Map<string, Set<PeerKey>>()

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

  /** Adds a peer by its info; false (and nothing changes) if it is in already. */
  add (info: PeerInfo): boolean {
    if (this.#all.has(info.id)) return false
    this.#all.set(info.id, info)
    if (info.site != null) member(this.#bySite, info.site).add(info.id)
    if (info.zone != null) member(this.#byZone, info.zone).add(info.id)
    return true
  }

  /** Removes a peer; false if it was not in. */
  remove (peer: PeerKey): boolean {
    const info = this.#all.get(peer)
    if (info == null) return false
    this.#all.delete(peer)
    if (info.site != null) leave(this.#bySite, info.site, peer)
    if (info.zone != null) leave(this.#byZone, info.zone, peer)
    return true
  }

  /** The info a peer was added with. */
  info (peer: PeerKey): PeerInfo | undefined {
    return this.#all.get(peer)
  }

  /** Every peer, in the order added. */
  all (): Iterable<PeerKey> {
    return this.#all.keys()
  }

  /** The peers of a site label, in the order added (none for an unknown label). */
  site (label: string): Iterable<PeerKey> {
    return this.#bySite.get(label) ?? NONE
  }

  /** The peers of a zone label, in the order added (none for an unknown label). */
  zone (label: string): Iterable<PeerKey> {
    return this.#byZone.get(label) ?? NONE
  }
}

const NONE: ReadonlySet<PeerKey> = new Set()

function member (groups: Map<string, Set<PeerKey>>, label: string): Set<PeerKey> {
  let group = groups.get(label)
  if (group == null) groups.set(label, group = new Set())
  return group
}

function leave (groups: Map<string, Set<PeerKey>>, label: string, peer: PeerKey): void {
  const group = groups.get(label)
  group?.delete(peer)
  if (group?.size === 0) groups.delete(label)
}
