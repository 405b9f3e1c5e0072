/**
 * One blob, from wherever it is, to the clients that ask for it. Read blob-fetcher.ts (what
 * happens when a client asks for a blob) and plan.ts (how a blob not held here is fetched); the
 * rest are their parts: piece-book.ts (pure bookkeeping of who holds which piece), sources/ (peers
 * and the origin as PieceSources, the origin's whole-blob stream), piece-stream.ts (pieces from
 * their sources, in order), blob-download.ts and write-behind.ts (into the store, the whole blob
 * hashed before it is complete; source-spans.ts, where its bytes came from), blob-reader.ts (to the clients), events.ts (what it reports).
 */
export { LayerFetcher } from './blob-fetcher.ts'
export type { BlobHandle, LayerFetcherComponents, LayerFetcherInit } from './blob-fetcher.ts'
export { ChunkSink, followDownload, sendFileRange } from './blob-reader.ts'
export { isWholeBlob, sendStoredBlob } from './stored-blob.ts'
export type { ByteRange } from './blob-reader.ts'
export { BlobDownload } from './blob-download.ts'
export type { PeerNetwork } from './peer-plan.ts'
export type { BanReason } from '../peer-bans.ts'
export type { LayerFetcherEventMap, PieceFailedEvent, PieceFailure, PieceFetchedEvent, PieceWaitCause, PieceWaitEvent, PlanEvent } from './events.ts'
export type { BlobPlanKind, OriginReason, UpstreamAnswer } from './plan.ts'
export type { OriginBlobRequest } from './sources/origin.ts'
