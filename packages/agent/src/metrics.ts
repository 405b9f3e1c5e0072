import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { DiscoveryEvents } from './discovery/index.ts'
import type { PieceFailedEvent, PieceFetchedEvent, PieceWaitEvent } from './layer-fetcher/index.ts'
import type { PieceServedEvent } from './piece-exchange/index.ts'
import { BAN_REASONS } from './peer-bans.ts'

/** Live values read at scrape time. */
export interface MetricSources {
  storedBytes: () => number
  blobCounts: () => { complete: number, partial: number }
  activeDownloads: () => number
  /** Peers with an open connection; absent when p2p is off. */
  connectedPeers?: () => number
  /** Schedulers with a live session; absent without `--scheduler`. */
  connectedSchedulers?: () => number
  /** The piece server's read budget now (sized to its send rate); absent when p2p is off. */
  uploadBudgetBytes?: () => number
}

/** The agent's Prometheus metrics, on a registry of its own so several agents can share a process. */
const PIECE_LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]

export class AgentMetrics {
  readonly registry = new Registry()
  readonly connectionsRefused = new Counter({ name: 'shoal_agent_connections_refused_total', help: 'Connections to the mirror answered 503 and closed: too many from one client address, or in all', registers: [this.registry] })
  readonly requests = new Counter({ name: 'shoal_agent_requests_total', help: 'Registry API requests by route, method and result status', labelNames: ['route', 'method', 'status'], registers: [this.registry] })
  readonly requestSeconds = new Histogram({ name: 'shoal_agent_request_seconds', help: 'Time from a request to the last byte of its answer, by route (manifest, blob, ...; requests cut off before the end are not counted)', labelNames: ['route'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers: [this.registry] })
  readonly servedBytes = new Counter({ name: 'shoal_agent_served_bytes_total', help: 'Blob bytes sent to clients, by where they came from (local: the store, a complete blob or pieces held already; origin: read from the origin by this agent, as a whole blob or as pieces no peer gave; peer: pieces from peers)', labelNames: ['source'], registers: [this.registry] })
  readonly receivedBytes = new Counter({ name: 'shoal_agent_blob_received_bytes_total', help: 'Blob bytes received, by source (origin, peer)', labelNames: ['source'], registers: [this.registry] })
  readonly upstreamRequests = new Counter({ name: 'shoal_agent_upstream_requests_total', help: 'Requests to upstream registries by registry, the endpoint that was asked (its origin URL: a mirror endpoint or the registry itself), method and status', labelNames: ['registry', 'endpoint', 'method', 'status'], registers: [this.registry] })
  readonly upstreamBreakerState = new Gauge({ name: 'shoal_agent_upstream_breaker_state', help: 'Circuit breaker of each upstream endpoint: 0 closed (asked), 1 half-open (one probe asked), 2 open (skipped: failing fast)', labelNames: ['endpoint'], registers: [this.registry] })
  readonly upstreamSkipped = new Counter({ name: 'shoal_agent_upstream_endpoint_skipped_total', help: 'Requests that skipped an upstream endpoint at once because its circuit was open', labelNames: ['registry', 'endpoint'], registers: [this.registry] })
  readonly upstreamFailedFast = new Counter({ name: 'shoal_agent_upstream_failed_fast_total', help: 'Upstream requests failed at once, without a network request, because every endpoint of the registry had its circuit open', labelNames: ['registry'], registers: [this.registry] })
  readonly upstreamLatency = new Histogram({ name: 'shoal_agent_upstream_request_seconds', help: 'Time to the upstream response headers', labelNames: ['registry'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] })
  readonly downloads = new Counter({ name: 'shoal_agent_blob_downloads_total', help: 'Blob downloads by result (verified, failed)', labelNames: ['result'], registers: [this.registry] })
  readonly peerDownloadFallbacks = new Counter({ name: 'shoal_agent_peer_download_fallbacks_total', help: 'Downloads from peers that failed for good and went on from the origin, by the error that ended the peer path', labelNames: ['error'], registers: [this.registry] })
  readonly digestMismatches = new Counter({ name: 'shoal_agent_digest_mismatches_total', help: 'Blobs or manifests whose bytes did not match their digest', labelNames: ['kind'], registers: [this.registry] })
  readonly manifestCache = new Counter({ name: 'shoal_agent_manifest_cache_total', help: 'Manifest requests by cache result (hit, miss, stale)', labelNames: ['result'], registers: [this.registry] })
  readonly evictions = new Counter({ name: 'shoal_agent_gc_evictions_total', help: 'Blobs evicted by the garbage collector, by reason (lru, age)', labelNames: ['reason'], registers: [this.registry] })
  readonly evictedBytes = new Counter({ name: 'shoal_agent_gc_evicted_bytes_total', help: 'Bytes freed by the garbage collector', registers: [this.registry] })
  readonly piecesFetched = new Counter({ name: 'shoal_agent_peer_pieces_fetched_total', help: 'Piece requests to peers by result (ok, bad, refused, timeout, unavailable)', labelNames: ['result'], registers: [this.registry] })
  readonly pieceFirstByte = new Histogram({ name: 'shoal_agent_piece_first_byte_seconds', help: 'Time from a piece request (to a peer, or an origin Range read once it has a slot) to its first byte (a piece read in a run: its own, after the pieces before it)', labelNames: ['source'], buckets: PIECE_LATENCY_BUCKETS, registers: [this.registry] })
  readonly pieceTransfer = new Histogram({ name: 'shoal_agent_piece_transfer_seconds', help: 'Time from a piece\'s first byte to its last', labelNames: ['source'], buckets: PIECE_LATENCY_BUCKETS, registers: [this.registry] })
  readonly pieceWaitSeconds = new Counter({ name: 'shoal_agent_piece_wait_seconds_total', help: 'Time downloads from peers waited, by cause (no-holder, holder-busy, download-limit, origin-slot, scheduler-answer, stream-head: the client stream waiting for its next piece)', labelNames: ['cause'], registers: [this.registry] })
  readonly blobPlans = new Counter({ name: 'shoal_agent_blob_plans_total', help: 'Blob downloads by plan (scheduled, dht, claim, origin) and, for the origin, why (no-connected-peers, no-providers, origin-unreachable, ...)', labelNames: ['plan', 'why'], registers: [this.registry] })
  readonly badPieces = new Counter({ name: 'shoal_agent_peer_bad_pieces_total', help: 'Pieces from peers of the wrong length or hash', registers: [this.registry] })
  readonly peersDropped = new Counter({ name: 'shoal_agent_peers_dropped_total', help: 'Peers dropped for a blob after a failed piece request, by reason', labelNames: ['reason'], registers: [this.registry] })
  readonly peerBans = new Counter({ name: 'shoal_agent_peer_bans_total', help: 'Peers banned (neither asked nor served for a while), by reason (bad-table, bad-pieces, malformed-frames)', labelNames: ['reason'], registers: [this.registry] })
  readonly peerStreamsRefused = new Counter({ name: 'shoal_agent_peer_streams_refused_total', help: 'Piece streams reset at once: the peer had as many open as one peer may', registers: [this.registry] })
  readonly piecesServed = new Counter({ name: 'shoal_agent_peer_pieces_served_total', help: 'Pieces sent to peers', registers: [this.registry] })
  readonly servedPeerBytes = new Counter({ name: 'shoal_agent_peer_served_bytes_total', help: 'Piece bytes sent to peers', registers: [this.registry] })
  readonly dhtLookups = new Counter({ name: 'shoal_agent_dht_lookups_total', help: 'DHT provider lookups by result (found, empty)', labelNames: ['result'], registers: [this.registry] })
  readonly dhtLookupLatency = new Histogram({ name: 'shoal_agent_dht_lookup_seconds', help: 'Time a DHT provider lookup took', buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10], registers: [this.registry] })
  readonly dhtProvides = new Counter({ name: 'shoal_agent_dht_provides_total', help: 'DHT announcements by kind (first, reprovide) and result (ok, failed)', labelNames: ['kind', 'result'], registers: [this.registry] })
  private sources?: MetricSources
  readonly connectedPeers = new Gauge({ name: 'shoal_agent_peers_connected', help: 'Peers with an open libp2p connection', registers: [this.registry], collect: () => { if (this.sources?.connectedPeers != null) this.connectedPeers.set(this.sources.connectedPeers()) } })
  readonly connectedSchedulers = new Gauge({ name: 'shoal_agent_schedulers_connected', help: 'Schedulers with a live session (the rest of the time blobs go through the DHT)', registers: [this.registry], collect: () => { if (this.sources?.connectedSchedulers != null) this.connectedSchedulers.set(this.sources.connectedSchedulers()) } })
  readonly uploadBudget = new Gauge({ name: 'shoal_agent_upload_budget_bytes', help: 'Bytes of pieces the agent may hold read and not yet sent to peers: 4 MiB, or about 2 s of its measured upload rate on a slower link', registers: [this.registry], collect: () => { if (this.sources?.uploadBudgetBytes != null) this.uploadBudget.set(this.sources.uploadBudgetBytes()) } })
  readonly storageBytes = new Gauge({ name: 'shoal_agent_storage_bytes', help: 'Bytes held by the piece store', registers: [this.registry], collect: () => { if (this.sources != null) this.storageBytes.set(this.sources.storedBytes()) } })
  readonly storageCapacity = new Gauge({ name: 'shoal_agent_storage_capacity_bytes', help: 'Quota or disk size the store is measured against', registers: [this.registry] })
  readonly storageUsage = new Gauge({ name: 'shoal_agent_storage_usage_ratio', help: 'Used share of the capacity the garbage collector watches', registers: [this.registry] })
  readonly storageBlobs = new Gauge({
    name: 'shoal_agent_storage_blobs',
    help: 'Blobs in the store by state',
    labelNames: ['state'],
    registers: [this.registry],
    collect: () => {
      const counts = this.sources?.blobCounts()
      if (counts == null) return
      this.storageBlobs.set({ state: 'complete' }, counts.complete)
      this.storageBlobs.set({ state: 'partial' }, counts.partial)
    }
  })

