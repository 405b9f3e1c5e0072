import type { AbortOptions, PeerId, Startable } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { cidOfDigest } from '@shoal/proto'
import type { CID, Digest } from '@shoal/proto'
import {
  DISCOVERY_FIND_TIMEOUT_MS, DISCOVERY_LATER_QUIET_MS, DISCOVERY_MAX_PROVIDERS, DISCOVERY_PROVIDE_TIMEOUT_MS,
  DISCOVERY_REPROVIDE_CONCURRENCY, DISCOVERY_REPROVIDE_INTERVAL_MS
} from '../constants.ts'
import { AbortError, ProvideFailedError } from '../errors.ts'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { P2pNode } from '@shoal/p2p'
import { raceSignal } from '../race-signal.ts'

/**
 * What a provide() that rejected means to a caller that bounded its wait with `wait`: 'failed' when
 * the DHT could not take the announcement (the next re-announce round tries again), 'under-way'
 * when only the wait ran out (the announcement goes on), 'ended' when the blob was withdrawn or
 * discovery stopped. Only 'failed' is worth an operator's attention.
 */
export function provideOutcome (err: Error, wait: AbortSignal): 'failed' | 'under-way' | 'ended' {
  if (err.name === 'ProvideFailedError') return 'failed'
  return wait.aborted ? 'under-way' : 'ended'
}

/** A peer that announced a blob, with the addresses it announced (deduplicated; may be empty). */
export interface Provider {
  id: PeerId
  multiaddrs: Multiaddr[]
}

export interface ProvideEvent {
  digest: Digest
  seconds: number
  ok: boolean
  /** True for an announcement of the periodic round, false for the first one. */
  reprovide: boolean
}

export interface LookupEvent {
  digest: Digest
  seconds: number
  /** Providers returned (0 when the lookup failed or timed out empty). */
  found: number
}

export interface ReprovideRoundEvent {
  /** Blobs announced in this round. */
  digests: number
  failed: number
  seconds: number
}

/** Hooks for metrics; each is called synchronously and must not throw. */
export interface DiscoveryEvents {
  onProvide?: (event: ProvideEvent) => void
  onLookup?: (event: LookupEvent) => void
  onReprovideRound?: (event: ReprovideRoundEvent) => void
}

export interface DiscoveryComponents {
  node: P2pNode
  logger?: Logger
}

export interface DiscoveryInit {
  /** How often every provided blob is announced again. */
  reprovideIntervalMs?: number
  /** How long a lookup may take; it then returns the providers found so far. */
  findTimeoutMs?: number
  /** Providers a lookup returns at most. */
  maxProviders?: number
  /** How long one announcement may take. */
  provideTimeoutMs?: number
  /** Announcements of one re-provide round under way at once. */
  reprovideConcurrency?: number
  /** How long no blob may have come to `provideLater` before those blobs are announced. */
  laterQuietMs?: number
  events?: DiscoveryEvents
}

interface Announcement {
  promise: Promise<void>
  controller: AbortController
}

interface Entry {
  cid: CID
  /** An announcement of this entry has succeeded. */
  announced: boolean
  inFlight?: Announcement
}

/**
 * Announces the blobs this agent holds in the Kad-DHT and finds the peers that announced a blob.
 * See index.ts for the lifecycle of a record.
 */
export class Discovery implements Startable {
  readonly #node: P2pNode
  readonly #log: Logger
  readonly #reprovideIntervalMs: number
  readonly #findTimeoutMs: number
  readonly #maxProviders: number
  readonly #provideTimeoutMs: number
  readonly #reprovideConcurrency: number
  readonly #laterQuietMs: number
  readonly #events: DiscoveryEvents
  /** Every blob announced and re-announced, until withdrawn. */
  readonly #provided = new Map<Digest, Entry>()
  #shutdown?: AbortController
  #timer?: ReturnType<typeof setTimeout>
  #round?: Promise<void>
  /** `provideLater`'s quiet time, and the announcements it began. */
  #laterTimer?: ReturnType<typeof setTimeout>
  #later?: Promise<void>

