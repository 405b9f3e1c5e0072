import { stat } from 'node:fs/promises'
import { hostname } from 'node:os'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Digest } from '@shoal/proto'
import type { HashThread } from '../hashing/hash-thread.ts'
import type { RateLimiter } from '../bandwidth/index.ts'
import type { P2pConfig } from '../config/index.ts'
import { DNS_BOOTSTRAP_MAX_PEERS, MEMBERS_FILE_POLL_MS, PEER_LOOKUP_TIMEOUT_MS, PIECE_SERVER_MAX_READS } from '../constants.ts'
import { ConfigError } from '../errors.ts'
import { Discovery, provideOutcome } from '../discovery/index.ts'
import { DnsPeers } from '../dns-discovery/index.ts'
import type { DnsPeer, DnsResolver } from '../dns-discovery/index.ts'
import type { DiscoveryEvents } from '../discovery/index.ts'
import type { PeerNetwork } from '../layer-fetcher/index.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { PeerBans } from '../peer-bans.ts'
import { PieceExchangeClient, PieceExchangeServer } from '../piece-exchange/index.ts'
import type { PieceServedEvent } from '../piece-exchange/index.ts'
import type { PieceStore } from '../piece-store/store.ts'
import { recordedBitfield } from '../piece-store/blob-record.ts'
import { SchedulerClient } from '../scheduler-client/client.ts'
import type { HeldTask, LocalScheduler } from '../scheduler-client/client.ts'
import { createP2pNode, loadOrCreatePeerKey, loadSwarmKey } from '@shoal/p2p'
import type { Admission, P2pNode } from '@shoal/p2p'
import type { UpstreamClient } from '../upstream/client.ts'
import { MemberSet, readJoinToken, readMembersFile } from './members.ts'
import { SharePolicy } from './share-policy.ts'
import { KnownAddresses } from './known-addresses.ts'
import type { BlobOrigin } from './share-policy.ts'

export interface PeerServicesComponents {
  store: Pick<PieceStore, 'get' | 'readPiece' | 'touch' | 'list' | 'dropCorrupt'>
  /** For `--share-private anonymous`: whether the origin serves a blob to anyone. */
  upstream?: Pick<UpstreamClient, 'send'>
  /** Resolves `dns:` targets; default the system's DNS servers (tests give a Resolver of their own server). */
  dnsResolver?: DnsResolver
  /** Checks the pieces peers send off the main thread; without it they are hashed on it. */
  hashing?: HashThread
  logger?: Logger
}

export interface PeerServicesInit {
  dataDir: string
  p2p: P2pConfig
  /** How long a provider lookup on the blob path may take. */
  lookupTimeoutMs?: number
  onPieceServed?: (event: PieceServedEvent) => void
  /** A peer's piece stream was reset for being past the per-peer cap. */
  onStreamRefused?: () => void
  discoveryEvents?: DiscoveryEvents
  /** `--upload-limit`, shared by every piece sent. */
  uploads?: Pick<RateLimiter, 'take'>
  /** The same limit as a number, told to the scheduler. */
  uploadBytesPerSecond?: number
  /** `--embedded-scheduler`: a scheduler on this agent's node, composed by the shoal command. */
  embeddedScheduler?: EmbeddedSchedulerFactory
  /** The agent's bans: banned peers are not served. */
  bans?: PeerBans
  /** `--public-repository` globs: their blobs count as served to anyone (`--share-private anonymous`). */
  publicRepositories?: string[]
  /** How often `dns:` targets are resolved again (DNS_RESOLVE_INTERVAL_MS; shorter in tests). */
  dnsResolveIntervalMs?: number
  /** `Discovery`'s quiet time before blobs given to `provideLater` are announced (DISCOVERY_LATER_QUIET_MS; shorter in tests). */
  announceQuietMs?: number
}

/** A scheduler running on the agent's node, reached in-process by the agent itself. */
export interface EmbeddedScheduler extends LocalScheduler {
  stop: () => Promise<void>
}

