import type { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { pieceCountFor } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import type { RateLimiter } from '../bandwidth/index.ts'
import { SHARE_VERDICT_WAIT_MS } from '../constants.ts'
import { NoPeerSourceError } from '../errors.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { BlobDownload } from './blob-download.ts'
import type { HashThread } from '../hashing/hash-thread.ts'
import type { LayerFetcherEventMap, PieceEvents } from './events.ts'
import { blobSizeOf } from './sources/origin.ts'
import type { OriginBlobRequest } from './sources/origin.ts'
import type { OriginPieceReader } from './sources/origin-range.ts'
import type { PeerBans } from '../peer-bans.ts'
import { claimShare } from './claim-share.ts'
import { OriginReads } from './origin-reads.ts'
import { PeerLatency } from './peer-latency.ts'
import { planFromPeers } from './peer-plan.ts'
import type { PeerNetwork } from './peer-plan.ts'
import type { PlannedPeer } from './peer-swarm.ts'
import { pieceStream } from './piece-stream.ts'
import { partialAheadStore } from './read-ahead.ts'
import type { PieceStream } from './piece-stream.ts'
import { startScheduled } from './scheduled-path.ts'
import type { SchedulerClient } from '../scheduler-client/client.ts'

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
 * providers the DHT named, split with the other agents that claimed a cold blob, or from the origin
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
  | 'peer-download-failed'
  | 'kept-private'

/**
 * What the planner decided: a download from peers ready to run (with the piece stream that feeds
 * it), the origin's refusal to pass on to the client, or the origin's whole-blob stream, and why.
 */
export type BlobPlan =
  | { kind: 'scheduled' | 'dht' | 'claim', download: BlobDownload, source: PieceStream }
  | { kind: 'refused', answer: UpstreamAnswer }
  | { kind: 'origin', why: OriginReason }

export interface BlobPlannerComponents {
  store: PieceStore
  upstream: UpstreamClient
  /** The peer network; without it every blob comes from the origin. */
  peers?: PeerNetwork
  limits?: { origin?: RateLimiter, download?: Pick<RateLimiter, 'take'> }
  bans: PeerBans
  /** The schedulers, when `--scheduler` is given: a blob's scheduler directs its download. */
  scheduler?: SchedulerClient
  /** Hashes downloads off the main thread; without it they are hashed on it. */
  hashing?: HashThread
  logger?: Logger
}

export interface BlobPlannerInit {
  originFallback: boolean
  claimSettleMs: number
  /** Where piece and origin-read events go (LayerFetcher.events). */
  events: EventEmitter<LayerFetcherEventMap>
}

/** The origin's answer to the HEAD of a blob for a client: its size, its refusal, or none. */
type OriginHead = { kind: 'size', size: number | undefined } | { kind: 'refused', answer: UpstreamAnswer } | { kind: 'unreachable' }

/**
 * The one place that decides how a blob not held here is fetched (BlobPlan). In order: with no
 * peer network, or for the retry after a failed peer download, the origin; a blob whose scheduler
 * answers, the scheduled plan; else the DHT's providers; none, a claim (below); no usable peer,
 * the origin, unless origin fallback is off (NoPeerSourceError).
 */
export class BlobPlanner {
  private readonly components: BlobPlannerComponents
  private readonly init: BlobPlannerInit
  private readonly log: Logger
  /** Origin Range reads of pieces, a few at a time for all blobs (see OriginReads). */
  readonly #originReads: OriginReads

  constructor (components: BlobPlannerComponents, init: BlobPlannerInit) {
    this.components = components
    this.init = init
    this.log = components.logger ?? silentLogger
    this.#originReads = new OriginReads({ upstream: components.upstream, limiter: components.limits?.origin, onBytes: bytes => { init.events.emit('upstream-bytes', bytes) } })
  }

  /**
   * Chooses the plan. On the peer path the origin is asked only a HEAD with the client's
   * credentials (the access check, and the size the peers' table must agree with; a refusal goes
   * back to the client as is), then the pieces come from the scheduler's parents or the providers
   * the DHT names. When none does, the agent claims the blob (below). When the origin cannot be
   * reached, the offline access policy may stand in for its yes, and the size comes from the peers'
   * table (the digest still checks every byte). `peersFirst: false` is the retry after a failed
   * peer download: the origin. The signal (the fetcher stopping) ends the waits on the way.
   */
  async choose (req: OriginBlobRequest, options: { peersFirst: boolean, signal: AbortSignal }): Promise<BlobPlan> {
    const { store, peers, scheduler } = this.components
    if (peers == null) return { kind: 'origin', why: 'no-peer-network' }
    if (!options.peersFirst) return { kind: 'origin', why: 'peer-download-failed' }
    const { signal } = options
    // A blob this agent keeps from peers (`--share-private`) is never announced: its scheduler would
    // hand this agent out as a parent and count its pieces as held, and the peers sent to it would
    // be refused. It is taken from providers that share it, else from the origin.
    const shared = peers.shares == null || await verdict(peers.shares(req), signal)
    const session = shared ? scheduler?.sessionFor(req.digest) : undefined
    if (session == null && peers.connected().length === 0) return this.noPeers(req, 'no-connected-peers')
    let found: Array<{ id: PeerId }>
    let head: OriginHead
    if (session != null && scheduler != null) {
      // The blob's scheduler directs the download; the DHT is only asked when it does not answer.
      head = await this.headAtOrigin(req)
      if (head.kind === 'refused') return { kind: 'refused', answer: head.answer }
      if (head.kind === 'size' && head.size != null && head.size > 0) {
        const scheduled = await startScheduled({ store, peers, scheduler, downloads: this.components.limits?.download, hashing: this.components.hashing, logger: this.log }, {
          req, size: head.size, session, signal, originPiece: this.originPiece(req), pieceArrivedAt: () => this.#pieceArrivedAt, events: this.pieceEvents, latency: this.latency
        })
        if (scheduled != null) return { kind: 'scheduled', ...scheduled }
      }
      found = await peers.findProviders(req.digest)
    } else {
      [found, head] = await Promise.all([peers.findProviders(req.digest), this.headAtOrigin(req)])
    }
    const providers = this.unbanned(found)
    if (head.kind === 'refused') return { kind: 'refused', answer: head.answer }
    if (head.kind === 'unreachable' && (providers.length === 0 || req.offlineAccess?.() !== true)) return this.noPeers(req, 'origin-unreachable')
    const size = head.kind === 'size' ? head.size : undefined
    if (size === 0) return { kind: 'origin', why: 'empty-blob' }
    let plan = providers.length > 0 ? await planFromPeers(peers, req.digest, size, providers, this.log) : undefined
    signal.throwIfAborted()
    // A claim reads a share from the origin and expects the other claimers' shares from them: it
    // needs this agent to give its share too.
    if (!shared && (plan == null || !plan.peers.some(holdsAny))) return this.noPeers(req, 'kept-private')
    // No provider answers, or those that do hold no piece yet (other agents' claims): the blob is cold, claim it.
    const claimed = size != null && (plan == null || !plan.peers.some(holdsAny))
    let share: number[] = []
    if (claimed) {
      plan = await planFromPeers(peers, req.digest, size, await this.claim(req.digest, size, peers, signal), this.log)
      signal.throwIfAborted()
      // The peers that answered a bitfield are the other claimers: none, and this agent is alone.
      if (plan == null) return this.noPeers(req, 'no-providers')
      // Each claimer reads its share of the pieces from the origin and the rest from the others.
      // Claimers that settled first may hold pieces already; they counted this agent when its
      // partial was open by then, so it still reads its share, less what some claimer holds (a
      // claimer that did not count it read those as its own). Following them instead left this
      // agent's share to nobody until the stall sent every follower to the origin for all of it.
      const view = plan.peers
      share = claimShare(req.digest, pieceCountFor(size), peers.self, view.map(p => p.id))
        .filter(index => !view.some(p => p.complete || p.bitfield.has(index)))
      this.log.info('claimed a cold blob', { digest: req.digest, others: plan.peers.length, share: share.length })
    }
    if (plan == null) return this.noPeers(req, 'no-usable-plan')
    const partial = await store.openPartial(req.digest, plan.table.size)
    const download = new BlobDownload(partial, { source: 'peer', hashing: this.components.hashing })
    const source = pieceStream({
      plan,
      client: peers.client,
      downloads: this.components.limits?.download,
      originPiece: this.originPiece(req),
      // Pieces read ahead of the client's stream, rarest first, are stored at once: peers following
      // this agent get them then, not when the client's stream reaches them.
      seedInto: partialAheadStore(partial),
      events: this.pieceEvents,
      latency: this.latency,
      logger: this.log
    })
    source.assign(share)
    return { kind: claimed ? 'claim' : 'dht', download, source }
  }

  /**
   * Several agents pulling one cold blob at the same moment all miss the DHT, or find only each
   * other's claims. So an agent that finds no provider holding a piece claims the blob: it opens its
   * partial (which answers a bitfield request, empty), announces it, waits for the others to do the
   * same, and looks again. The candidates are the providers the DHT names now, and every connected
   * peer: on a loaded host an announcement can take longer than the settle time to spread, and a
   * connected claimer answers a bitfield request at once. The caller asks them all (planFromPeers):
   * those that answer are the claimers. Each reads its share of the pieces (claimShare) from the
   * origin and the others' shares from them, so the origin sends the blob about once.
   */
  private async claim (digest: Digest, size: number, peers: PeerNetwork, signal: AbortSignal): Promise<Array<{ id: PeerId }>> {
    await this.components.store.openPartial(digest, size)
    await peers.announce(digest)
    await sleep(this.init.claimSettleMs, undefined, { signal })
    const candidates = new Map<string, { id: PeerId }>()
    for (const peer of [...await peers.findProviders(digest), ...peers.connected().map(id => ({ id }))]) {
      if (!peer.id.equals(peers.self)) candidates.set(peer.id.toString(), { id: peer.id })
    }
    return this.unbanned([...candidates.values()])
  }

  /** Pieces by HTTP Range from the origin, unless fallback to it is off; shared by every download and stripe (the origin read slots). */
  originPiece (req: OriginBlobRequest): OriginPieceReader | undefined {
    if (!this.init.originFallback) return undefined
    return this.#originReads.readerFor(req)
  }

  /** Every peer's recent first-byte time, over the downloads of every blob: whom to ask (PieceBook.whomToAsk). */
  readonly #peerLatency = new PeerLatency()
  private readonly latency = (peer: PeerId): number | undefined => this.#peerLatency.expected(peer.toString())

  /** When a download of this agent last got a piece, from anywhere (performance.now()). */
  #pieceArrivedAt?: number

  /** What every piece stream reports; a piece from a peer times it, a bad piece counts against the peer across blobs. */
  private readonly pieceEvents: PieceEvents = {
    onPieceFetched: event => {
      this.#pieceArrivedAt = performance.now()
      if (event.peer != null && event.firstByteSeconds != null) this.#peerLatency.observe(event.peer, event.firstByteSeconds)
      this.init.events.emit('piece-fetched', event)
    },
    onPieceWait: event => { this.init.events.emit('piece-wait', event) },
    onPieceFailed: event => {
      if (event.result === 'bad') this.components.bans.badPiece(event.peer)
      this.init.events.emit('piece-failed', event)
    }
  }

  /** The origin's HEAD of the blob for this client: its size, its refusal, or no answer at all. */
  private async headAtOrigin (req: OriginBlobRequest): Promise<OriginHead> {
    let head
    try {
      // No retries: like the access check, an origin that does not answer leaves the decision to the offline policy.
      head = await this.components.upstream.send({ registry: req.registry, method: 'HEAD', path: `/v2/${req.repository}/blobs/${req.digest}`, repository: req.repository, authorization: req.authorization, retries: 0 })
    } catch (err) {
      if ((err as Error).name === 'UpstreamUnavailableError') return { kind: 'unreachable' }
      throw err
    }
    await head.body.dump()
    if (head.status >= 500 || head.status === 429) return { kind: 'unreachable' }
    // A refusal (401 with its challenge, 403, 404) is the client's answer.
    if (head.status !== 200) return { kind: 'refused', answer: { kind: 'upstream', status: head.status, headers: head.headers, body: Buffer.alloc(0), endpoint: head.endpoint } }
    req.onOriginYes?.()
    return { kind: 'size', size: blobSizeOf(head) }
  }

  /** No peer can give the blob: the origin, unless fallback to it is off. */
  private noPeers (req: OriginBlobRequest, why: OriginReason): BlobPlan {
    if (!this.init.originFallback) throw new NoPeerSourceError(`no peer holds ${req.digest}, and origin fallback is off (--no-origin-fallback)`)
    return { kind: 'origin', why }
  }

  private unbanned<T extends { id: PeerId }> (providers: T[]): T[] {
    return providers.filter(p => !this.components.bans.isBanned(p.id.toString()))
  }
}

/** The share policy's verdict, or false (private, as it counts for peers) when it takes longer than SHARE_VERDICT_WAIT_MS. */
async function verdict (settled: Promise<boolean>, signal: AbortSignal): Promise<boolean> {
  const done = new AbortController()
  try {
    return await Promise.race([settled, sleep(SHARE_VERDICT_WAIT_MS, false, { signal: AbortSignal.any([signal, done.signal]) })])
  } finally {
    done.abort()
  }
}

/** Whether a peer holds any piece of the blob. */
function holdsAny (peer: PlannedPeer): boolean {
  return peer.complete || peer.bitfield.count() > 0
}
