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

/** Bytes of an assigned origin piece arrived, before the piece is whole: the read goes on. */
export interface OriginBytesEvent {
  digest: Digest
  index: number
  bytes: number
}

/** The origin read of an assigned piece began (its request went out) or ended (its bytes are in, or it failed). */
export interface OriginReadingEvent {
  digest: Digest
  index: number
  reading: boolean
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

/** How a download was planned: its kind, and for the origin why. */
export interface PlanEvent {
  digest: Digest
  plan: BlobPlanKind
  why?: OriginReason
}

/**
 * What the layer fetcher tells as blobs move (LayerFetcher.events): the agent's metrics, logs,
 * DHT announcements and share policy subscribe; the scheduler hears of pieces through the
 * scheduled plan's reporter, which taps the piece stream's own events.
 */
export interface LayerFetcherEventMap {
  /** A client asked for a blob, or a prefetch for a stripe of it (the share policy learns where it lives). */
  'blob-requested': [req: OriginBlobRequest]
  plan: [event: PlanEvent]
  /** Bytes read from the origin (a whole-blob stream or a piece). */
  'upstream-bytes': [bytes: number]
  /** A piece fetched by a download from peers (from a peer, or from the origin when no peer gave it). */
  'piece-fetched': [event: PieceFetchedEvent]
  /** A piece request to a peer failed. */
  'piece-failed': [event: PieceFailedEvent]
  /** A download from peers waited (for a holder, a limit, an origin slot, its next piece): why and how long. */
  'piece-wait': [event: PieceWaitEvent]
  /**
   * A blob's first piece is durable in the store (announce it to peers). Costs an early commit: only
   * done while someone listens, and not for a download the scheduler directs (its blob is announced
   * once whole: `download-done`).
   */
  'first-piece': [digest: Digest]
  'download-done': [download: BlobDownload]
  /** A download from peers failed for good and goes on from the origin at `offset` (its clients' bodies go on). */
  'peer-download-fallback': [event: { digest: Digest, offset: number, error: string }]
  /** The fetcher's own bans (when the agent gives none): a peer banned, and why. */
  'peer-banned': [peer: string, reason: BanReason]
}

/** What a piece stream reports, as callbacks: the scheduled plan adds its reporter to the fetcher's events. */
export interface PieceEvents {
  onPieceFetched?: (event: PieceFetchedEvent) => void
  onPieceFailed?: (event: PieceFailedEvent) => void
  onPieceWait?: (event: PieceWaitEvent) => void
  onOriginBytes?: (event: OriginBytesEvent) => void
  onOriginReading?: (event: OriginReadingEvent) => void
}
