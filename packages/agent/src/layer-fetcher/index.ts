import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import type { Digest } from '@shoal/proto'
import type { UpstreamConfig } from '../config/index.ts'
import type { RateLimiter } from '../bandwidth/index.ts'
import { PEER_CLAIM_SETTLE_MS } from '../constants.ts'
import { NoPeerSourceError, UpstreamProtocolError } from '../errors.ts'
import type { BlobRecord } from '../piece-store/blob-record.ts'
import type { PieceStore } from '../piece-store/store.ts'
import type { UpstreamClient } from '../upstream/client.ts'
import { BlobDownload } from './blob-download.ts'
import type { ByteSource } from './blob-download.ts'
import { blobSizeOf, fetchOriginRange, originSource, requestOriginBlob } from './origin-source.ts'
import type { OriginBlobRequest } from './origin-source.ts'
import { createLogger } from '../logger.ts'
import { PeerBans } from './peer-bans.ts'
import type { BanReason } from './peer-bans.ts'
import { planFromPeers } from './peer-plan.ts'
import type { PeerNetwork } from './peer-plan.ts'
import { peerSource } from './peer-source.ts'
import type { PieceFailedEvent, PieceFetchedEvent } from './peer-source.ts'

export { ChunkSink, followDownload, sendFileRange } from './blob-reader.ts'
export type { ByteRange } from './blob-reader.ts'
export { BlobDownload } from './blob-download.ts'
export type { PeerNetwork } from './peer-plan.ts'
export type { BanReason } from './peer-bans.ts'
export type { PieceFailedEvent, PieceFailure, PieceFetchedEvent } from './peer-source.ts'

/** An answer of the origin that is not the blob (401 with its challenge, 404...), passed on as is. */
export interface UpstreamAnswer {
  kind: 'upstream'
  status: number
  headers: Record<string, string | undefined>
  body: Buffer
}

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
}

export interface LayerFetcherEvents {
  onUpstreamBytes?: (n: number) => void
  onDownloadDone?: (download: BlobDownload) => void
  /** A blob's first piece is durable in the store (announce it to peers). */
  onFirstPiece?: (digest: Digest) => void
  /** A piece fetched by a download from peers (from a peer, or from the origin when no peer gave it). */
  onPieceFetched?: (event: PieceFetchedEvent) => void
  /** A piece request to a peer failed (the peer is dropped for that blob). */
  onPieceFailed?: (event: PieceFailedEvent) => void
  onPeerBanned?: (peer: string, reason: BanReason) => void
}

export interface LayerFetcherInit {
  /** Fetch from the origin what no peer gives (default true; `--no-origin-fallback` turns it off). */
  originFallback?: boolean
  /** See PEER_CLAIM_SETTLE_MS. */
  claimSettleMs?: number
}

const log = createLogger('shoal:agent:layer-fetcher')

const MAX_ERROR_BODY_BYTES = 64 * 1024

/**
 * One blob, wherever it is: complete in the store, being downloaded (join it), or fetched now.
 * Concurrent requests for one digest share one download, whoever asks and whatever repository or
 * registry name they use: the task is the digest itself.
 */
export class LayerFetcher {
  private readonly components: LayerFetcherComponents
  private readonly events: LayerFetcherEvents
  private readonly inflight = new Map<Digest, Promise<BlobHandle>>()
  private readonly downloads = new Set<BlobDownload>()
  private readonly originFallback: boolean
  private readonly claimSettleMs: number
  /** Peers not asked for anything for a while (a wrong piece table, repeated bad pieces). */
  readonly bans: PeerBans
  private stopping = false

  constructor (components: LayerFetcherComponents, events: LayerFetcherEvents = {}, init: LayerFetcherInit = {}) {
    this.components = components
    this.events = events
    this.originFallback = init.originFallback ?? true
    this.claimSettleMs = init.claimSettleMs ?? PEER_CLAIM_SETTLE_MS
    this.bans = new PeerBans({ onBan: events.onPeerBanned })
  }

  /** Blobs being downloaded right now. */
  get active (): number {
    return this.downloads.size
  }

  /** Whether a request for this digest is on its way to the origin or downloading now (open() would join it). */
  fetching (digest: Digest): boolean {
    return this.inflight.has(digest)
  }

  async stop (): Promise<void> {
    this.stopping = true
    const running = [...this.downloads]
    for (const d of running) d.abort(new Error('agent stopping'))
    await Promise.all(running.map(async d => { await d.changed() }))
  }

