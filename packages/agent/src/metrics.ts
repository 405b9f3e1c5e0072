import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** Live values read at scrape time. */
export interface MetricSources {
  storedBytes: () => number
  blobCounts: () => { complete: number, partial: number }
  activeDownloads: () => number
}

/** The agent's Prometheus metrics, on a registry of its own so several agents can share a process. */
export class AgentMetrics {
  readonly registry = new Registry()
  readonly requests = new Counter({ name: 'shoal_agent_requests_total', help: 'Registry API requests by route, method and result status', labelNames: ['route', 'method', 'status'], registers: [this.registry] })
  readonly servedBytes = new Counter({ name: 'shoal_agent_served_bytes_total', help: 'Blob bytes sent to clients, by where they came from (local store, upstream download)', labelNames: ['source'], registers: [this.registry] })
  readonly upstreamBytes = new Counter({ name: 'shoal_agent_upstream_blob_bytes_total', help: 'Blob bytes received from upstream registries', registers: [this.registry] })
  readonly upstreamRequests = new Counter({ name: 'shoal_agent_upstream_requests_total', help: 'Requests to upstream registries by registry, method and status', labelNames: ['registry', 'method', 'status'], registers: [this.registry] })
  readonly upstreamLatency = new Histogram({ name: 'shoal_agent_upstream_request_seconds', help: 'Time to the upstream response headers', labelNames: ['registry'], buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] })
  readonly downloads = new Counter({ name: 'shoal_agent_blob_downloads_total', help: 'Blob downloads by result (verified, failed)', labelNames: ['result'], registers: [this.registry] })
  readonly digestMismatches = new Counter({ name: 'shoal_agent_digest_mismatches_total', help: 'Blobs or manifests whose bytes did not match their digest', labelNames: ['kind'], registers: [this.registry] })
  readonly manifestCache = new Counter({ name: 'shoal_agent_manifest_cache_total', help: 'Manifest requests by cache result (hit, miss, stale)', labelNames: ['result'], registers: [this.registry] })
  readonly evictions = new Counter({ name: 'shoal_agent_gc_evictions_total', help: 'Blobs evicted by the garbage collector, by reason (lru, age)', labelNames: ['reason'], registers: [this.registry] })
  readonly evictedBytes = new Counter({ name: 'shoal_agent_gc_evicted_bytes_total', help: 'Bytes freed by the garbage collector', registers: [this.registry] })
  private sources?: MetricSources
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

  constructor () {
    collectDefaultMetrics({ register: this.registry, prefix: 'shoal_agent_' })
  }
}