/** Starts the embedded scheduler on the agent's node (the shoal command composes it). */
export interface EmbeddedSchedulerFactory {
  start: (node: P2pNode) => Promise<EmbeddedScheduler>
}

/**
 * The agent's peer side: the libp2p node with its persistent identity, the piece exchange server
 * over the local store, and discovery. start() brings them up in that order, stop() takes them
 * down in reverse. The layer fetcher reaches peers only through network().
 */
export class PeerServices {
  readonly #components: PeerServicesComponents
  readonly #init: PeerServicesInit
  /** The agent's logger: its parts log under their own folder's name. */
  readonly #log: Logger
  readonly #ownLog: Logger
  #node?: P2pNode
  #server?: PieceExchangeServer
  #discovery?: Discovery
  #client?: PieceExchangeClient
  #scheduler?: SchedulerClient
  #embedded?: EmbeddedScheduler
  #members?: MemberSet
  /** `--bootstrap dns:` and `--scheduler dns:` peers. */
  #dnsBootstrap?: DnsPeers
  #dnsSchedulers?: DnsPeers
  #share?: SharePolicy
  #membersPoll?: ReturnType<typeof setInterval>
  #membersFileMtimeMs = 0
  readonly #knownAddresses = new KnownAddresses()
  /** A scheduler went away: the blobs held back from the DHT (provideLater) are announced now, for the peers that look there. */
  readonly #onSchedulerGone = (): void => { this.#discovery?.announcePending() }

  constructor (components: PeerServicesComponents, init: PeerServicesInit) {
    this.#components = components
    this.#init = init
    this.#log = components.logger ?? silentLogger
    this.#ownLog = this.#log.child('p2p')
  }