  async open (req: OriginBlobRequest): Promise<BlobHandle> {
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

  private async start (req: OriginBlobRequest, peersFirst: boolean): Promise<BlobHandle> {
    const { store, upstream } = this.components
    const known = store.get(req.digest)
    if (peersFirst) {
      const fromPeers = await this.startFromPeers(req)
      if (fromPeers != null) return fromPeers
    }
    const resumeAt = known == null ? 0 : firstMissingOffset(known)
    // Not the client's signal: the download goes on for the store and other clients if it leaves.
    const controller = new AbortController()
    const res = await requestOriginBlob(upstream, req, resumeAt, controller.signal)
    if (res.status !== 200 && res.status !== 206) {
      return { kind: 'upstream', status: res.status, headers: res.headers, body: await readCapped(res.body, MAX_ERROR_BODY_BYTES) }
    }
    req.onOriginYes?.()
    const size = blobSizeOf(res)
    if (size == null) {
      await res.body.dump()
      throw new UpstreamProtocolError(`${req.registry.host} sent blob ${req.digest} without a length`)
    }
    const partial = await store.openPartial(req.digest, size).catch(async err => {
      await res.body.dump().catch(() => {})
      throw err
    })
    const download = new BlobDownload(partial, { controller })
    if (this.events.onUpstreamBytes != null) download.on('bytes', this.events.onUpstreamBytes)
    this.run(download, originSource(upstream, req, res, this.components.limits?.origin), req)
    return { kind: 'download', download }
  }

  /**
   * The peer path. The origin is asked only a HEAD with the client's credentials (the access
   * check, and the size the peers' table must agree with; a refusal goes back to the client as
   * is), then the pieces come from the providers the DHT names. When none does, the agent claims
   * the blob (below). When the origin cannot be reached, the offline access policy may stand in
   * for its yes, and the size comes from the peers' table (the digest still checks every byte).
   * undefined sends the caller to the origin.
   */
  private async startFromPeers (req: OriginBlobRequest): Promise<BlobHandle | undefined> {
    const { store, upstream, peers } = this.components
    if (peers == null || peers.connectedPeers() === 0) return this.noPeers(req)
    let providers = this.unbanned(await peers.findProviders(req.digest))
    const head = await this.headAtOrigin(req)
    if (head.kind === 'refused') return head.answer
    if (head.kind === 'unreachable' && (providers.length === 0 || req.offlineAccess?.() !== true)) return this.noPeers(req)
    const size = head.kind === 'size' ? head.size : undefined
    if (size === 0) return undefined
    let lead = false
    if (providers.length === 0 && size != null) {
      ({ others: providers, lead } = await this.claim(req.digest, size, peers))
      if (providers.length === 0) return this.noPeers(req)
    }
    const plan = await planFromPeers(peers, req.digest, size, providers)
    // The leader of a claim follows only a peer that is already ahead of it (it holds pieces).
    if (plan == null || (lead && !plan.peers.some(p => p.bitfield.count() > 0))) return this.noPeers(req)
    const partial = await store.openPartial(req.digest, plan.table.size)
    const download = new BlobDownload(partial, { source: 'peer' })
    const source = peerSource({
      plan,
      client: peers.client,
      downloads: this.components.limits?.download,
      originPiece: this.originFallback
        ? async (offset, length, signal) => {
          const bytes = await fetchOriginRange(upstream, req, { offset, length }, this.components.limits?.origin, signal)
          this.events.onUpstreamBytes?.(bytes.byteLength)
          return bytes
        }
        : undefined,
      onPiece: this.events.onPieceFetched,
      onPieceFailed: event => {
        if (event.result === 'bad') this.bans.badPiece(event.peer)
        this.events.onPieceFailed?.(event)
      }
    })
    this.run(download, source, req, source.tableSources)
    return { kind: 'download', download }
  }

  /**
   * Several agents pulling one cold blob at the same moment all miss the DHT. So an agent that
   * finds no provider announces the blob itself (its partial record answers with an empty
   * bitfield), waits for the others to do the same, and looks again. Of everyone announcing it
   * then, the lowest peer id leads: it fetches from the origin (unless one of them already holds
   * pieces), and the others follow it piece by piece.
   */
  private async claim (digest: Digest, size: number, peers: PeerNetwork): Promise<{ others: Array<{ id: PeerId }>, lead: boolean }> {
    await this.components.store.openPartial(digest, size)
    await peers.announce(digest)
    await sleep(this.claimSettleMs)
    const others = this.unbanned(await peers.findProviders(digest))
    const self = peers.self.toString()
    const lead = !others.some(p => p.id.toString() < self)
    log.info('claimed a cold blob', { digest, others: others.length, lead })
    return { others, lead }
  }

  /** The origin's HEAD of the blob for this client: its size, its refusal, or no answer at all. */
  private async headAtOrigin (req: OriginBlobRequest): Promise<{ kind: 'size', size: number | undefined } | { kind: 'refused', answer: UpstreamAnswer } | { kind: 'unreachable' }> {
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
    if (head.status !== 200) return { kind: 'refused', answer: { kind: 'upstream', status: head.status, headers: head.headers, body: Buffer.alloc(0) } }
    req.onOriginYes?.()
    return { kind: 'size', size: blobSizeOf(head) }
  }

  /** No peer can give the blob: the origin, unless fallback to it is off. */
  private noPeers (req: OriginBlobRequest): undefined {
    if (!this.originFallback) throw new NoPeerSourceError(`no peer holds ${req.digest}, and origin fallback is off (--no-origin-fallback)`)
    return undefined
  }

  private unbanned<T extends { id: PeerId }> (providers: T[]): T[] {
    return providers.filter(p => !this.bans.isBanned(p.id.toString()))
  }

  /**
   * Runs a download to its end. One from peers that fails is discarded and fetched again from the
   * origin; when it failed on a wrong piece table, the peers that gave the table are banned.
   */
  private run (download: BlobDownload, source: ByteSource, req: OriginBlobRequest, tableSources?: () => string[]): void {
    const { store } = this.components
    this.downloads.add(download)
    const onFirstPiece = this.events.onFirstPiece
    // Only for announcing: without a listener the first piece costs no extra fdatasync.
    if (onFirstPiece != null) {
      download.once('piece', () => {
        download.partial.commit().then(() => { onFirstPiece(download.digest) }, () => {})
      })
    }
    download.run(source, async hashed => { await store.complete(download.partial, hashed) })
      .finally(async () => {
        this.downloads.delete(download)
        this.inflight.delete(req.digest)
        this.events.onDownloadDone?.(download)
        if (tableSources == null || download.state !== 'failed' || this.stopping) return
        const name = download.error?.name
        if (name === 'DigestMismatchError' || name === 'PieceTableMismatchError') {
          for (const peer of tableSources()) this.bans.ban(peer, 'bad-table')
        }
        await store.discard(download.digest).catch(() => {})
        if (this.originFallback) await this.join(req, false).catch(() => {})
      }).catch(() => {})
  }
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

export type { UpstreamConfig }
