import { EventEmitter } from 'node:events'
import type { Digest, PieceStripe } from '@shoal/proto'
import type { RateLimiter } from '../bandwidth/index.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import { PEER_CLAIM_SETTLE_MS, STRIPE_ATTEMPTS } from '../constants.ts'
import { StripeKeptPrivateError, UpstreamProtocolError } from '../errors.ts'
import type { BlobRecord } from '../piece-store/blob-record.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { SchedulerClient } from '../scheduler-client/client.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { discardBody } from '../upstream/errors.ts'
import { BlobDownload } from './blob-download.ts'
import type { HashThread } from '../hashing/hash-thread.ts'
import type { ByteSource } from './blob-download.ts'
import type { LayerFetcherEventMap } from './events.ts'
import { PeerBans } from '../peer-bans.ts'
import type { PeerNetwork } from './peer-plan.ts'
import { BlobPlanner } from './plan.ts'
import type { OriginReason, UpstreamAnswer } from './plan.ts'
import { blobSizeOf, originSource, requestOriginBlob } from './sources/origin.ts'
import { fetchStripe } from './stripe-fetch.ts'
import type { OriginBlobRequest } from './sources/origin.ts'

export type BlobHandle =
  | { kind: 'complete', record: BlobRecord }
  | { kind: 'download', download: BlobDownload }
  | UpstreamAnswer

export interface LayerFetcherComponents {
  store: PieceStore
  upstream: UpstreamClient
  /** The peer network; without it every blob comes from the origin. */
  peers?: PeerNetwork
  /** `--origin-limit` and `--download-limit` (piece bytes from peers), shared by every download. */
  limits?: { origin?: RateLimiter, download?: Pick<RateLimiter, 'take'> }
  /** The schedulers (`--scheduler`); a blob's scheduler directs its download while it answers. */
  scheduler?: SchedulerClient
  /** The agent's bans, shared with the piece exchange server; without them the fetcher keeps its own. */
  bans?: PeerBans
  /** The agent's hashing thread; without it downloads hash on the main thread. */
  hashing?: HashThread
  /** The agent's logger (`shoal:agent`); the fetcher logs under `layer-fetcher`. Silent when absent. */
  logger?: Logger
}

export interface LayerFetcherInit {
  /** Fetch from the origin what no peer gives (default true; `--no-origin-fallback` turns it off). */
  originFallback?: boolean
  /** See PEER_CLAIM_SETTLE_MS. */
  claimSettleMs?: number
}

const MAX_ERROR_BODY_BYTES = 64 * 1024

/**
 * What happens when a client asks for a blob, top to bottom (open): complete in the store, serve
 * it; a download of that digest in flight, join it (concurrent requests for one digest share one
 * download, whoever asks and whatever repository or registry name they use: the task is the
 * digest itself); else the planner (plan.ts) chooses how to fetch it, and the download runs its
 * source into the store (BlobDownload: every piece checked, the whole blob hashed before it is
 * complete). A download from peers whose source fails goes on from the origin at the byte it
 * reached; one that fails even so is discarded and fetched again from the origin.
 */
export class LayerFetcher {
  private readonly components: LayerFetcherComponents
  /** What happens to blobs (LayerFetcherEventMap), for metrics, logs and announcements. */
  readonly events = new EventEmitter<LayerFetcherEventMap>()
  private readonly inflight = new Map<Digest, Promise<BlobHandle>>()
  private readonly downloads = new Set<BlobDownload>()
  /** The last stripe of each blob being held (fetchStripe), which the next one of that blob waits for. */
  private readonly stripes = new Map<Digest, Promise<number>>()
  private readonly originFallback: boolean
  /** Peers not asked for anything for a while (a wrong piece table, repeated bad pieces). */
  readonly bans: PeerBans
  private readonly planner: BlobPlanner
  /** Aborted by stop(): plans being chosen (waiting on a scheduler, a claim) end with it. */
  private readonly stopping = new AbortController()
  private readonly log: Logger

