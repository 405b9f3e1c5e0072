import { randomBytes } from 'node:crypto'
import { MAX_PREFETCH_BLOBS, prefetchBlob, prefetchShareKey } from '@shoal/proto'
import type { ParsedAgentMessage, ParsedPrefetchBlob, ParsedPrefetchFailure, PieceStripe } from '@shoal/proto'
import { PREFETCH_RESTART_AGENT_WAIT_MS, PREFETCH_SCOPE_GRACE_MS, PREFETCH_SCOPE_WAIT_TIMEOUT_SHARE } from '../constants.ts'
import { UnknownJobError } from '../errors.ts'
import type { AgentObserver, SchedulerService } from '../service.ts'
import type { PeerKey } from '../types.ts'
import { isTerminalTarget, jobView, targetSize, TERMINAL_JOB_STATES } from './job.ts'
import type { JobRecord, LayerRecord, TargetRecord } from './job.ts'
import { scopeText } from './job-request.ts'
import type { ParsedJobRequest } from './job-request.ts'
import type { JobStore } from './job-store.ts'
import { placeBlobs, placePieces } from './placement.ts'
import type { PieceShare } from './placement.ts'
import type { FailureView, JobView } from './types.ts'

export interface PrefetchJobsInit {
  now?: () => number
  /** after the start, how long jobs wait for agents to register again (PREFETCH_RESTART_AGENT_WAIT_MS) */
  agentWaitMs?: number
  /** how long a new job waits for an agent of its scope to connect (PREFETCH_SCOPE_GRACE_MS) */
  scopeGraceMs?: number
  /** how often deadlines, dispatch and saves are looked at */
  tickMs?: number
  log?: (message: string, fields?: Record<string, unknown>) => void
}

/** Reasons worth another agent of the site: the first one's trouble may be its own. */
const RETRY_ELSEWHERE = new Set(['unavailable', 'failed', 'timeout'])
const MAX_TRIES_PER_COPY = 3

type PrefetchMessage = ParsedAgentMessage & { kind: 'prefetchResolved' | 'prefetchProgress' }

/**
 * The scheduler's prefetch jobs: each is resolved to blobs by one agent of its scope (the agents
 * hold the registry credentials), its blobs are placed (site: by pieces, each agent a stripe of every
 * blob's pieces, `replicas` holders per piece; or whole blobs, `replicas` copies spread by bytes;
 * all: every agent; agent: that one), ordered from the agents and followed until every copy is done
 * or failed, the deadline passes, or it is cancelled. Orders are idempotent, so after a restart of
 * the scheduler (jobs are stored) or of an agent, what is unfinished is simply ordered again.
 */
export class PrefetchJobs implements AgentObserver {
  readonly #service: SchedulerService
  readonly #store: JobStore
  readonly #now: () => number
  readonly #agentWaitMs: number
  readonly #scopeGraceMs: number
  readonly #tickMs: number
  readonly #log: NonNullable<PrefetchJobsInit['log']>
  readonly #jobs = new Map<string, JobRecord>()
  /** per job: who resolves it now */
  readonly #resolvers = new Map<string, PeerKey>()
  /** per job and agent: the blobs ordered from it in its current session */
  readonly #ordered = new Map<string, Map<PeerKey, Set<string>>>()
  readonly #dirty = new Set<string>()
  /** per job: its layers by digest (progress reports name blobs by digest; a job may have thousands) */
  readonly #layers = new Map<string, Map<string, LayerRecord>>()
  /** per job: its own Authorization for the origin (a Harbor pull token); memory only, dropped when it ends */
  readonly #credentials = new Map<string, string>()
  #startedAt = 0
  #timer?: ReturnType<typeof setInterval>

  constructor (components: { service: SchedulerService, store: JobStore }, init: PrefetchJobsInit = {}) {
    this.#service = components.service
    this.#store = components.store
    this.#now = init.now ?? Date.now
    this.#agentWaitMs = init.agentWaitMs ?? PREFETCH_RESTART_AGENT_WAIT_MS
    this.#scopeGraceMs = init.scopeGraceMs ?? PREFETCH_SCOPE_GRACE_MS
    this.#tickMs = init.tickMs ?? 500
    this.#log = init.log ?? (() => {})
  }

