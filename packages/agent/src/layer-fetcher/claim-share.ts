import type { PeerId } from '@libp2p/interface'
import type { Digest } from '@shoal/proto'
import { rendezvousWeight } from '../rendezvous.ts'

/**
 * The pieces of a cold blob that `self` reads from the origin when it and `others` claimed the blob
 * at once: piece i goes to the claimer whose sha256(digest, i, peer id) is lowest, a rendezvous hash
 * every claimer computes alike, so the origin sends each piece once and the claimers read in
 * parallel. Views may differ (a claimer that opened its partial late is missed by some); still every
 * piece has a reader: the claimer ranked lowest for it over all views ranks lowest in its own view.
 */
export function claimShare (digest: Digest, pieceCount: number, self: PeerId, others: readonly PeerId[]): number[] {
  const claimers = [self, ...others.filter(p => !p.equals(self))].map(p => p.toString())
  const share: number[] = []
  for (let index = 0; index < pieceCount; index++) {
    let best: string | undefined
    let owner = -1
    for (const [i, peer] of claimers.entries()) {
      const rank = rendezvousWeight(digest, String(index), peer)
      if (best == null || rank < best) {
        best = rank
        owner = i
      }
    }
    if (owner === 0) share.push(index)
  }
  return share
}