  constructor (components: LayerFetcherComponents, init: LayerFetcherInit = {}) {
    this.components = components
    this.events.setMaxListeners(0)
    this.originFallback = init.originFallback ?? true
    this.bans = components.bans ?? new PeerBans({ onBan: (peer, reason) => { this.events.emit('peer-banned', peer, reason) } })
    const { store, peers, limits, scheduler } = components
    this.log = (components.logger ?? silentLogger).child('layer-fetcher')
    // The upstream is read at each origin read: the agent's reload may replace it.
    this.planner = new BlobPlanner({ store, get upstream () { return components.upstream }, peers, limits, bans: this.bans, scheduler, hashing: components.hashing, logger: this.log }, {
      originFallback: this.originFallback,
      claimSettleMs: init.claimSettleMs ?? PEER_CLAIM_SETTLE_MS,
      events: this.events
    })
  }

  /** Blobs being downloaded right now. */
  get active (): number {
    return this.downloads.size
  }

  /** Whether a request for this digest is on its way to the origin or downloading now (open() would join it). */
  fetching (digest: Digest): boolean {
    return this.inflight.has(digest)
  }

  /** Resolves when the downloads running now have ended (later ones are not waited for). */
  async settled (): Promise<void> {
    await Promise.all([...this.downloads].map(async d => {
      while (d.state === 'running') await d.changed()
    }))
  }

  /** Ends every download running and every plan being chosen; their clients get the error. */
  async stop (): Promise<void> {
    this.stopping.abort(new Error('agent stopping'))
    const running = [...this.downloads]
    for (const d of running) d.abort(new Error('agent stopping'))
    await Promise.all(running.map(async d => { await d.changed() }))
  }

  /**
   * Holds one stripe of a blob's pieces: a site prefetch placed by pieces (stripe-fetch.ts). A
   * download of the blob under way is waited for first (it may leave the blob whole). A download
   * that starts meanwhile shares the blob's partial file and closes it when it ends: the stripe is
   * then looked at again (STRIPE_ATTEMPTS in all). Two stripes of one blob (a site's agent left and
   * its stripe moved here) run one after the other: each closes the partial file it opened. Resolves
   * to the stripe's bytes. Told as a request for the blob ('blob-requested'): with
   * `--share-private anonymous` that is where the share policy learns whether peers may have it.
   * A stripe of a blob the policy keeps from peers is refused (StripeKeptPrivateError): it would
   * give the others nothing, and announcing it would send them here to be refused.
   */
  async fetchStripe (req: OriginBlobRequest, init: { size: number, stripe: PieceStripe, signal: AbortSignal, onBytes?: (bytes: number) => void }): Promise<number> {
    this.events.emit('blob-requested', req)
    if (await this.components.peers?.shares?.(req) === false) {
      throw new StripeKeptPrivateError(`this agent keeps ${req.digest} from its peers (--share-private): a stripe of it helps no one; prefetch it whole on each agent (--scope all or agent:PEER_ID)`)
    }
    const before = this.stripes.get(req.digest)
    const turn = (async () => {
      await before?.catch(() => {})
      return this.holdStripe(req, init)
    })()
    this.stripes.set(req.digest, turn)
    try {
      return await turn
    } finally {
      if (this.stripes.get(req.digest) === turn) this.stripes.delete(req.digest)
    }
  }

  private async holdStripe (req: OriginBlobRequest, init: { size: number, stripe: PieceStripe, signal: AbortSignal, onBytes?: (bytes: number) => void }): Promise<number> {
    const signal = AbortSignal.any([init.signal, this.stopping.signal])
    const { store, peers, scheduler } = this.components
    for (let attempt = 1; ; attempt++) {
      const running = await this.inflight.get(req.digest)?.catch(() => undefined)
      if (running?.kind === 'download') while (running.download.state === 'running') await running.download.changed()
      try {
        return await fetchStripe({ store, originPiece: this.planner.originPiece(req), peers, scheduler, log: this.log }, { digest: req.digest, size: init.size, stripe: init.stripe, signal, onBytes: init.onBytes })
      } catch (err) {
        if ((err as Error).name !== 'StripeInterruptedError' || attempt >= STRIPE_ATTEMPTS || signal.aborted) throw err
      } finally {
        // A download that joined the partial file closes it itself.
        if (!this.inflight.has(req.digest)) await store.closePartial(req.digest)
      }
    }
  }