  /** Loads the stored jobs (unfinished ones resume) and starts following agents. */
  async start (): Promise<void> {
    await this.#store.open()
    this.#startedAt = this.#now()
    for (const job of await this.#store.all()) {
      this.#jobs.set(job.id, job)
      // Its credential lived in the memory of the scheduler that stopped: the agents' own would be
      // another identity, so the job ends rather than go on with other rights.
      if (job.ownCredentials === true && !TERMINAL_JOB_STATES.has(job.state)) {
        job.error = { reason: 'unauthorized', message: 'the job\'s own credentials (the Authorization it was created with) are kept in memory only and were lost when the scheduler restarted; create the job again' }
        this.#failUnfinished(job, job.error)
        this.#finish(job, 'failed')
      }
    }
    this.#service.observeAgents(this)
    this.#timer = setInterval(() => { this.tick() }, this.#tickMs)
  }

  async stop (): Promise<void> {
    clearInterval(this.#timer)
    await this.#save()
    await this.#store.close()
  }

  /**
   * A new job. `authorization` is the job's own credential for the origin (a Harbor preheat's pull
   * token): sent to the agents that resolve and fetch this job's blobs, kept in memory until the job
   * ends; the stored record only says that there was one.
   */
  async create (request: ParsedJobRequest, opts: { authorization?: string } = {}): Promise<JobView> {
    const now = this.#now()
    const job: JobRecord = { id: randomBytes(6).toString('hex'), request, state: 'resolving', createdAt: now, deadline: now + request.timeoutMs, images: [], layers: [] }
    if (opts.authorization != null) {
      job.ownCredentials = true
      this.#credentials.set(job.id, opts.authorization)
    }
    this.#jobs.set(job.id, job)
    await this.#store.put(job)
    this.#log('prefetch job created', { job: job.id, images: request.images.length, scope: request.scope })
    this.#advance(job)
    return this.view(job.id)
  }

  view (id: string): JobView {
    const job = this.#jobs.get(id)
    if (job == null) throw new UnknownJobError(`no prefetch job ${id.slice(0, 80)}`)
    return jobView(job, agent => this.#service.registrationOf(agent)?.hostName)
  }

  /** Jobs resolving or running. */
  activeCount (): number {
    let active = 0
    for (const job of this.#jobs.values()) if (!TERMINAL_JOB_STATES.has(job.state)) active++
    return active
  }

  /** The state of every job, for metrics. */
  * states (): Iterable<JobView['state']> {
    for (const job of this.#jobs.values()) yield job.state
  }

  list (): JobView[] {
    return [...this.#jobs.keys()].map(id => this.view(id))
  }

  /** Stops a job: agents are told to drop its work; unfinished copies fail as cancelled. */
  async cancel (id: string): Promise<JobView> {
    const job = this.#jobs.get(id)
    if (job == null) throw new UnknownJobError(`no prefetch job ${id.slice(0, 80)}`)
    if (!TERMINAL_JOB_STATES.has(job.state)) {
      for (const agent of this.#involved(job)) this.#service.send(agent, { prefetchCancel: { job: job.id } })
      this.#failUnfinished(job, { reason: 'cancelled', message: 'the job was cancelled' })
      this.#finish(job, 'cancelled')
      await this.#store.put(job)
    }
    return this.view(id)
  }

  /** Deadlines, resolution, orders and completion of every unfinished job; saves what changed. */
  tick (): void {
    for (const job of this.#jobs.values()) if (!TERMINAL_JOB_STATES.has(job.state)) this.#advance(job)
    void this.#save()
  }

  connected (peer: PeerKey): void {
    // A new session: whatever was ordered from this agent before is ordered again (idempotent).
    for (const ordered of this.#ordered.values()) ordered.delete(peer)
    for (const job of this.#jobs.values()) if (!TERMINAL_JOB_STATES.has(job.state)) this.#advance(job)
  }

  disconnected (peer: PeerKey): void {
    for (const ordered of this.#ordered.values()) ordered.delete(peer)
    for (const job of this.#jobs.values()) {
      if (TERMINAL_JOB_STATES.has(job.state)) continue
      if (this.#resolvers.get(job.id) === peer) this.#resolvers.delete(job.id)
      if (job.request.scope.kind !== 'site') continue
      // A site's copy does not wait for an agent that left: another agent of the site takes it.
      for (const layer of job.layers) for (const target of layer.targets) if (target.agent === peer && !isTerminalTarget(target)) this.#moveElsewhere(job, layer, target)
      this.#dirty.add(job.id)
    }
  }

  prefetch (peer: PeerKey, message: PrefetchMessage): void {
    const job = this.#jobs.get(message.job)
    if (job == null || TERMINAL_JOB_STATES.has(job.state)) return
    if (message.kind === 'prefetchResolved') {
      if (job.state !== 'resolving' || this.#resolvers.get(job.id) !== peer) return
      this.#resolved(job, message.images)
    } else {
      for (const blob of message.blobs) {
        const layer = this.#layerOf(job, blob.digest)
        const target = layer == null ? undefined : targetOf(layer, peer, blob.stripe)
        if (layer == null || target == null) continue
        const size = targetSize(layer, target)
        target.state = blob.state
        target.bytes = Math.min(blob.bytes, size)
        if (blob.state === 'done') target.bytes = size
        if (blob.failure != null) this.#failed(job, layer, target, blob.failure)
      }
    }
    this.#dirty.add(job.id)
    this.#advance(job)
  }

  #advance (job: JobRecord): void {
    const now = this.#now()
    if (now >= job.deadline) {
      for (const agent of this.#involved(job)) this.#service.send(agent, { prefetchCancel: { job: job.id } })
      if (job.state === 'resolving') {
        job.error = this.#resolvers.has(job.id) || this.#scopeAgents(job).length > 0
          ? { reason: 'timeout', message: 'the images were not resolved before the job\'s deadline' }
          : this.#noAgentError(job)
      }
      this.#failUnfinished(job, { reason: 'timeout', message: 'not done before the job\'s deadline' })
      this.#finish(job, 'failed')
      return
    }
    if (job.state === 'resolving') this.#resolve(job, now)
    else this.#order(job)
    this.#complete(job)
  }

  #resolve (job: JobRecord, now: number): void {
    if (this.#resolvers.has(job.id)) return
    const agent = this.#scopeAgents(job)[0]
    if (agent == null) {
      if (now >= this.#agentWaitEnd(job)) {
        job.error = this.#noAgentError(job)
        this.#finish(job, 'failed')
      }
      return
    }
    this.#resolvers.set(job.id, agent)
    this.#service.send(agent, { prefetch: { job: job.id, images: job.request.images.map(i => ({ reference: i.reference, tags: i.tags ?? '' })), platforms: job.request.platforms, blobs: [], concurrency: job.request.concurrency, timeoutMs: Math.max(1, job.deadline - now), authorization: this.#credentials.get(job.id) ?? '' } })
  }

  #resolved (job: JobRecord, images: Array<{ reference: string, manifestDigest?: string, blobs: ParsedPrefetchBlob[], failure?: ParsedPrefetchFailure }>): void {
    this.#resolvers.delete(job.id)
    const blobs = new Map<string, ParsedPrefetchBlob>()
    for (const image of images) for (const blob of image.blobs) if (!blobs.has(blob.digest)) blobs.set(blob.digest, blob)
    job.images = images.map(image => ({ reference: image.reference, manifestDigest: image.manifestDigest, layers: image.blobs.length, error: image.failure }))
    const agents = this.#scopeAgents(job)
    const placed = this.#place(job, [...blobs.values()], agents)
    job.layers = [...blobs.values()].map(blob => ({
      digest: blob.digest,
      size: blob.size,
      registry: blob.registry,
      repository: blob.repository,
      mediaType: blob.mediaType,
      targets: (placed.get(blob.digest) ?? []).map(({ agent, stripe }) => ({ agent, stripe, state: 'pending' as const, bytes: 0, tried: [] }))
    }))
    job.state = 'running'
    this.#log('prefetch job resolved', { job: job.id, images: images.length, blobs: blobs.size, agents: agents.length })
    if (job.layers.length === 0) {
      job.error = images.length === 0 ? { reason: 'not-found', message: 'no image was named' } : undefined
      this.#finish(job, images.some(i => i.failure != null) || images.length === 0 ? 'failed' : 'done')
    }
  }

  /**
   * Who holds what of each blob: by pieces or whole blobs in a site, whole blobs on every agent of
   * the other scopes. Placed by pieces, a blob that agents of the site hold whole already (pulled
   * before the job) stays whole with them, topped up to `replicas` whole copies: cut into stripes,
   * its pieces would be read from the origin again.
   */
  #place (job: JobRecord, blobs: ParsedPrefetchBlob[], agents: PeerKey[]): Map<string, PieceShare[]> {
    const { scope, replicas, spread } = job.request
    if (scope.kind === 'site' && spread === 'pieces') {
      const wholeOn = new Map(blobs.map(blob => [blob.digest, agents.filter(agent => this.#service.registry.task(blob.digest)?.bitfield(agent)?.full() === true)]))
      const placed = placePieces({ blobs: blobs.filter(blob => wholeOn.get(blob.digest)?.length === 0), agents, replicas })
      for (const [digest, holders] of wholeOn) {
        if (holders.length === 0) continue
        const more = agents.filter(agent => !holders.includes(agent)).slice(0, Math.max(0, replicas - holders.length))
        placed.set(digest, [...holders.slice(0, replicas), ...more].map(agent => ({ agent })))
      }
      return placed
    }
    if (scope.kind === 'site') return new Map([...placeBlobs({ blobs, agents, replicas })].map(([digest, chosen]) => [digest, chosen.map(agent => ({ agent }))]))
    return new Map(blobs.map(blob => [blob.digest, agents.map(agent => ({ agent }))]))
  }

  /** Orders from each connected agent the copies it has not been asked for in this session. */
  #order (job: JobRecord): void {
    const wanted = new Map<PeerKey, Array<{ layer: LayerRecord, target: TargetRecord }>>()
    const ordered = this.#ordered.get(job.id) ?? new Map<PeerKey, Set<string>>()
    this.#ordered.set(job.id, ordered)
    for (const layer of job.layers) {
      for (const target of layer.targets) {
        if (isTerminalTarget(target) || ordered.get(target.agent)?.has(shareKey(layer, target)) === true) continue
        if (this.#service.registrationOf(target.agent) == null) continue
        const layers = wanted.get(target.agent) ?? []
        layers.push({ layer, target })
        wanted.set(target.agent, layers)
      }
    }
    const timeoutMs = Math.max(1, job.deadline - this.#now())
    for (const [agent, layers] of wanted) {
      const sent = ordered.get(agent) ?? new Set<string>()
      ordered.set(agent, sent)
      for (let i = 0; i < layers.length; i += MAX_PREFETCH_BLOBS) {
        const blobs = layers.slice(i, i + MAX_PREFETCH_BLOBS).map(({ layer: l, target }) => prefetchBlob({ registry: l.registry, repository: l.repository, digest: l.digest as ParsedPrefetchBlob['digest'], size: l.size, mediaType: l.mediaType, stripe: target.stripe }))
        if (this.#service.send(agent, { prefetch: { job: job.id, images: [], platforms: [], blobs, concurrency: job.request.concurrency, timeoutMs, authorization: this.#credentials.get(job.id) ?? '' } })) for (const { layer, target } of layers) sent.add(shareKey(layer, target))
      }
    }
  }

  #failed (job: JobRecord, layer: LayerRecord, target: TargetRecord, failure: ParsedPrefetchFailure): void {
    target.error = failure
    if (job.request.scope.kind === 'site' && RETRY_ELSEWHERE.has(failure.reason)) this.#moveElsewhere(job, layer, target)
  }

  /**
   * A site copy goes to another agent of the site that does not hold one, while tries are left. A
   * stripe (placement by pieces, where every agent may hold a share) goes to the agent with the
   * fewest shares of the blob that does not hold this stripe already.
   */
  #moveElsewhere (job: JobRecord, layer: LayerRecord, target: TargetRecord): void {
    const shares = new Map<PeerKey, number>()
    for (const t of layer.targets) shares.set(t.agent, (shares.get(t.agent) ?? 0) + 1)
    const candidates = this.#scopeAgents(job).filter(agent => agent !== target.agent && !target.tried.includes(agent) &&
      (target.stripe == null ? !shares.has(agent) : !layer.targets.some(t => t.agent === agent && sameStripe(t.stripe, target.stripe))))
    // Stable: the fewest shares first, then the scope's order.
    const next = candidates.sort((a, b) => (shares.get(a) ?? 0) - (shares.get(b) ?? 0))[0]
    if (next == null || target.tried.length + 1 >= MAX_TRIES_PER_COPY) {
      if (target.state !== 'failed' && target.error != null) target.state = 'failed'
      return
    }
    target.tried.push(target.agent)
    target.agent = next
    target.state = 'pending'
    target.bytes = 0
    target.error = undefined
  }

  #complete (job: JobRecord): void {
    if (job.state !== 'running' || job.layers.length === 0) return
    const targets = job.layers.flatMap(l => l.targets)
    if (targets.length === 0 && this.#now() >= this.#agentWaitEnd(job)) {
      job.error = { reason: 'unavailable', message: `no agent of scope ${scopeText(job.request.scope)} to place the blobs on` }
      this.#finish(job, 'failed')
      return
    }
    if (targets.length === 0 || !targets.every(isTerminalTarget)) return
    const failed = targets.some(t => t.state === 'failed') || job.images.some(i => i.error != null)
    this.#finish(job, failed ? 'failed' : 'done')
  }

  #finish (job: JobRecord, state: 'done' | 'failed' | 'cancelled'): void {
    job.state = state
    job.finishedAt = this.#now()
    this.#resolvers.delete(job.id)
    this.#ordered.delete(job.id)
    this.#layers.delete(job.id)
    this.#credentials.delete(job.id)
    this.#dirty.add(job.id)
    this.#log('prefetch job ended', { job: job.id, state, error: job.error?.message })
  }

  #failUnfinished (job: JobRecord, failure: { reason: string, message: string }): void {
    for (const layer of job.layers) {
      for (const target of layer.targets) {
        if (isTerminalTarget(target)) continue
        target.state = 'failed'
        target.error = failure
      }
    }
  }

  #layerOf (job: JobRecord, digest: string): LayerRecord | undefined {
    let index = this.#layers.get(job.id)
    if (index == null || index.size !== job.layers.length) {
      index = new Map(job.layers.map(layer => [layer.digest, layer]))
      this.#layers.set(job.id, index)
    }
    return index.get(digest)
  }

  /**
   * Until when a job with no connected agent of its scope waits for one: a new job
   * PREFETCH_SCOPE_GRACE_MS (an agent reconnecting after a blip), so that a scope nobody is in is
   * reported at once, not at the deadline. Within agentWaitMs of the scheduler's start agents are
   * still registering again: a job stored before the start waits to the end of that window, a new
   * one too but at most PREFETCH_SCOPE_WAIT_TIMEOUT_SHARE of its timeout (the reason comes well
   * before its deadline).
   */
  #agentWaitEnd (job: JobRecord): number {
    const graceEnd = job.createdAt + this.#scopeGraceMs
    const registeringEnd = this.#startedAt + this.#agentWaitMs
    if (job.createdAt < this.#startedAt) return Math.max(graceEnd, registeringEnd)
    return Math.max(graceEnd, Math.min(registeringEnd, job.createdAt + job.request.timeoutMs * PREFETCH_SCOPE_WAIT_TIMEOUT_SHARE))
  }

  #noAgentError (job: JobRecord): FailureView {
    return { reason: 'unavailable', message: `no agent of scope ${scopeText(job.request.scope)} is connected to this scheduler` }
  }

  /** The connected agents of the job's scope, in a stable order. */
  #scopeAgents (job: JobRecord): PeerKey[] {
    const scope = job.request.scope
    return this.#service.agents()
      .filter(agent => scope.kind === 'all' || (scope.kind === 'site' ? agent.site === scope.site : agent.id === scope.agent))
      .map(agent => agent.id)
      .sort()
  }

  #involved (job: JobRecord): Set<PeerKey> {
    const agents = new Set<PeerKey>(job.layers.flatMap(l => l.targets.filter(t => !isTerminalTarget(t)).map(t => t.agent)))
    const resolver = this.#resolvers.get(job.id)
    if (resolver != null) agents.add(resolver)
    return agents
  }

  async #save (): Promise<void> {
    const ids = [...this.#dirty]
    this.#dirty.clear()
    for (const id of ids) {
      const job = this.#jobs.get(id)
      if (job == null) continue
      await this.#store.put(job).catch((err: Error) => {
        this.#dirty.add(id)
        this.#log('prefetch job not saved; trying again', { job: id, error: err.message })
      })
    }
  }
}

function sameStripe (a: PieceStripe | undefined, b: PieceStripe | undefined): boolean {
  return a?.index === b?.index && a?.count === b?.count
}

/** What an order of a share of a blob is remembered by. */
function shareKey (layer: Pick<LayerRecord, 'digest'>, target: Pick<TargetRecord, 'stripe'>): string {
  return prefetchShareKey(layer.digest, target.stripe)
}

/**
 * The unfinished share of the layer a progress report is of: the agent's target of that stripe,
 * else (an agent that does not say which stripe) its only unfinished one.
 */
function targetOf (layer: LayerRecord, agent: PeerKey, stripe: PieceStripe | undefined): TargetRecord | undefined {
  const open = layer.targets.filter(t => t.agent === agent && !isTerminalTarget(t))
  return open.find(t => sameStripe(t.stripe, stripe)) ?? (open.length === 1 ? open[0] : undefined)
}
