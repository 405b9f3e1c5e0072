import { join } from 'node:path'
import { secureDataDir } from '@shoal/p2p'
import { createRateLimiter, inTurn } from './bandwidth/index.ts'
import { configChanges, settingName, tlsSwappable } from './config/changes.ts'
import { loadListenerTls } from './config/listener.ts'
import { hostPortText } from './config/index.ts'
import type { AgentConfig, HostPort } from './config/index.ts'
import type { DnsResolver } from './dns-discovery/index.ts'
import { LayerFetcher } from './layer-fetcher/index.ts'
import { silentLogger } from './logger.ts'
import type { Logger } from './logger.ts'
import { ManifestCache } from './manifest-cache/index.ts'
import { MetricsServer } from './own-endpoints/metrics-server.ts'
import { AgentMetrics } from './metrics.ts'
import type { EmbeddedSchedulerFactory, PeerServices } from './p2p/peer-services.ts'
import { PeerBans } from './peer-bans.ts'
import { HashThread } from './hashing/hash-thread.ts'
import { GarbageCollector } from './piece-store/garbage-collector.ts'
import { PieceStore } from './piece-store/store.ts'
import { PrefetchOrders } from './prefetch/orders.ts'
import { AccessCheck } from './registry-mirror/access-check.ts'
import { MirrorServer } from './registry-mirror/server.ts'
import { UpstreamClient } from './upstream/client.ts'
import { loadCredentials } from './upstream/credentials.ts'
import type { SourcedCredential } from './upstream/credentials.ts'
import { RegistryRouter } from './upstream/registries.ts'

export interface AgentInit {
  config: AgentConfig
  /** `shoal:agent`; every part logs under its own folder's name below it. Silent when absent (tests, embedders). */
  logger?: Logger
  now?: () => number
  /** The scheduler to run on this agent's node when the config asks for one (`--embedded-scheduler`). */
  embeddedScheduler?: EmbeddedSchedulerFactory
  /**
   * For tests and embedders: what resolves `dns:` targets (default: the system's DNS servers) and
   * how often (default DNS_RESOLVE_INTERVAL_MS). Not a flag: a test points a node:dns Resolver at a
   * DNS server of its own.
   */
  dnsResolver?: DnsResolver
  dnsResolveIntervalMs?: number
  /** For tests: how long no whole blob the scheduler directed must come in before the DHT hears of them (DISCOVERY_LATER_QUIET_MS). */
  announceQuietMs?: number
}

/** What Agent.reload did: fields applied from now on, fields that need a restart (their running value stays). */
export interface ReloadResult {
  applied: string[]
  needsRestart: string[]
}

/** The parts built from reloadable settings; a reload builds new ones, and requests in flight keep those they started with. */
interface LiveParts {
  upstream: UpstreamClient
  router: RegistryRouter
  access: AccessCheck
  /** The credentials the upstream client was given (compared on reload; never logged). */
  credentials: Map<string, SourcedCredential>
}

/**
 * One host's agent: the registry mirror in front of the piece store, the layer fetcher and the
 * upstream client. start() opens the store (recovering after a crash) before it listens.
 */
export class Agent {
  #config: AgentConfig
  readonly metrics = new AgentMetrics()
  readonly store: PieceStore
  readonly manifests: ManifestCache
  private readonly log: Logger
  private live?: LiveParts
  /** Upstream clients replaced by a reload, until the requests and downloads that may use them have ended. */
  private readonly retired = new Set<Promise<void>>()
  private readonly limiters = { upload: createRateLimiter(), download: createRateLimiter(), origin: createRateLimiter() }
  private fetcher?: LayerFetcher
  /** Hashes downloads and peers' pieces off the main thread, for the fetcher and the piece exchange. */
  private readonly hashing = new HashThread()
  private gc?: GarbageCollector
  private server?: MirrorServer
  private metricsServer?: MetricsServer
  private peers?: PeerServices
  private prefetch?: PrefetchOrders
  private ready = false
  /** Where the mirror listens once started (port 0 resolved). */
  address?: HostPort
  /** Where the metrics listener listens once started (`--metrics-listen`; port 0 resolved); undefined without one. */
  metricsAddress?: HostPort

  private readonly embeddedScheduler?: EmbeddedSchedulerFactory
  private readonly now?: () => number
  private readonly dns: Pick<AgentInit, 'dnsResolver' | 'dnsResolveIntervalMs'>
  private readonly announceQuietMs?: number