  async open (req: OriginBlobRequest): Promise<BlobHandle> {
    this.events.emit('blob-requested', req)
    return this.join(req, true)
  }

  private async join (req: OriginBlobRequest, peersFirst: boolean): Promise<BlobHandle> {
    const record = this.components.store.get(req.digest)
    if (record?.state === 'complete') return { kind: 'complete', record }
    let handle = this.inflight.get(req.digest)
    if (handle == null) {
      handle = this.start(req, peersFirst)
      this.inflight.set(req.digest, handle)
      handle.then(h => { if (h.kind !== 'download') this.inflight.delete(req.digest) }, () => this.inflight.delete(req.digest))
    }
    return handle
  }

  /**
   * Starts a download, or passes on the origin's answer. The peer path may open the blob's partial
   * and then give up (a claim nobody follows, a scheduler that does not answer, then a refusal or
   * an error): with no download to close it, it is closed here, or it would pin the blob and hold
   * its file open for good. No other download of this digest runs meanwhile (inflight).
   */
  private async start (req: OriginBlobRequest, peersFirst: boolean): Promise<BlobHandle> {
    let handle: BlobHandle | undefined
    try {
      handle = await this.begin(req, peersFirst)
      return handle
    } finally {
      if (handle?.kind !== 'download') await this.components.store.closePartial(req.digest)
    }
  }

  private async begin (req: OriginBlobRequest, peersFirst: boolean): Promise<BlobHandle> {
    const { signal } = this.stopping
    const plan = await this.planner.choose(req, { peersFirst, signal }).catch((err: unknown) => {
      // A wait cut short by stop() ends with the reason the fetcher stopped, not the wait's own AbortError.
      throw signal.aborted ? signal.reason : err
    })
    if (plan.kind === 'refused') return plan.answer
    if (plan.kind === 'origin') return this.fromOrigin(req, plan.why)
    this.events.emit('plan', { digest: req.digest, plan: plan.kind })
    this.run(plan.download, plan.source, req, {
      tableSources: plan.source.tableSources,
      fallback: this.originFallback ? () => this.originRest(plan.download, req) : undefined,
      announceFirstPiece: plan.kind !== 'scheduled'
    })
    return { kind: 'download', download: plan.download }
  }

  /** The whole blob as one stream from the origin (from the first piece not held), or the origin's refusal. */
  private async fromOrigin (req: OriginBlobRequest, why: OriginReason): Promise<BlobHandle> {
    const { store, upstream } = this.components
    this.events.emit('plan', { digest: req.digest, plan: 'origin', why })
    const known = store.get(req.digest)
    const resumeAt = known == null ? 0 : firstMissingOffset(known)
    // Not the client's signal: the download goes on for the store and other clients if it leaves.
    const controller = new AbortController()
    const res = await requestOriginBlob(upstream, req, resumeAt, { signal: controller.signal })
    if (res.status !== 200 && res.status !== 206) {
      return { kind: 'upstream', status: res.status, headers: res.headers, body: await readCapped(res.body, MAX_ERROR_BODY_BYTES), endpoint: res.endpoint }
    }
    req.onOriginYes?.()
    const size = blobSizeOf(res)
    if (size == null) {
      await res.body.dump()
      throw new UpstreamProtocolError(`${req.registry.host} sent blob ${req.digest} without a length`)
    }
    const partial = await store.openPartial(req.digest, size).catch(async err => {
      await discardBody(res.body)
      throw err
    })
    const download = new BlobDownload(partial, { controller, hashing: this.components.hashing })
    download.on('bytes', (n: number) => { this.events.emit('upstream-bytes', n) })
    this.run(download, originSource(upstream, req, res, this.components.limits?.origin), req, { announceFirstPiece: true })
    return { kind: 'download', download }
  }