  async start (): Promise<void> {
    const { p2p, dataDir } = this.#init
    const share = new SharePolicy({ upstream: this.#components.upstream, logger: this.#ownLog }, {
      policy: p2p.sharePrivate, dataDir, publicRepositories: this.#init.publicRepositories
    })
    await share.start()
    this.#share = share
    const privateKey = await loadOrCreatePeerKey(dataDir)
    const swarmKey = p2p.swarmKeyFile == null ? undefined : await loadSwarmKey(p2p.swarmKeyFile)
    const admission = await this.#admission()
    const joinToken = p2p.membership.kind === 'scheduler' ? await readJoinToken(p2p.membership.joinTokenFile) : undefined
    const node = await createP2pNode({ privateKey, listen: p2p.listen, announce: p2p.announce, bootstrap: p2p.bootstrap, swarmKey, admission, warn: (message, fields) => { this.#ownLog.warn(message, fields) } }).catch((err: Error) => {
      if (!/EADDRINUSE/.test(err.message)) throw err
      throw new ConfigError(`p2pListen: ${p2p.listen.join(', ')} is in use (another agent on this host?): give --p2p-listen another port, or --no-p2p`, { cause: err })
    })
    this.#node = node
    this.#server = new PieceExchangeServer({ node, store: this.#components.store, onPieceServed: this.#init.onPieceServed, onStreamRefused: this.#init.onStreamRefused, uploads: this.#init.uploads, bans: this.#init.bans, shareable: digest => share.shareable(digest), logger: this.#log.child('piece-exchange') })
    await this.#server.start()
    this.#discovery = new Discovery({ node, logger: this.#log.child('discovery') }, {
      findTimeoutMs: this.#init.lookupTimeoutMs ?? PEER_LOOKUP_TIMEOUT_MS,
      laterQuietMs: this.#init.announceQuietMs,
      events: this.#init.discoveryEvents
    })
    this.#discovery.start()
    this.#client = new PieceExchangeClient({ node, hashing: this.#components.hashing })
    this.#announceHeld(node)
    const local = await this.#init.embeddedScheduler?.start(node)
    this.#embedded = local
    if (p2p.schedulerDns.length > 0) this.#dnsSchedulers = this.#dnsPeers(node, p2p.schedulerDns, 'scheduler')
    if (p2p.bootstrapDns.length > 0) this.#dnsBootstrap = this.#dnsPeers(node, p2p.bootstrapDns, 'bootstrap')
    if (p2p.schedulers.length > 0 || p2p.schedulerDns.length > 0 || local != null) {
      this.#scheduler = new SchedulerClient({ node, logger: this.#log.child('scheduler-client') }, {
        schedulers: p2p.schedulers.map(a => multiaddr(a)),
        local,
        registration: () => ({
          addresses: node.getMultiaddrs(),
          hostName: hostname(),
          site: p2p.site,
          zone: p2p.zone,
          uploadSlots: PIECE_SERVER_MAX_READS,
          uploadBytesPerSecond: this.#init.uploadBytesPerSecond,
          joinToken
        }),
        heldTasks: () => this.#heldTasks()
      })
      this.#scheduler.on('members', (message, key) => { this.#hangUp(this.#members?.apply(key, message) ?? []) })
      this.#scheduler.on('disconnected', this.#onSchedulerGone)
      this.#scheduler.start()
    }
    this.#dnsSchedulers?.on('change', peers => { this.#schedulersFound(peers) })
    this.#dnsSchedulers?.start()
    this.#dnsBootstrap?.start()
    if (p2p.membership.kind === 'static') this.#watchMembersFile(p2p.membership.membersFile)
  }

  #dnsPeers (node: P2pNode, targets: P2pConfig['bootstrapDns'], role: 'bootstrap' | 'scheduler'): DnsPeers {
    return new DnsPeers({ node, resolver: this.#components.dnsResolver, logger: this.#log.child('dns-discovery') }, {
      targets, role, resolveIntervalMs: this.#init.dnsResolveIntervalMs, maxPeers: role === 'bootstrap' ? DNS_BOOTSTRAP_MAX_PEERS : undefined
    })
  }

  /**
   * The schedulers behind `--scheduler dns:` changed: the new ones may connect (they admit this
   * agent and push the members), then get sessions; those gone lose both, and are hung up on unless
   * they are members for another reason.
   */
  #schedulersFound (peers: DnsPeer[]): void {
    const removed = this.#members?.setFoundSchedulers(peers.map(p => p.id.toString())) ?? []
    this.#scheduler?.setFound(peers)
    this.#hangUp(removed)
  }

  /**
   * Who may connect (docs/membership.md): the members (with the schedulers, which admit them), or
   * with no membership configured loopback only, and the agent says so.
   */
  async #admission (): Promise<Admission> {
    const { membership, schedulers } = this.#init.p2p
    if (membership.kind === 'loopback') {
      this.#ownLog.warn('no membership configured: peers are served on loopback only (connections from other hosts are refused); for a swarm of hosts see docs/membership.md', {
        fix: 'shoal agent --scheduler MULTIADDR --join-token FILE (a token from the scheduler operator), or --members FILE (peer ids, one a line) for DHT-only swarms'
      })
      return { kind: 'loopback' }
    }
    const members = new MemberSet(schedulers.map(a => multiaddr(a).getComponents().find(c => c.name === 'p2p')?.value ?? ''))
    if (membership.kind === 'static') {
      members.replace('file', await readMembersFile(membership.membersFile))
      this.#membersFileMtimeMs = (await stat(membership.membersFile)).mtimeMs
    }
    this.#members = members
    this.#ownLog.info('membership', { kind: membership.kind, members: members.size })
    // `--scheduler dns:`: whoever answers at an address NAME resolves to, when this agent dials it, is
    // let through the handshake; its id is then allowed as a scheduler's (#schedulersFound).
    const trustsAddress = this.#init.p2p.schedulerDns.length === 0 ? undefined : (addr: Multiaddr): boolean => this.#dnsSchedulers?.resolves(addr) === true
    return { kind: 'members', allows: peer => members.allows(peer), trustsAddress }
  }

  /** Closes every connection of peers that are no longer members: a removed host is cut off at once. */
  #hangUp (removed: string[]): void {
    const node = this.#node
    if (node == null) return
    for (const id of removed) {
      this.#ownLog.info('peer no longer a member: its connections are closed', { peer: id })
      node.hangUp(peerIdFromString(id)).catch((err: Error) => {
        this.#ownLog.warn('closing a removed member\'s connections failed', { peer: id, error: `${err.name}: ${err.message}` })
      })
    }
  }

  /** `--members FILE`, re-read when its modification time changes; a bad file keeps the last good set. */
  #watchMembersFile (path: string): void {
    let seen = this.#membersFileMtimeMs
    let reading = false
    const check = async (): Promise<void> => {
      const mtime = (await stat(path)).mtimeMs
      if (mtime === seen) return
      const ids = await readMembersFile(path)
      seen = mtime
      this.#hangUp(this.#members?.replace('file', ids) ?? [])
    }
    this.#membersPoll = setInterval(() => {
      if (reading) return
      reading = true
      check().catch((err: Error) => {
        this.#ownLog.warn('members file not re-read; the last good member list stays', { path, error: `${err.name}: ${err.message}` })
      }).finally(() => { reading = false })
    }, MEMBERS_FILE_POLL_MS)
  }

  /** The scheduler client when `--scheduler` is given (undefined: DHT only). */
  get scheduler (): SchedulerClient | undefined {
    return this.#scheduler
  }

  /** Every blob held with at least one piece, as a scheduler is told after it (re)connects. */
  #heldTasks (): HeldTask[] {
    return this.#components.store.list().filter(r => r.pieces.some(cid => cid != null) && this.#shareable(r.digest))
      .map(record => ({ digest: record.digest, size: record.size, bitfield: recordedBitfield(record), wantsPieces: false }))
  }

  /**
   * Provider records live in the peers' memory: after a restart nobody lists this agent any more.
   * Every blob held with at least one piece is announced again, once there is a peer to tell.
   */
  #announceHeld (node: P2pNode): void {
    const held = this.#components.store.list().filter(r => r.pieces.some(cid => cid != null) && this.#shareable(r.digest)).map(r => r.digest)
    if (held.length === 0) return
    const adopt = (): void => { this.#discovery?.adopt(held) }
    if (node.getConnections().length > 0) adopt()
    else node.addEventListener('peer:connect', adopt, { once: true })
  }

  async stop (): Promise<void> {
    clearInterval(this.#membersPoll)
    this.#membersPoll = undefined
    await this.#dnsBootstrap?.stop()
    await this.#dnsSchedulers?.stop()
    this.#dnsBootstrap = undefined
    this.#dnsSchedulers = undefined
    // Stopping ends its sessions too: that is no reason to announce anything.
    this.#scheduler?.off('disconnected', this.#onSchedulerGone)
    await this.#scheduler?.stop()
    this.#scheduler = undefined
    await this.#embedded?.stop()
    this.#embedded = undefined
    await this.#discovery?.stop()
    this.#client?.close()
    await this.#server?.stop()
    await this.#node?.stop()
    this.#discovery = undefined
    this.#server = undefined
    this.#node = undefined
  }

  get peerId (): PeerId | undefined {
    return this.#node?.peerId
  }

  /** Peers with an open connection (0 before start and after stop). */
  connectedPeers (): number {
    return this.#node?.getPeers().length ?? 0
  }

  /** The piece server's read budget now (0 before start and after stop). */
  uploadBudgetBytes (): number {
    return this.#server?.readBudgetBytes ?? 0
  }

  /** Peers with an open connection, by id. */
  connectedPeerIds (): string[] {
    return this.#node?.getPeers().map(p => p.toString()) ?? []
  }

  /** The peer ids this node knows of (its peer store). */
  async knownPeers (): Promise<string[]> {
    return (await this.#node?.peerStore.all() ?? []).map(p => p.id.toString())
  }

  /** The listen (or announced) multiaddrs, each ending with /p2p/<peer id>. */
  multiaddrs (): string[] {
    const node = this.#node
    if (node == null) return []
    const id = node.peerId.toString()
    return node.getMultiaddrs().map(a => a.toString()).map(a => a.includes('/p2p/') ? a : `${a}/p2p/${id}`)
  }

  /** `--share-private`: whether peers may have the blob (and hear that this agent holds it). */
  #shareable (digest: Digest): boolean {
    return this.#share?.shareable(digest) ?? true
  }

  /** A client asked for a blob: the share policy learns where it lives. */
  observeBlob (blob: BlobOrigin): void {
    this.#share?.observe(blob)
  }

  /** Announces a blob (fire and forget: a failure is logged, the re-provide round tries again); not one the share policy keeps here. */
  provide (digest: Digest): void {
    if (!this.#shareable(digest)) return
    this.#discovery?.provide(digest).catch((err: Error) => {
      if (err.name !== 'AbortError') this.#ownLog.warn('provide failed', { digest, error: `${err.name}: ${err.message}` })
    })
  }

  /** Announces a blob after the rollout (`Discovery.provideLater`): one the scheduler told peers of as it came. */
  provideLater (digest: Digest): void {
    if (!this.#shareable(digest)) return
    this.#discovery?.provideLater(digest)
  }

  /** Stops announcing an evicted blob (fire and forget). */
  withdraw (digest: Digest): void {
    this.#discovery?.withdraw(digest).catch((err: Error) => {
      this.#ownLog.warn('withdraw failed', { digest, error: `${err.name}: ${err.message}` })
    })
  }

  /** What the layer fetcher uses: provider lookups (skipped while no peer is connected), announcements and the client. */
  network (): PeerNetwork {
    const client = this.#client
    const node = this.#node
    if (client == null || node == null) throw new Error('peer services are not started')
    return {
      self: node.peerId,
      client,
      connected: () => node.getPeers(),
      rememberAddresses: (peer, addresses) => {
        if (!this.#knownAddresses.changed(peer.toString(), addresses)) return
        let multiaddrs
        try {
          multiaddrs = addresses.map(bytes => multiaddr(bytes))
        } catch (err) {
          this.#ownLog.info('a parent\'s addresses do not parse; it is dialled by peer id alone', { peer: peer.toString(), error: (err as Error).message })
          return
        }
        node.peerStore.merge(peer, { multiaddrs }).catch((err: Error) => {
          this.#knownAddresses.forget(peer.toString())
          this.#ownLog.info('a parent\'s addresses were not kept; it is dialled by peer id alone', { peer: peer.toString(), error: `${err.name}: ${err.message}` })
        })
      },
      shares: async blob => this.#share?.settled(blob) ?? true,
      announceLater: digest => { this.provideLater(digest) },
      announce: async digest => {
        if (!this.#shareable(digest)) return
        const wait = AbortSignal.timeout(PEER_LOOKUP_TIMEOUT_MS)
        await this.#discovery?.provide(digest, { signal: wait }).catch((err: Error) => {
          // A wait that ran out is no failure: the announcement goes on (on a DHT with few peers it
          // often outlasts the wait, and said "failed" at every stripe of a prefetch).
          const outcome = provideOutcome(err, wait)
          if (outcome === 'failed') this.#ownLog.info('DHT announcement failed; the next re-announce round tries again', { digest, error: `${err.name}: ${err.message}` })
          else this.#ownLog.debug(outcome === 'under-way' ? 'DHT announcement still under way after the wait' : 'DHT announcement ended (blob withdrawn or discovery stopped)', { digest })
        })
      },
      findProviders: async digest => {
        const discovery = this.#discovery
        if (discovery == null || node.getConnections().length === 0) return []
        const providers = await discovery.findProviders(digest).catch((err: Error) => {
          this.#ownLog.warn('provider lookup failed; going on without peers', { digest, error: `${err.name}: ${err.message}` })
          return []
        })
        // The pieces are asked by peer id: let libp2p know where the providers said they listen.
        await Promise.all(providers.filter(p => p.multiaddrs.length > 0).map(async p => {
          await node.peerStore.merge(p.id, { multiaddrs: p.multiaddrs }).catch((err: Error) => {
            this.#ownLog.info('a provider\'s addresses were not kept; it is dialled by peer id alone', { peer: p.id.toString(), error: `${err.name}: ${err.message}` })
          })
        }))
        return providers
      }
    }
  }
}
