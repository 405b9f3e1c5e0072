import type { PeerId } from '@libp2p/interface'
import type { Digest, PieceTable } from '@shoal/proto'
import { PEER_PLAN_MAX_PEERS, PEER_PLAN_TIMEOUT_MS } from '../constants.ts'
import { createLogger } from '../logger.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import type { PeerPlan, PlannedPeer } from './peer-source.ts'

/** What the layer fetcher needs of the peer network: finding holders and asking them. */
export interface PeerNetwork {
  /** Peers that announced the blob; empty when none or when the lookup failed (never throws). */
  findProviders: (digest: Digest) => Promise<Array<{ id: PeerId }>>
  client: Pick<PieceExchangeClient, 'pieceTable' | 'bitfield' | 'piece'>
}

const log = createLogger('shoal:agent:layer-fetcher')

/**
 * Asks the providers of a blob for a piece table (the first valid one, checked against the
 * digest and the size the origin gave) and for their bitfields. undefined when no provider
 * answered usefully: the blob then comes from the origin as before.
 */
export async function planFromPeers (network: PeerNetwork, digest: Digest, size: number, providers: Array<{ id: PeerId }>): Promise<PeerPlan | undefined> {
  const candidates = providers.slice(0, PEER_PLAN_MAX_PEERS)
  let table: PieceTable | undefined
  for (const provider of candidates) {
    try {
      table = await network.client.pieceTable(provider.id, digest, { size, signal: AbortSignal.timeout(PEER_PLAN_TIMEOUT_MS) })
      break
    } catch (err) {
      log.info('no piece table from peer', { digest, peer: provider.id.toString(), error: `${(err as Error).name}: ${(err as Error).message}` })
    }
  }
  if (table == null) return undefined
  const pieceCount = table.pieces.length
  const answers = await Promise.all(candidates.map(async (provider): Promise<PlannedPeer | undefined> => {
    try {
      const { bitfield } = await network.client.bitfield(provider.id, digest, pieceCount, { signal: AbortSignal.timeout(PEER_PLAN_TIMEOUT_MS) })
      return { id: provider.id, bitfield }
    } catch {
      return undefined
    }
  }))
  const peers = answers.filter(p => p != null)
  return peers.length === 0 ? undefined : { table, peers }
}
