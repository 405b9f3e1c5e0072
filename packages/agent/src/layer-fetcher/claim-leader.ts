import { createHash } from 'node:crypto'
import type { PeerId } from '@libp2p/interface'
import type { Digest } from '@shoal/proto'

/**
 * Which of the agents claiming a cold blob leads (reads it from the origin; the others follow it):
 * the one whose sha256(digest, peer id) is lowest, a rendezvous hash every claimer computes alike.
 * The lowest peer id alone would make one agent lead every layer of an image pulled at once, its
 * origin link and uplink carrying them all; by the hash the layers' leaders spread over the claimers.
 */
export function claimLeader (digest: Digest, claimers: readonly PeerId[]): PeerId | undefined {
  let leader: PeerId | undefined
  let best = ''
  for (const peer of claimers) {
    const rank = createHash('sha256').update(digest).update('\n').update(peer.toString()).digest('hex')
    if (leader == null || rank < best) {
      leader = peer
      best = rank
    }
  }
  return leader
}