  constructor (components: DiscoveryComponents, init: DiscoveryInit = {}) {
    this.#node = components.node
    this.#log = components.logger ?? silentLogger
    this.#reprovideIntervalMs = init.reprovideIntervalMs ?? DISCOVERY_REPROVIDE_INTERVAL_MS
    this.#findTimeoutMs = init.findTimeoutMs ?? DISCOVERY_FIND_TIMEOUT_MS
    this.#maxProviders = init.maxProviders ?? DISCOVERY_MAX_PROVIDERS
    this.#provideTimeoutMs = init.provideTimeoutMs ?? DISCOVERY_PROVIDE_TIMEOUT_MS
    this.#reprovideConcurrency = init.reprovideConcurrency ?? DISCOVERY_REPROVIDE_CONCURRENCY
    this.#laterQuietMs = init.laterQuietMs ?? DISCOVERY_LATER_QUIET_MS
    this.#events = init.events ?? {}
  }

  start (): void {
    if (this.#shutdown != null) return
    this.#shutdown = new AbortController()
    this.#schedule()
  }

  /** Clears the re-provide timer, aborts announcements and lookups under way and waits for them. */
  async stop (): Promise<void> {
    const shutdown = this.#shutdown
    if (shutdown == null) return
    this.#shutdown = undefined
    clearTimeout(this.#timer)
    this.#timer = undefined
    clearTimeout(this.#laterTimer)
    this.#laterTimer = undefined
    shutdown.abort()
    await this.#round
    await this.#later
    await Promise.allSettled([...this.#provided.values()].map(async entry => await entry.inFlight?.promise))
  }

  /**
   * Blobs held from before (after a restart): added to the re-provide set and announced now, in the
   * background, a few at once (the next round, brought forward). Blobs already in the set are left.
   */
  adopt (digests: Digest[]): void {
    for (const digest of digests) {
      if (!this.#provided.has(digest)) this.#provided.set(digest, { cid: cidOfDigest(digest), announced: false })
    }
    const shutdown = this.#shutdown
    if (shutdown == null || this.#round != null) return
    clearTimeout(this.#timer)
    this.#timer = undefined
    this.#round = this.#reprovideAll(shutdown.signal).finally(() => {
      this.#round = undefined
      this.#schedule()
    })
  }

  /** The blobs currently announced and re-announced. */
  provided (): Digest[] {
    return [...this.#provided.keys()]
  }

  /**
   * Announces the blob at once and keeps it in the re-provide set. Calls for a blob whose
   * announcement is under way join it; a blob already announced is not announced again before its
   * round. Throws ProvideFailedError when the announcement fails (the blob stays in the set and the
   * next round tries again), AbortError when `signal` aborts the wait (not the announcement), the
   * blob is withdrawn meanwhile or discovery stops.
   */
  async provide (digest: Digest, options: AbortOptions = {}): Promise<void> {
    options.signal?.throwIfAborted()
    const shutdown = this.#running()
    let entry = this.#provided.get(digest)
    if (entry == null) {
      entry = { cid: cidOfDigest(digest), announced: false }
      this.#provided.set(digest, entry)
    }
    if (entry.announced && entry.inFlight == null) return
    await raceSignal(this.#announce(digest, entry, shutdown.signal, false), options.signal)
  }

  /**
   * Adds the blob to the re-provide set without announcing it now: it is announced once no blob came
   * here for `laterQuietMs`, or in the next re-provide round if that is sooner, or at once by a
   * `provide`. For blobs whose holders the scheduler tells: the DHT is then the fallback for when it
   * is away, and announcing in the middle of a rollout costs every agent of the site CPU when it has
   * least. A blob already in the set is left as it is, and one announced or being announced is no
   * news: it does not start the quiet time again (the agent hands on every verified blob, also those
   * its first piece announced, and each such call used to hold the waiting ones back).
   */
  provideLater (digest: Digest): void {
    const shutdown = this.#shutdown
    if (shutdown == null) return // stopped: nothing is announced any more
    const entry = this.#provided.get(digest)
    if (entry == null) this.#provided.set(digest, { cid: cidOfDigest(digest), announced: false })
    else if (entry.announced || entry.inFlight != null) return
    clearTimeout(this.#laterTimer)
    this.#laterTimer = setTimeout(() => { this.announcePending() }, this.#laterQuietMs)
  }

  /**
   * Announces now, in the background, the blobs `provideLater` holds back (and any whose
   * announcement failed): for when a scheduler goes away and the DHT is what peers have left.
   */
  announcePending (): void {
    const shutdown = this.#shutdown
    clearTimeout(this.#laterTimer)
    this.#laterTimer = undefined
    if (shutdown == null) return
    const run: Promise<void> = (this.#later ?? Promise.resolve()).then(async () => {
      const pending = [...this.#provided.entries()].filter(([, entry]) => !entry.announced && entry.inFlight == null)
      await this.#announceEach(pending, shutdown.signal, false)
    }).finally(() => { if (this.#later === run) this.#later = undefined })
    this.#later = run
  }

  /**
   * Stops announcing the blob (on eviction): aborts an announcement under way and drops our own
   * provider record, so kad-dht neither lists us nor re-announces it. Copies of the record on
   * other peers expire on their own (see index.ts).
   */
  async withdraw (digest: Digest, options: AbortOptions = {}): Promise<void> {
    const entry = this.#provided.get(digest)
    this.#provided.delete(digest)
    if (entry?.inFlight != null) {
      entry.inFlight.controller.abort()
      // Aborted just above: its end is awaited so the record is not re-added after the cancel; its
      // failure (the abort itself) is expected and says nothing.
      await entry.inFlight.promise.catch(() => {})
    }
    await this.#node.contentRouting.cancelReprovide(entry?.cid ?? cidOfDigest(digest), options)
  }

  /**
   * The peers, other than this one, that announced the blob: at most `maxProviders`, whatever was
   * found when the lookup timeout passes. A DHT that cannot answer (no peers yet) gives an empty
   * list and a log line, not an error: the origin is the fallback. Throws AbortError only when the
   * caller's `signal` aborts.
   */
  async findProviders (digest: Digest, options: AbortOptions = {}): Promise<Provider[]> {
    options.signal?.throwIfAborted()
    const shutdown = this.#running()
    const started = performance.now()
    const enough = new AbortController()
    const timeout = AbortSignal.timeout(this.#findTimeoutMs)
    const signal = AbortSignal.any([enough.signal, shutdown.signal, timeout, ...(options.signal != null ? [options.signal] : [])])
    const found = new Map<string, { id: PeerId, multiaddrs: Map<string, Multiaddr> }>()
    try {
      for await (const provider of this.#node.contentRouting.findProviders(cidOfDigest(digest), { signal })) {
        if (provider.id.equals(this.#node.peerId)) continue
        const key = provider.id.toString()
        let peer = found.get(key)
        if (peer == null) {
          if (found.size >= this.#maxProviders) continue
          peer = { id: provider.id, multiaddrs: new Map() }
          found.set(key, peer)
        }
        for (const addr of provider.multiaddrs) peer.multiaddrs.set(addr.toString(), addr)
        if (found.size >= this.#maxProviders) break
      }
    } catch (err) {
      if (options.signal?.aborted === true) {
        this.#emit('onLookup', { digest, seconds: secondsSince(started), found: 0 })
        throw new AbortError('provider lookup aborted', { cause: err })
      }
      if (timeout.aborted) {
        this.#log.info('provider lookup timed out', { digest, timeoutMs: this.#findTimeoutMs, found: found.size })
      } else if (!shutdown.signal.aborted && !enough.signal.aborted) {
        this.#log.warn('provider lookup failed; going on without peers', { digest, error: describe(err) })
      }
    } finally {
      enough.abort()
    }
    const providers = [...found.values()].map(peer => ({ id: peer.id, multiaddrs: [...peer.multiaddrs.values()] }))
    this.#emit('onLookup', { digest, seconds: secondsSince(started), found: providers.length })
    return providers
  }

  #running (): AbortController {
    if (this.#shutdown == null) throw new AbortError('discovery is not running')
    return this.#shutdown
  }

  /** One DHT provide of the entry, joined by every caller while it is under way. */
  async #announce (digest: Digest, entry: Entry, shutdown: AbortSignal, reprovide: boolean): Promise<void> {
    if (entry.inFlight != null) return await entry.inFlight.promise
    const controller = new AbortController()
    const signal = AbortSignal.any([controller.signal, shutdown, AbortSignal.timeout(this.#provideTimeoutMs)])
    const started = performance.now()
    const announcement: Announcement = { controller, promise: Promise.resolve() }
    announcement.promise = (async () => {
      try {
        await this.#node.contentRouting.provide(entry.cid, { signal })
      } catch (err) {
        this.#emit('onProvide', { digest, seconds: secondsSince(started), ok: false, reprovide })
        if (controller.signal.aborted || shutdown.aborted) {
          throw new AbortError(`announcement of ${digest} aborted (withdrawn or stopped)`, { cause: err })
        }
        throw new ProvideFailedError(`could not announce ${digest} in the DHT: ${describe(err)}`, { cause: err })
      } finally {
        if (entry.inFlight === announcement) entry.inFlight = undefined
      }
      entry.announced = true
      this.#emit('onProvide', { digest, seconds: secondsSince(started), ok: true, reprovide })
    })()
    entry.inFlight = announcement
    await announcement.promise
  }

  #schedule (): void {
    const shutdown = this.#shutdown
    if (shutdown == null) return
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.#round = this.#reprovideAll(shutdown.signal).finally(() => {
        this.#round = undefined
        this.#schedule()
      })
    }, this.#reprovideIntervalMs)
  }

  /** Announces every provided blob again, a few at once. Failures are logged; the next round retries. */
  async #reprovideAll (shutdown: AbortSignal): Promise<void> {
    const started = performance.now()
    const entries = [...this.#provided.entries()]
    const failed = await this.#announceEach(entries, shutdown, true)
    if (!shutdown.aborted) this.#emit('onReprovideRound', { digests: entries.length, failed, seconds: secondsSince(started) })
  }

  /** Announces the entries, `reprovideConcurrency` at once; failures are logged and counted (the next round retries). */
  async #announceEach (entries: Array<[Digest, Entry]>, shutdown: AbortSignal, reprovide: boolean): Promise<number> {
    const queue = [...entries]
    let failed = 0
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next != null && !shutdown.aborted; next = queue.shift()) {
        const [digest, entry] = next
        if (this.#provided.get(digest) !== entry) continue // withdrawn meanwhile
        try {
          await this.#announce(digest, entry, shutdown, reprovide)
        } catch (err) {
          if (shutdown.aborted || (err as Error).name === 'AbortError') continue
          failed++
          this.#log.warn('announcement failed; trying again next round', { digest, reprovide, error: describe(err) })
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(this.#reprovideConcurrency, queue.length) }, worker))
    return failed
  }

  #emit<K extends keyof DiscoveryEvents>(name: K, event: Parameters<NonNullable<DiscoveryEvents[K]>>[0]): void {
    try {
      (this.#events[name] as ((event: unknown) => void) | undefined)?.(event)
    } catch (err) {
      this.#log.error('discovery event hook threw', { hook: name, error: describe(err) })
    }
  }
}

function secondsSince (started: number): number {
  return (performance.now() - started) / 1000
}

function describe (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err)
}
