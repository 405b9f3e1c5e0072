import { MAX_PREFETCH_BLOBS, MAX_PREFETCH_IMAGES, prefetchShareKey } from '@shoal/proto'
import type { JobId, ParsedPrefetchBlob, PieceStripe } from '@shoal/proto'
import { silentLogger } from '../logger.ts'
import type { Logger } from '../logger.ts'
import type { PrefetchBlobReport, PrefetchCancelMessage, PrefetchOrderMessage, SchedulerSession } from '../scheduler-client/session.ts'
import type { MirrorTarget } from './index.ts'
import { fetchLayers, hostPlatform, parsePlatform, resolveImages } from './index.ts'
import { failureOf } from './failure.ts'
import { mapLimit } from './limit.ts'
import type { LayerOutcome, PrefetchFailure, PrefetchLayer } from './types.ts'

/** Where orders come from: the scheduler client's events. */
export interface PrefetchOrderSource {
  on: ((event: 'prefetch', listener: (message: PrefetchOrderMessage, session: SchedulerSession) => void) => unknown) &
  ((event: 'prefetchCancel', listener: (message: PrefetchCancelMessage, session: SchedulerSession) => void) => unknown)
}

export interface PrefetchOrdersInit {
  /** This agent's own mirror, once it listens: prefetch is a pull through it like any other. */
  mirror: () => Promise<MirrorTarget>
  /**
   * Holds one stripe of a blob's pieces (a site job placed by pieces), read from the origin and
   * stored like a partial download's; resolves to the stripe's bytes. Without it such blobs fail.
   */
  fetchStripe?: (blob: ParsedPrefetchBlob & { stripe: PieceStripe }, options: StripeOptions) => Promise<number>
  /** How often a job's byte counts are reported, at most. */
  progressIntervalMs?: number
  logger?: Logger
}

export interface StripeOptions {
  /** the job's own Authorization for the origin; none: the agent's own credentials */
  authorization?: string
  signal: AbortSignal
  /** bytes of the stripe held so far (a running total) */
  onBytes: (bytes: number) => void
}

interface JobWork {
  controller: AbortController
  /** the job's own Authorization for the origin, in memory for the job's life only */
  authorization?: string
  /** the session of the scheduler that ordered last: the answers go there */
  session: SchedulerSession
  blobs: Map<string, PrefetchBlobReport>
  unsent: Set<string>
}

/**
 * Runs the scheduler's prefetch orders on this agent: resolves images through its own mirror
 * (with its credentials), or pulls the ordered blobs through it (so they are verified, stored and
 * announced like any pull), or, for a blob placed by pieces, holds the stripe of its pieces it was
 * given (fetchStripe), and reports each blob's state and bytes back. An order for a blob that
 * is already running or done is answered with its state: orders are repeated after reconnects.
 */
export class PrefetchOrders {
  readonly #init: PrefetchOrdersInit
  readonly #log: Logger
  readonly #jobs = new Map<JobId, JobWork>()
  #timer?: ReturnType<typeof setInterval>

