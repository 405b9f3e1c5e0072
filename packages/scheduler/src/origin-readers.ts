import type { PeerKey } from './types.ts'

/**
 * Which downloaders read a cold task from the origin: at most `count`, those reading the fewest
 * other tasks from the origin first, then in arrival order. Every reader's uplink carries the first
 * copies of what it reads; when every layer of an image is cold at once, the same first arrivals
 * would read them all and their uplinks would pace the whole swarm. Pure.
 */
export function chooseOriginReaders (downloaders: readonly PeerKey[], count: number, originLoad: (peer: PeerKey) => number): PeerKey[] {
  return downloaders
    .map((peer, arrival) => ({ peer, arrival, load: originLoad(peer) }))
    .sort((a, b) => a.load - b.load || a.arrival - b.arrival)
    .slice(0, Math.max(0, count))
    .map(c => c.peer)
}
