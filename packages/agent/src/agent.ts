import { join } from 'node:path'
import { createRateLimiter, inTurn } from './bandwidth/index.ts'
import type { AgentConfig, HostPort } from './config/index.ts'
import { LayerFetcher } from './layer-fetcher/index.ts'
import { silentLogger } from './logger.ts'
import type { Logger } from './logger.ts'
import { ManifestCache } from './manifest-cache/index.ts'
import { AgentMetrics } from './metrics.ts'
import type { EmbeddedSchedulerFactory, PeerServices } from './p2p/peer-services.ts'
import { PeerBans } from './peer-bans.ts'
import { GarbageCollector } from './piece-store/garbage-collector.ts'
import { PieceStore } from './piece-store/store.ts'
import { PrefetchOrders } from './prefetch/orders.ts'
import { AccessCheck } from './registry-mirror/access-check.ts'
import { MirrorServer } from './registry-mirror/server.ts'
import { UpstreamClient } from './upstream/client.ts'
import { loadCredentials } from './upstream/credentials.ts'
import { RegistryRouter } from './upstream/registries.ts'

export interface AgentInit {
  config: AgentConfig
  /** `shoal:agent`; every part logs under its own folder's name below it. Silent when absent (tests, embedders). */
  logger?: Logger
  now?: () => number
  /** The scheduler to run on this agent's node when the config asks for one (`--embedded-scheduler`). */
  embeddedScheduler?: EmbeddedSchedulerFactory
}

/**
 * One host's agent: the registry mirror in front of the piece store, the layer fetcher and the
 * upstream client. start() opens the store (recovering after a crash) before it listens.
 */
export class Agent {
  readonly config: AgentConfig
  readonly metrics = new AgentMetrics()
  readonly store: PieceStore
  readonly manifests: ManifestCache
  private readonly log: Logger
  private upstream?: UpstreamClient
  private fetcher?: LayerFetcher
  private gc?: GarbageCollector
  private server?: MirrorServer
  private peers?: PeerServices
  private prefetch?: PrefetchOrders
  private ready = false
  /** Where the mirror listens once started (port 0 resolved). */
  address?: HostPort

  private readonly embeddedScheduler?: EmbeddedSchedulerFactory

  constructor (init: AgentInit) {
    this.config = init.config
    this.log = init.logger ?? silentLogger
    this.store = new PieceStore({ dataDir: init.config.dataDir, now: init.now })
    this.manifests = new ManifestCache({ path: join(init.config.dataDir, 'manifests'), tagTtlMs: init.config.manifestTagTtlMs, now: init.now })
    this.embeddedScheduler = init.embeddedScheduler
  }

  get url (): string {
    if (this.address == null) throw new Error('agent is not started')
    const host = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host
    return `http://${host}:${this.address.port}`
  }

  /** Where peers reach this agent (`.../p2p/<peer id>`); empty when p2p is off. */
  get p2pAddresses (): string[] {
    return this.peers?.multiaddrs() ?? []
  }

  /** The peer ids the p2p node knows of; empty when p2p is off. */
  /** Schedulers this agent has a live session with (0 without `--scheduler`). */
  get schedulersConnected (): number {
    return this.peers?.scheduler?.connected ?? 0
  }

  /** Peer ids with an open p2p connection (schedulers too); empty when p2p is off. */
  get connectedPeerIds (): string[] {
    return this.peers?.connectedPeerIds() ?? []
  }

  async knownPeers (): Promise<string[]> {
    return await this.peers?.knownPeers() ?? []
  }

