import type { Digest } from '@shoal/proto'
import type { BanReason } from '../peer-bans.ts'
import type { BlobDownload } from './blob-download.ts'
import type { BlobPlanKind, OriginReason } from './plan.ts'
import type { OriginBlobRequest } from './sources/origin.ts'

export interface PieceFetchedEvent {
  digest: Digest
  index: number
  bytes: number
  source: 'peer' | 'origin'
  peer?: string
  /** From the request to its first byte (a peer: the response header; the origin: the slot and the request). */
  firstByteSeconds?: number
  /** From the first byte to the last. */
  transferSeconds?: number
}

/**
 * Why a piece was not on its way: `no-holder` (no live peer held it yet), `holder-busy` (every
 * holder answered BUSY a moment ago), `download-limit` (--download-limit), `origin-slot` (the
 * origin reads of every blob were all busy), `scheduler-answer` (the first word of the blob's
 * scheduler), `stream-head` (the client's in-order stream waited for its next piece: the sum of
 * everything else, as the client sees it).
 */
export type PieceWaitCause = 'no-holder' | 'holder-busy' | 'download-limit' | 'origin-slot' | 'stream-head' | 'scheduler-answer'

export interface PieceWaitEvent {
  digest: Digest
  cause: PieceWaitCause
  seconds: number
}

/** Why a piece request to a peer failed: `bad` (wrong bytes or a malformed answer), `refused`, `timeout`, `unavailable`. */
export type PieceFailure = 'bad' | 'refused' | 'timeout' | 'unavailable'

export interface PieceFailedEvent {
  digest: Digest
  index: number
  peer: string
  result: PieceFailure
  /** The error's name (BadPieceError counts against the peer). */
  error: string
  /** True when this failure dropped the peer for the blob (false when an earlier one already had). */
  dropped: boolean
}

/**
 * What the layer fetcher tells as blobs move: the agent's metrics, its DHT announcements and its
 * logs subscribe here; the scheduler hears of pieces through the scheduled plan's reporter.
 */
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

/** The events a piece stream reports (a subset of LayerFetcherEvents, keyed the same). */
export type PieceEvents = Pick<LayerFetcherEvents, 'onPieceFetched' | 'onPieceFailed' | 'onPieceWait'>