  readonly activeDownloads = new Gauge({ name: 'shoal_agent_active_downloads', help: 'Blob downloads in progress', registers: [this.registry], collect: () => { if (this.sources != null) this.activeDownloads.set(this.sources.activeDownloads()) } })

  bind (sources: MetricSources): void {
    this.sources = sources
  }

  /** A piece a download from peers received: from a peer, or from the origin when no peer gave it. */
  pieceFetched (e: PieceFetchedEvent): void {
    if (e.firstByteSeconds != null) this.pieceFirstByte.observe({ source: e.source }, e.firstByteSeconds)
    if (e.transferSeconds != null) this.pieceTransfer.observe({ source: e.source }, e.transferSeconds)
    if (e.source !== 'peer') return // origin pieces are counted with the origin's bytes (onUpstreamBytes)
    this.receivedBytes.inc({ source: 'peer' }, e.bytes)
    this.piecesFetched.inc({ result: 'ok' })
  }

  pieceWait (e: PieceWaitEvent): void {
    this.pieceWaitSeconds.inc({ cause: e.cause }, e.seconds)
  }

  pieceFailed (e: PieceFailedEvent): void {
    this.piecesFetched.inc({ result: e.result })
    if (e.error === 'BadPieceError') this.badPieces.inc()
    if (e.dropped) this.peersDropped.inc({ reason: e.result })
  }

  pieceServed (e: PieceServedEvent): void {
    this.piecesServed.inc()
    this.servedPeerBytes.inc(e.bytes)
  }

  readonly discoveryEvents: DiscoveryEvents = {
    onLookup: e => {
      this.dhtLookups.inc({ result: e.found > 0 ? 'found' : 'empty' })
      this.dhtLookupLatency.observe(e.seconds)
    },
    onProvide: e => { this.dhtProvides.inc({ kind: e.reprovide ? 'reprovide' : 'first', result: e.ok ? 'ok' : 'failed' }) }
  }

  constructor () {
    collectDefaultMetrics({ register: this.registry, prefix: 'shoal_agent_' })
    // Known reasons start at 0: a series born at its first event hides that event from rate() and
    // increase(), and an alert on the first ban would never fire.
    for (const reason of BAN_REASONS) this.peerBans.inc({ reason }, 0)
    for (const reason of ['lru', 'age'] as const) this.evictions.inc({ reason }, 0)
  }
}
