import type { Digest } from '@shoal/proto'
import type { BanReason } from '../peer-bans.ts'
import type { BlobDownload } from './blob-download.ts'
import type { OriginBlobRequest } from './origin-source.ts'
import type { PieceFailedEvent, PieceFetchedEvent, PieceWaitEvent } from './peer-source.ts'

/** An answer of the origin that is not the blob (401 with its challenge, 404...), passed on as is. */
export interface UpstreamAnswer {
  kind: 'upstream'
  status: number
  headers: Record<string, string | undefined>
  body: Buffer
  /** The endpoint that answered (origin URL). */
  endpoint?: string
}

/**
 * How a blob not held here is fetched, decided once per download: directed by its scheduler, from
 * providers the DHT named, following another agent that claimed a cold blob, or from the origin
 * (with the reason, for the log and `shoal_agent_blob_plans_total`).
 */
export type BlobPlanKind = 'scheduled' | 'dht' | 'claim' | 'origin'

/** Why the origin serves the whole blob. */
export type OriginReason =
  | 'no-peer-network'
  | 'no-connected-peers'
  | 'no-providers'
  | 'origin-unreachable'
  | 'empty-blob'
  | 'no-usable-plan'
  | 'claim-leader'
  | 'peer-download-failed'

export interface LayerFetcherEvents {
  onUpstreamBytes?: (n: number) => void
  onDownloadDone?: (download: BlobDownload) => void
  /** A client asked for a blob (the share policy learns where it lives). */
  onBlobRequested?: (req: OriginBlobRequest) => void
  /** How a download was planned: its kind, and for the origin why. */
  onPlan?: (event: { digest: Digest, plan: BlobPlanKind, why?: OriginReason }) => void
  /** A blob's first piece is durable in the store (announce it to peers). */
  onFirstPiece?: (digest: Digest) => void
  /** A piece fetched by a download from peers (from a peer, or from the origin when no peer gave it). */
  onPieceFetched?: (event: PieceFetchedEvent) => void
  /** A piece request to a peer failed (the peer is dropped for that blob). */
  onPieceFailed?: (event: PieceFailedEvent) => void
  /** A download from peers waited (for a holder, a limit, an origin slot, its next piece): why and how long. */
  onPieceWait?: (event: PieceWaitEvent) => void
  onPeerBanned?: (peer: string, reason: BanReason) => void
}