  constructor (source: PrefetchOrderSource, init: PrefetchOrdersInit) {
    this.#init = init
    this.#log = init.logger ?? silentLogger
    source.on('prefetch', (message, session) => { this.#order(message, session) })
    source.on('prefetchCancel', message => { this.#cancel(message.job) })
  }

  start (): void {
    this.#timer ??= setInterval(() => { this.#report() }, this.#init.progressIntervalMs ?? 500)
  }

  stop (): void {
    clearInterval(this.#timer)
    this.#timer = undefined
    for (const job of this.#jobs.keys()) this.#cancel(job)
  }

  #order (message: PrefetchOrderMessage, session: SchedulerSession): void {
    let work = this.#jobs.get(message.job)
    if (work == null) {
      work = { controller: new AbortController(), session, blobs: new Map(), unsent: new Set() }
      this.#jobs.set(message.job, work)
    }
    work.session = session
    work.authorization = message.authorization
    const signal = message.timeoutMs == null ? work.controller.signal : AbortSignal.any([work.controller.signal, AbortSignal.timeout(message.timeoutMs)])
    if (message.images.length > 0) {
      void this.#resolve(message, work, signal)
      return
    }
    const fresh: ParsedPrefetchBlob[] = []
    for (const blob of message.blobs) {
      const key = shareKey(blob)
      if (work.blobs.has(key)) {
        work.unsent.add(key) // asked again: say where it stands
        continue
      }
      work.blobs.set(key, { digest: blob.digest, state: 'fetching', bytes: 0, stripe: blob.stripe })
      fresh.push(blob)
    }
    if (fresh.length > 0) void this.#fetch(message.job, work, fresh, message.concurrency, signal)
  }

  async #resolve (message: PrefetchOrderMessage, work: JobWork, signal: AbortSignal): Promise<void> {
    try {
      const platforms = message.platforms.length > 0 ? message.platforms.map(parsePlatform) : [hostPlatform()]
      const resolved = await resolveImages(await this.#mirror(work), message.images, { platforms, signal })
      // One answer holds at most MAX_PREFETCH_IMAGES (the scheduler refuses a longer one): a tag
      // filter that matched more is cut, and the cut is said.
      const images = resolved.length <= MAX_PREFETCH_IMAGES
        ? resolved
        : [...resolved.slice(0, MAX_PREFETCH_IMAGES - 1), { reference: resolved[MAX_PREFETCH_IMAGES - 1]?.reference ?? '', layers: [], error: { reason: 'invalid' as const, message: `the images matched ${resolved.length} tags; a job takes ${MAX_PREFETCH_IMAGES - 1} at most: narrow the tag filter` } }]
      work.session.prefetchResolved(message.job, images.map(image => ({
        reference: image.reference,
        manifestDigest: image.manifestDigest,
        blobs: image.layers.map(layer => ({ registry: layer.registry, repository: layer.repository, digest: layer.digest, size: layer.size, mediaType: layer.mediaType })),
        failure: image.error
      })))
      this.#log.info('prefetch images resolved', { job: message.job, images: images.length, failed: images.filter(i => i.error != null).length })
    } catch (err) {
      // resolveImages answers per image; a throw here is this agent's own trouble (its mirror).
      work.session.prefetchResolved(message.job, message.images.map(image => ({ reference: image.reference, blobs: [], failure: { reason: 'failed', message: `the agent could not resolve it: ${(err as Error).message}` } })))
    } finally {
      if (work.blobs.size === 0) this.#jobs.delete(message.job)
    }
  }

  async #fetch (job: JobId, work: JobWork, blobs: ParsedPrefetchBlob[], concurrency: number, signal: AbortSignal): Promise<void> {
    const whole = blobs.filter(b => b.stripe == null)
    const striped = blobs.filter((b): b is ParsedPrefetchBlob & { stripe: PieceStripe } => b.stripe != null)
    // One kind after the other, so that `concurrency` bounds both: whole blobs first (in a job placed
    // by pieces they are the configs, which a rollout's clients read first), then the stripes.
    const outcomes = [...await this.#fetchWhole(work, whole, concurrency, signal), ...await this.#fetchStripes(work, striped, concurrency, signal)]
    this.#log.info('prefetch blobs fetched', { job, blobs: outcomes.length, striped: striped.length, failed: outcomes.filter(o => o.error != null).length })
    this.#report()
  }

  /** A change to what is reported of one share (shareKey) of a blob. */
  #update (work: JobWork, key: string, change: Partial<PrefetchBlobReport>): void {
    const report = work.blobs.get(key)
    if (report == null) return
    Object.assign(report, change)
    work.unsent.add(key)
  }

  #done (work: JobWork, outcome: LayerOutcome, key: string = outcome.digest): void {
    this.#update(work, key, outcome.error == null ? { state: 'done', bytes: outcome.bytes } : { state: 'failed', bytes: outcome.bytes, failure: outcome.error })
  }

  /** Stripes of blobs placed by pieces, `concurrency` at once. */
  async #fetchStripes (work: JobWork, blobs: Array<ParsedPrefetchBlob & { stripe: PieceStripe }>, concurrency: number, signal: AbortSignal): Promise<LayerOutcome[]> {
    return mapLimit(blobs, concurrency, async blob => {
      let bytes = 0
      const what = `stripe ${blob.stripe.index} of ${blob.stripe.count} of blob ${blob.digest}`
      let outcome: LayerOutcome
      try {
        if (this.#init.fetchStripe == null) throw new Error('this agent cannot hold a stripe of a blob')
        bytes = await this.#init.fetchStripe(blob, { authorization: work.authorization, signal, onBytes: b => { bytes = b; this.#update(work, shareKey(blob), { bytes: b }) } })
        outcome = { digest: blob.digest, bytes }
      } catch (err) {
        outcome = { digest: blob.digest, bytes, error: stripeFailure(err, signal, what) }
      }
      this.#done(work, outcome, shareKey(blob))
      return outcome
    })
  }

  /** Whole blobs, pulled through this agent's own mirror. */
  async #fetchWhole (work: JobWork, blobs: ParsedPrefetchBlob[], concurrency: number, signal: AbortSignal): Promise<LayerOutcome[]> {
    if (blobs.length === 0) return []
    const layers: PrefetchLayer[] = blobs.map(b => ({ registry: b.registry, repository: b.repository, digest: b.digest, size: b.size, mediaType: b.mediaType }))
    const done = (outcome: LayerOutcome): void => { this.#done(work, outcome) }
    try {
      return await fetchLayers(await this.#mirror(work), layers, {
        concurrency,
        signal,
        onStart: digest => { this.#update(work, digest, { state: 'fetching', bytes: 0 }) },
        onBytes: (digest, bytes) => { this.#update(work, digest, { bytes }) },
        onDone: done
      })
    } catch (err) {
      // fetchLayers ends every layer through onDone; a throw (its options refused) ended none.
      const outcomes = layers.map(layer => ({ digest: layer.digest, bytes: 0, error: { reason: 'failed' as const, message: `the agent could not fetch it: ${(err as Error).message}` } }))
      outcomes.forEach(done)
      return outcomes
    }
  }

  /** This agent's mirror, with the job's own Authorization when it has one. */
  async #mirror (work: JobWork): Promise<MirrorTarget> {
    const mirror = await this.#init.mirror()
    return work.authorization == null ? mirror : { ...mirror, authorization: work.authorization }
  }

  #cancel (job: JobId): void {
    const work = this.#jobs.get(job)
    if (work == null) return
    work.controller.abort()
    this.#jobs.delete(job)
  }

  /** Sends what changed of each job; a job whose blobs are all told as ended is forgotten. */
  #report (): void {
    for (const [job, work] of this.#jobs) {
      if (work.unsent.size > 0) {
        const blobs = [...work.unsent].flatMap(key => { const r = work.blobs.get(key); return r == null ? [] : [{ ...r }] })
        work.unsent.clear()
        // One report holds at most MAX_PREFETCH_BLOBS (the scheduler refuses a longer one).
        for (let i = 0; i < blobs.length && !work.session.closed; i += MAX_PREFETCH_BLOBS) work.session.prefetchProgress(job, blobs.slice(i, i + MAX_PREFETCH_BLOBS))
      }
      if (work.blobs.size > 0 && [...work.blobs.values()].every(r => r.state !== 'fetching')) this.#jobs.delete(job)
    }
  }
}

/** What an order's blob is known by on this agent (prefetchShareKey). */
function shareKey (blob: Pick<ParsedPrefetchBlob, 'digest' | 'stripe'>): string {
  return prefetchShareKey(blob.digest, blob.stripe)
}

/** What a stripe's error stands for: the origin's refusal or absence, else as a pull's (failureOf). */
function stripeFailure (err: unknown, signal: AbortSignal, what: string): PrefetchFailure {
  const name = (err as Error)?.name
  if (!signal.aborted && name === 'UpstreamUnauthorizedError') return { reason: 'unauthorized', message: `${what}: ${(err as Error).message}` }
  if (!signal.aborted && (name === 'UpstreamUnavailableError' || name === 'NoPeerSourceError')) return { reason: 'unavailable', message: `${what}: ${(err as Error).message}` }
  return failureOf(err, signal, what)
}