  /**
   * The rest of a download from peers whose source failed for good, from the origin: its clients
   * keep the bytes they have and get the rest (skopeo and podman do not resume a broken body).
   */
  private originRest (download: BlobDownload, req: OriginBlobRequest): ByteSource {
    const { upstream, limits } = this.components
    download.once('fallback', (err: Error, offset: number) => {
      this.log.warn('peer download failed; the rest of the blob comes from the origin', { digest: download.digest, offset, error: `${err.name}: ${err.message}` })
      this.events.emit('peer-download-fallback', { digest: download.digest, offset, error: err.name })
      download.on('bytes', (n: number) => { this.events.emit('upstream-bytes', n) })
    })
    return originSource(upstream, req, undefined, limits?.origin)
  }

  /**
   * Runs a download to its end. One from peers whose source fails goes on from the origin
   * (`fallback`); one that fails even so is discarded and fetched again from the origin, and when
   * it failed on a wrong piece table, the peers that gave the table are banned.
   */
  private run (download: BlobDownload, source: ByteSource, req: OriginBlobRequest, options: RunOptions): void {
    const { tableSources, fallback } = options
    const { store } = this.components
    this.downloads.add(download)
    // Only for announcing: without a listener the first piece costs no extra fdatasync.
    if (options.announceFirstPiece && this.events.listenerCount('first-piece') > 0) {
      download.once('piece', () => {
        download.partial.commit().then(() => { this.events.emit('first-piece', download.digest) }, (err: Error) => {
          // The download's own next commit fails the same way and fails the download; only the early announcement is lost.
          this.log.warn('first piece not made durable; the blob is not announced yet', { digest: download.digest, error: `${err.name}: ${err.message}` })
        })
      })
    }
    // run() settles with the download's state, never by throwing; what follows it is logged when it fails.
    download.run(source, async hashed => { await store.complete(download.partial, hashed) }, fallback)
      .then(async () => { await this.ended(download, req, tableSources) })
      .catch((err: Error) => {
        this.log.error('handling the end of a download failed', { digest: download.digest, error: `${err.name}: ${err.message}` })
      })
  }

  private async ended (download: BlobDownload, req: OriginBlobRequest, tableSources?: () => string[]): Promise<void> {
    this.downloads.delete(download)
    this.inflight.delete(req.digest)
    this.events.emit('download-done', download)
    if (tableSources == null || download.state !== 'failed' || this.stopping.signal.aborted) return
    const name = download.error?.name
    if (name === 'DigestMismatchError' || name === 'PieceTableMismatchError') {
      for (const peer of tableSources()) this.bans.ban(peer, 'bad-table')
    }
    await this.components.store.discard(download.digest).catch((err: Error) => {
      this.log.warn('the pieces of a failed peer download were not discarded', { digest: download.digest, error: `${err.name}: ${err.message}` })
    })
    if (!this.originFallback) return
    // Nobody waits for this retry (the clients of the failed download got its error): it fills the store for the next request.
    await this.join(req, false).catch((err: Error) => {
      this.log.warn('fetching from the origin after a failed peer download failed', { digest: download.digest, error: `${err.name}: ${err.message}` })
    })
  }
}

/** How `run` treats a download beyond its bytes. */
interface RunOptions {
  /** The peers whose piece table the download uses (banned when the blob fails its digest). */
  tableSources?: () => string[]
  /** Where the rest comes from when the peers' source fails for good. */
  fallback?: () => ByteSource
  /**
   * Emit `first-piece` (an early commit, then a DHT announcement) when the first piece is stored.
   * Not for a download the scheduler directs: the scheduler tells other agents of its pieces, and an
   * announcement costs every agent of the site CPU at the moment a rollout is busiest.
   */
  announceFirstPiece: boolean
}

function firstMissingOffset (record: BlobRecord): number {
  const i = record.pieces.indexOf(null)
  return i < 0 ? 0 : i * record.pieceSize
}

async function readCapped (body: AsyncIterable<Uint8Array>, cap: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of body) {
    if (total < cap) chunks.push(Buffer.from(chunk.subarray(0, cap - total)))
    total += chunk.byteLength
  }
  return Buffer.concat(chunks)
}