  async start (): Promise<void> {
    const { config, metrics } = this
    const credentials = await loadCredentials(config.credentials, config.dockerConfig)
    await this.store.start()
    await this.manifests.start()
    const upstream = new UpstreamClient({
      credentials,
      certsDir: config.certsDir,
      onRequest: e => {
        metrics.upstreamRequests.inc({ registry: e.registry, method: e.method, status: e.status })
        metrics.upstreamLatency.observe({ registry: e.registry }, e.seconds)
      },
      onCredentialsRefused: e => {
        this.log.warn('the registry refused the agent\'s credentials', { registry: e.registry, credentials: e.source, fix: `check the user name and password (docker login ${e.registry})` })
      }
    })
    this.upstream = upstream
    const gc = new GarbageCollector({ store: this.store }, { storage: config.storage }, {
      onEvict: (record, reason) => {
        metrics.evictions.inc({ reason })
        metrics.evictedBytes.inc(record.size)
        this.log.info('evicted blob', { digest: record.digest, bytes: record.size, reason })
        this.peers?.withdraw(record.digest)
      },
      onUsage: u => {
        metrics.storageCapacity.set(u.capacityBytes)
        metrics.storageUsage.set(u.capacityBytes > 0 ? u.usedBytes / u.capacityBytes : 0)
      },
      onError: err => { this.log.error('garbage collection failed', { error: err.message }) }
    })
    this.gc = gc
    // One set of bans for both sides: a peer banned for what it sent is neither asked nor served.
    const bans = new PeerBans({
      onBan: (peer, reason) => {
        metrics.peerBans.inc({ reason })
        this.log.warn('peer banned', { peer, reason })
      }
    })
    if (config.p2p != null) {
      // libp2p is loaded only when p2p is on: a mirror without peers does not pay its ~19 MiB.
      const { PeerServices } = await import('./p2p/peer-services.ts')
      this.peers = new PeerServices({ store: this.store, upstream, logger: this.log }, {
        publicRepositories: config.publicRepositories,
        dataDir: config.dataDir,
        p2p: config.p2p,
        onPieceServed: e => { metrics.pieceServed(e) },
        discoveryEvents: metrics.discoveryEvents,
        uploads: inTurn(createRateLimiter({ limit: config.limits.uploadBytesPerS })),
        uploadBytesPerSecond: config.limits.uploadBytesPerS,
        embeddedScheduler: config.p2p.embeddedScheduler ? this.embeddedScheduler : undefined,
        bans
      })
      await this.peers.start()
    }
    const peers = this.peers
    // Orders may come as soon as a scheduler session opens; they run once the mirror listens.
    const listening = Promise.withResolvers<{ url: string }>()
    if (peers?.scheduler != null) {
      this.prefetch = new PrefetchOrders(peers.scheduler, { mirror: async () => listening.promise, logger: this.log.child('prefetch') })
      this.prefetch.start()
    }
    const limits = { origin: createRateLimiter({ limit: config.limits.originBytesPerS }), download: inTurn(createRateLimiter({ limit: config.limits.downloadBytesPerS })) }
    this.fetcher = new LayerFetcher({ store: this.store, upstream, peers: peers?.network(), limits, scheduler: peers?.scheduler, bans, logger: this.log }, {
      onUpstreamBytes: n => { metrics.receivedBytes.inc({ source: 'origin' }, n) },
      onPieceFetched: e => { metrics.pieceFetched(e) },
      onPieceFailed: e => { metrics.pieceFailed(e) },
      onFirstPiece: peers == null ? undefined : digest => { peers.provide(digest) },
      onBlobRequested: peers == null ? undefined : req => { peers.observeBlob(req) },
      onDownloadDone: d => {
        metrics.downloads.inc({ result: d.state })
        if (d.error?.name === 'DigestMismatchError') metrics.digestMismatches.inc({ kind: 'blob' })
        if (d.state === 'failed') this.log.warn('blob download failed', { digest: d.digest, error: d.error?.message })
        gc.trigger()
      }
    }, { originFallback: config.originFallback })
    const store = this.store
    const fetcher = this.fetcher
    metrics.bind({
      storedBytes: () => store.usedBytes(),
      activeDownloads: () => fetcher.active,
      connectedPeers: peers == null ? undefined : () => peers.connectedPeers(),
      connectedSchedulers: peers?.scheduler == null ? undefined : () => this.schedulersConnected,
      blobCounts: () => {
        const all = store.list()
        const complete = all.filter(r => r.state === 'complete').length
        return { complete, partial: all.length - complete }
      }
    })
    this.server = new MirrorServer({
      store: this.store,
      fetcher: this.fetcher,
      upstream,
      access: new AccessCheck({ upstream }, { publicRepositories: config.publicRepositories, offline: config.offlineAccess, ttlMs: config.accessCheckTtlMs }),
      manifests: this.manifests,
      metrics,
      router: new RegistryRouter(config),
      ready: () => this.ready,
      log: line => { this.log.warn(line) }
    })
    this.address = await this.server.start(config.listen)
    listening.resolve({ url: this.url })
    gc.start()
    this.ready = true
    this.log.info('agent started', { url: this.url, dataDir: config.dataDir, upstreams: config.upstreams.map(u => u.host), p2p: this.p2pAddresses })
  }

  async stop (): Promise<void> {
    this.ready = false
    this.prefetch?.stop()
    await this.server?.stop()
    await this.fetcher?.stop()
    await this.peers?.stop()
    await this.gc?.stop()
    await this.upstream?.stop()
    await this.manifests.stop()
    await this.store.stop()
  }

  /** Runs one garbage collection pass now (tests, admin). */
  async collectGarbage (): Promise<number> {
    return (await this.gc?.runOnce())?.length ?? 0
  }
}
