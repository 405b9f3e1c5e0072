import type { PeerId } from '@libp2p/interface'
import { pieceCountFor } from '@shoal/proto'
import type { Digest, PieceTable } from '@shoal/proto'
import { PEER_PLAN_MAX_PEERS, PEER_PLAN_TIMEOUT_MS } from '../constants.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { PieceExchangeClient } from '../piece-exchange/index.ts'
import type { PeerPlan, PlannedPeer } from './peer-swarm.ts'
import type { OriginBlobRequest } from './sources/origin.ts'

/** What the layer fetcher needs of the peer network: finding holders, announcing, asking them. */
export interface PeerNetwork {
  /** This agent's peer id. */
  readonly self: PeerId
  /** Peers with an open connection: none means no lookup is worth its time. */
  connected: () => PeerId[]
  /** Peers that announced the blob; empty when none or when the lookup failed (never throws). */
  findProviders: (digest: Digest) => Promise<Array<{ id: PeerId }>>
  /** Announces the blob now and waits for it (bounded; never throws). */
  announce: (digest: Digest) => Promise<void>
  /**
   * Announces the blob once the site is quiet (Discovery.provideLater): for blobs whose holders a
   * scheduler tells. Without it, `announce`.
   */
  announceLater?: (digest: Digest) => void
  /** Where a peer named by a scheduler listens (multiaddrs, as bytes), so that it can be dialled by id. */
  rememberAddresses: (peer: PeerId, addresses: readonly Uint8Array[]) => void
  client: Pick<PieceExchangeClient, 'pieceTable' | 'bitfield' | 'piece'>
  /**
   * `--share-private`: whether this agent lets peers have the blob, once its policy knows (never
   * rejects). Without it, every blob is shared.
   */
  shares?: (blob: OriginBlobRequest) => Promise<boolean>
}


/**
 * Asks the providers of a blob for their bitfields, then for a piece table (checked against the
 * digest and the size the origin gave): from a peer that holds the whole blob if one does, else
 * from the one that holds most. A peer still downloading gives a table with holes, and may hold
 * nothing yet (it announced the blob as it started): the download follows it. Without a size (the
 * origin could not be asked), the first table a provider gives sets it. undefined when no provider
 * answered usefully: the blob then comes from the origin.
 */
export async function planFromPeers (network: PeerNetwork, digest: Digest, size: number | undefined, providers: Array<{ id: PeerId }>, log: Logger = silentLogger): Promise<PeerPlan | undefined> {
  const candidates = providers.slice(0, PEER_PLAN_MAX_PEERS)
  let first: { table: PieceTable, source: PeerId } | undefined
  if (size == null) {
    for (const provider of candidates) {
      first = await tableFrom(network, provider.id, digest, undefined, log)
      if (first != null) break
    }
    if (first == null) return undefined
  }
  const blobSize = size ?? first?.table.size ?? 0
  const answers = await Promise.all(candidates.map(async (provider): Promise<PlannedPeer | undefined> => {
    try {
      const { bitfield, complete } = await network.client.bitfield(provider.id, digest, pieceCountFor(blobSize), { signal: AbortSignal.timeout(PEER_PLAN_TIMEOUT_MS) })
      return { id: provider.id, bitfield, complete }
    } catch (err) {
      log.info('no bitfield from peer', { digest, peer: provider.id.toString(), error: `${(err as Error).name}: ${(err as Error).message}` })
      return undefined
    }
  }))
  const peers = answers.filter(p => p != null)
  if (peers.length === 0) return undefined
  if (first != null) return { table: first.table, tableSource: first.source, peers }
  const byHolding = [...peers].sort((a, b) => Number(b.complete) - Number(a.complete) || b.bitfield.count() - a.bitfield.count())
  for (const peer of byHolding) {
    const got = await tableFrom(network, peer.id, digest, blobSize, log)
    if (got != null) return { table: got.table, tableSource: got.source, peers }
  }
  return undefined
}

async function tableFrom (network: PeerNetwork, peer: PeerId, digest: Digest, size: number | undefined, log: Logger): Promise<{ table: PieceTable, source: PeerId } | undefined> {
  try {
    return { table: await network.client.pieceTable(peer, digest, { size, signal: AbortSignal.timeout(PEER_PLAN_TIMEOUT_MS) }), source: peer }
  } catch (err) {
    log.info('no piece table from peer', { digest, peer: peer.toString(), error: `${(err as Error).name}: ${(err as Error).message}` })
    return undefined
  }
}