  constructor (init: AgentInit) {
    this.#config = init.config
    this.log = init.logger ?? silentLogger
    this.store = new PieceStore({ dataDir: init.config.dataDir, now: init.now }, {
      onCorrupt: e => {
        this.metrics.digestMismatches.inc({ kind: 'stored' })
        this.log.warn('stored bytes do not match their digest; dropped, fetched again on the next request', { digest: e.digest, state: e.state, piece: e.piece })
        if (e.state === 'complete') this.peers?.withdraw(e.digest)
      }
    })
    this.manifests = new ManifestCache({ path: join(init.config.dataDir, 'manifests'), tagTtlMs: init.config.manifestTagTtlMs, now: init.now })
    this.embeddedScheduler = init.embeddedScheduler
    this.dns = { dnsResolver: init.dnsResolver, dnsResolveIntervalMs: init.dnsResolveIntervalMs }
    this.announceQuietMs = init.announceQuietMs
    this.now = init.now
  }

  /** The running configuration (after a reload: the new values, except those that need a restart). */
  get config (): AgentConfig {
    return this.#config
  }

  get url (): string {
    if (this.address == null) throw new Error('agent is not started')
    return `${this.#config.tls == null ? 'http' : 'https'}://${hostPortText(this.address)}`
  }

  /** `http://HOST:PORT` of the metrics listener once started; undefined without `--metrics-listen`. */
  get metricsUrl (): string | undefined {
    return this.metricsAddress == null ? undefined : `http://${hostPortText(this.metricsAddress)}`
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
    // Private layers live here: 0700 / 0600, also what an older version left readable.
    const modes = await secureDataDir(config.dataDir)
    if (modes.tightened > 0) this.log.info('data dir tightened to 0700 / 0600', { dataDir: config.dataDir, tightened: modes.tightened, checked: modes.checked })
    const tls = config.tls == null ? undefined : await loadListenerTls(config.tls)
    await this.store.start()
    await this.manifests.start()
    this.live = this.liveParts(config, credentials)
    this.setLimits(config)
    const gc = this.garbageCollector(config)
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
      const live = (): LiveParts => this.liveNow()
      // Read at each use: a reload replaces the upstream client.
      this.peers = new PeerServices({ store: this.store, get upstream () { return live().upstream }, dnsResolver: this.dns.dnsResolver, hashing: this.hashing, logger: this.log }, {
        dnsResolveIntervalMs: this.dns.dnsResolveIntervalMs,
        announceQuietMs: this.announceQuietMs,
        publicRepositories: config.publicRepositories,
        dataDir: config.dataDir,
        p2p: config.p2p,
        onPieceServed: e => { metrics.pieceServed(e) },
        onStreamRefused: () => { metrics.peerStreamsRefused.inc() },
        discoveryEvents: metrics.discoveryEvents,
        uploads: inTurn(this.limiters.upload),
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
      this.prefetch = new PrefetchOrders(peers.scheduler, {
        mirror: async () => listening.promise,
        // A stripe of a blob placed by pieces: its pieces from the origin, routed as the mirror routes `?ns=`.
        fetchStripe: async (blob, options) => {
          const { registry, name } = this.liveNow().router.route(blob.repository, { ns: blob.registry })
          if (this.fetcher == null) throw new Error('the agent is not started')
          return this.fetcher.fetchStripe({ registry, repository: name, digest: blob.digest, authorization: options.authorization }, { size: blob.size, stripe: blob.stripe, signal: options.signal, onBytes: options.onBytes })
        },
        logger: this.log.child('prefetch')
      })
      this.prefetch.start()
    }
    const limits = { origin: this.limiters.origin, download: inTurn(this.limiters.download) }
    const parts = (): LiveParts => this.liveNow()
    // Read at each use: a reload replaces the upstream client for downloads that start after it.
    this.fetcher = new LayerFetcher({ store: this.store, get upstream () { return parts().upstream }, peers: peers?.network(), limits, scheduler: peers?.scheduler, bans, hashing: this.hashing, logger: this.log }, { originFallback: config.originFallback })
    const events = this.fetcher.events
    events.on('upstream-bytes', n => { metrics.receivedBytes.inc({ source: 'origin' }, n) })
    events.on('piece-fetched', e => {
      metrics.pieceFetched(e)
      this.log.debug('piece fetched', { digest: e.digest, index: e.index, source: e.source, peer: e.peer, firstByteSeconds: e.firstByteSeconds, transferSeconds: e.transferSeconds })
    })
    events.on('piece-failed', e => {
      metrics.pieceFailed(e)
      this.log.debug('piece request failed', { digest: e.digest, index: e.index, peer: e.peer, result: e.result, error: e.error, dropped: e.dropped })
    })
    events.on('piece-wait', e => { metrics.pieceWait(e) })
    events.on('plan', e => {
      metrics.blobPlans.inc({ plan: e.plan, why: e.why ?? '' })
      this.log.debug('blob download planned', { digest: e.digest, plan: e.plan, why: e.why })
    })
    if (peers != null) {
      events.on('first-piece', digest => { peers.provide(digest) })
      // A blob the scheduler directed had no first-piece announcement: the DHT hears of it after the
      // rollout (for the rest, the blob is in the set already and the call changes nothing).
      events.on('download-done', d => { if (d.state === 'verified') peers.provideLater(d.digest) })
      events.on('blob-requested', req => { peers.observeBlob(req) })
    }
    events.on('peer-download-fallback', e => { metrics.peerDownloadFallbacks.inc({ error: e.error }) })
    events.on('download-done', d => {
      metrics.downloads.inc({ result: d.state })
      if (d.error?.name === 'DigestMismatchError') metrics.digestMismatches.inc({ kind: 'blob' })
      if (d.state === 'failed') this.log.warn('blob download failed', { digest: d.digest, error: d.error?.message })
      this.gc?.trigger()
    })
    const store = this.store
    const fetcher = this.fetcher
    metrics.bind({
      storedBytes: () => store.usedBytes(),
      activeDownloads: () => fetcher.active,
      connectedPeers: peers == null ? undefined : () => peers.connectedPeers(),
      uploadBudgetBytes: peers == null ? undefined : () => peers.uploadBudgetBytes(),
      connectedSchedulers: peers?.scheduler == null ? undefined : () => this.schedulersConnected,
      blobCounts: () => {
        const all = store.list()
        const complete = all.filter(r => r.state === 'complete').length
        return { complete, partial: all.length - complete }
      }
    })
    // Read per request: a request keeps the upstream client it started with; later ones get a reload's.
    this.server = new MirrorServer({
      store: this.store,
      fetcher: this.fetcher,
      get upstream () { return parts().upstream },
      get access () { return parts().access },
      get router () { return parts().router },
      manifests: this.manifests,
      metrics,
      ready: () => this.ready,
      stalledClientMs: config.clientIdleTimeoutMs,
      logger: this.log
    }, { accessLog: config.accessLog, maxConnectionsPerClient: config.maxClientConnections, maxConnections: config.maxConnections, tls })
    this.address = await this.server.start(config.listen)
    if (config.metricsListen != null) {
      // Same metrics and readiness as the mirror's endpoints; it stays open while the mirror drains.
      this.metricsServer = new MetricsServer({ metrics, ready: () => this.ready, logger: this.log })
      this.metricsAddress = await this.metricsServer.start(config.metricsListen)
    }
    listening.resolve({ url: this.url })
    gc.start()
    this.ready = true
    this.log.info('agent started', { url: this.url, metrics: this.metricsUrl, dataDir: config.dataDir, upstreams: config.upstreams.map(u => u.host), p2p: this.p2pAddresses })
  }

  /**
   * SIGHUP: takes over a config resolved again as at start. Upstreams, credentials (the docker config
   * re-read), CA dirs (re-read), the listener's TLS files (re-read, when it has TLS), access settings, bandwidth limits, GC settings and the drain timeout
   * apply to what starts from now on: requests and downloads in flight keep the upstream client they
   * started with, which is closed once they have ended. Other fields that differ keep their running
   * value and are reported as needing a restart. A docker config that cannot be read is a
   * ConfigError, and the running config stays.
   */
  async reload (next: AgentConfig): Promise<ReloadResult> {
    const old = this.liveNow()
    const credentials = await loadCredentials(next.credentials, next.dockerConfig)
    // Re-read even under the same paths (a certificate rotated in place); bad files keep the running ones.
    const tls = next.tls != null && tlsSwappable(this.#config, next) ? await loadListenerTls(next.tls) : undefined
    const { applied, needsRestart } = configChanges(this.#config, next)
    const config: AgentConfig = { ...next, ...Object.fromEntries(needsRestart.map(field => [field, this.#config[field]])) }
    const changedHosts = credentialHostsChanged(old.credentials, credentials)
    const reported = applied.filter(field => field !== 'credentials').map(settingName)
    if (changedHosts.length > 0) reported.push(`credentials (${changedHosts.join(', ')})`)
    if (tls != null) {
      this.server?.setTls(tls)
      if (!applied.includes('tls')) reported.push('TLS certificate and key (re-read)')
    }
    this.#config = config
    // A new upstream client every time: CA files and the docker config may have changed on disk under the same paths.
    this.live = this.liveParts(config, credentials, applied.some(f => f === 'publicRepositories' || f === 'accessCheckTtlMs' || f === 'offlineAccess') ? undefined : old.access)
    this.retire(old.upstream)
    this.setLimits(config)
    if (applied.includes('storage') && this.gc != null) {
      await this.gc.stop()
      this.gc = this.garbageCollector(config)
      this.gc.start()
    }
    const restart = needsRestart.map(settingName)
    this.log.info('configuration reloaded', { applied: reported, needsRestart: restart, upstreams: config.upstreams.map(u => u.host) })
    return { applied: reported, needsRestart: restart }
  }

  /**
   * SIGTERM: stops accepting requests (readiness goes to 503) and lets those in flight finish until
   * `signal` aborts. Resolves with how many were still going then (0: all finished); stop() follows.
   */
  async drain ({ signal }: { signal: AbortSignal }): Promise<number> {
    this.ready = false
    return await this.server?.drain({ signal }) ?? 0
  }

  /** Requests in flight on the mirror now. */
  get requestsInFlight (): number {
    return this.server?.inFlight ?? 0
  }

  async stop (): Promise<void> {
    this.ready = false
    this.prefetch?.stop()
    await this.server?.stop()
    await this.metricsServer?.stop()
    await this.fetcher?.stop()
    await this.peers?.stop()
    await this.hashing.stop()
    await this.gc?.stop()
    await Promise.all(this.retired)
    await this.live?.upstream.stop()
    await this.manifests.stop()
    await this.store.stop()
  }

  private liveNow (): LiveParts {
    if (this.live == null) throw new Error('agent is not started')
    return this.live
  }

  /** The upstream client, router and access check of `config`; `access` is kept when given (its answers stay cached). */
  private liveParts (config: AgentConfig, credentials: Map<string, SourcedCredential>, access?: AccessCheck): LiveParts {
    const { metrics } = this
    const upstream = new UpstreamClient({
      credentials,
      certsDir: config.certsDir,
      timeouts: config.upstreamTimeouts,
      breaker: config.upstreamBreaker,
      now: this.now,
      onRequest: e => {
        metrics.upstreamRequests.inc({ registry: e.registry, endpoint: e.endpoint, method: e.method, status: e.status })
        metrics.upstreamLatency.observe({ registry: e.registry }, e.seconds)
      },
      onSkipped: e => { metrics.upstreamSkipped.inc(e) },
      onFailedFast: e => { metrics.upstreamFailedFast.inc(e) },
      onBreakerState: e => {
        metrics.upstreamBreakerState.set({ endpoint: e.endpoint }, e.state === 'closed' ? 0 : e.state === 'half-open' ? 1 : 2)
        if (e.state === 'open') this.log.warn('upstream endpoint failing fast', { endpoint: e.endpoint, error: e.lastError?.message, cooldownMs: config.upstreamBreaker.cooldownMs })
        else if (e.state === 'closed') this.log.info('upstream endpoint answers again', { endpoint: e.endpoint })
      },
      onCredentialsRefused: e => {
        this.log.warn('the registry refused the agent\'s credentials', { registry: e.registry, credentials: e.source, fix: `check the user name and password (docker login ${e.registry})` })
      }
    })
    // Every configured endpoint shows a closed circuit from the start (a new client after a reload starts closed too).
    for (const registry of config.upstreams) {
      for (const endpoint of [...(registry.endpoints ?? []), registry]) metrics.upstreamBreakerState.set({ endpoint: endpoint.baseUrl.origin }, 0)
    }
    const parts = (): LiveParts => this.liveNow()
    return {
      upstream,
      router: new RegistryRouter(config),
      access: access ?? new AccessCheck({ get upstream () { return parts().upstream } }, { publicRepositories: config.publicRepositories, offline: config.offlineAccess, ttlMs: config.accessCheckTtlMs }),
      credentials
    }
  }

  /** Closes a replaced upstream client once the requests and downloads in flight now have ended. */
  private retire (upstream: UpstreamClient): void {
    const done: Promise<void> = Promise.all([this.server?.settled(), this.fetcher?.settled()])
      .then(async () => { await upstream.stop() })
      .catch((err: Error) => { this.log.warn('closing the replaced upstream client failed', { error: err.message }) })
      .finally(() => { this.retired.delete(done) })
    this.retired.add(done)
  }

  private setLimits (config: AgentConfig): void {
    this.limiters.upload.limit = config.limits.uploadBytesPerS
    this.limiters.download.limit = config.limits.downloadBytesPerS
    this.limiters.origin.limit = config.limits.originBytesPerS
  }

  private garbageCollector (config: AgentConfig): GarbageCollector {
    const { metrics } = this
    return new GarbageCollector({ store: this.store }, { storage: config.storage }, {
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
  }

  /** Runs one garbage collection pass now (tests, admin). */
  async collectGarbage (): Promise<number> {
    return (await this.gc?.runOnce())?.length ?? 0
  }
}

/** Registry hosts whose credential was added, removed or changed (names only, never the secrets). */
function credentialHostsChanged (before: Map<string, SourcedCredential>, after: Map<string, SourcedCredential>): string[] {
  const hosts = new Set([...before.keys(), ...after.keys()])
  return [...hosts].filter(host => {
    const a = before.get(host)
    const b = after.get(host)
    return a?.username !== b?.username || a?.password !== b?.password
  }).sort()
}
