import type { PeerId } from '@libp2p/interface'
import { pieceCountFor } from '@shoal/proto'
import type { Digest, PieceTable } from '@shoal/proto'
import { PEER_PLAN_MAX_PEERS, PEER_PLAN_TIMEOUT_MS } from '../constants.ts'
import { createLogger } from '../logger.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import type { PeerPlan, PlannedPeer } from './peer-swarm.ts'

/** What the layer fetcher needs of the peer network: finding holders, announcing, asking them. */
export interface PeerNetwork {
  /** This agent's peer id. */
  readonly self: PeerId
  /** Peers with an open connection: none means no lookup is worth its time. */
  connectedPeers: () => number
  /** Peers that announced the blob; empty when none or when the lookup failed (never throws). */
  findProviders: (digest: Digest) => Promise<Array<{ id: PeerId }>>
  /** Announces the blob now and waits for it (bounded; never throws). */
  announce: (digest: Digest) => Promise<void>
  client: Pick<PieceExchangeClient, 'pieceTable' | 'bitfield' | 'piece'>
}

const log = createLogger('shoal:agent:layer-fetcher')

/**
 * Asks the providers of a blob for their bitfields, then for a piece table (checked against the
 * digest and the size the origin gave): from a peer that holds the whole blob if one does, else
 * from the one that holds most. A peer still downloading gives a table with holes, and may hold
 * nothing yet (it announced the blob as it started): the download follows it. undefined when no
 * provider answered usefully: the blob then comes from the origin.
 */
export async function planFromPeers (network: PeerNetwork, digest: Digest, size: number, providers: Array<{ id: PeerId }>): Promise<PeerPlan | undefined> {
  const candidates = providers.slice(0, PEER_PLAN_MAX_PEERS)
  const answers = await Promise.all(candidates.map(async (provider): Promise<PlannedPeer | undefined> => {
    try {
      const { bitfield, complete } = await network.client.bitfield(provider.id, digest, pieceCountFor(size), { signal: AbortSignal.timeout(PEER_PLAN_TIMEOUT_MS) })
      return { id: provider.id, bitfield, complete }
    } catch (err) {
      log.info('no bitfield from peer', { digest, peer: provider.id.toString(), error: `${(err as Error).name}: ${(err as Error).message}` })
      return undefined
    }
  }))
  const peers = answers.filter(p => p != null)
  const byHolding = [...peers].sort((a, b) => Number(b.complete) - Number(a.complete) || b.bitfield.count() - a.bitfield.count())
  for (const peer of byHolding) {
    try {
      const table: PieceTable = await network.client.pieceTable(peer.id, digest, { size, signal: AbortSignal.timeout(PEER_PLAN_TIMEOUT_MS) })
      return { table, tableSource: peer.id, peers }
    } catch (err) {
      log.info('no piece table from peer', { digest, peer: peer.id.toString(), error: `${(err as Error).name}: ${(err as Error).message}` })
    }
  }
  return undefined
}
