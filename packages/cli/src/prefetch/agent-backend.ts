import { randomBytes } from 'node:crypto'
import { LOCAL_POLL_INTERVAL_MS } from './constants.ts'
import { LocalJob } from './local-job.ts'
import type * as AgentPrefetch from '@shoal/agent/prefetch'
import type { PrefetchJobHandle } from './job-handle.ts'
import type { ImageRequest, JobView, PrefetchFailure, ResolvedImage } from './shared-types.ts'

/** What the run uses of the agent's prefetch module (`@shoal/agent/prefetch`). */
export type AgentPrefetchModule = Pick<typeof AgentPrefetch, 'resolveImages' | 'fetchLayers' | 'parsePlatform'>

export interface LocalPrefetchComponents {
  prefetch: AgentPrefetchModule
  /** the clock of createdAt / finishedAt */
  now?: () => Date
}

export interface LocalPrefetchInit {
  /** the agent's mirror URL */
  agent: string
  images: ImageRequest[]
  /** `os/arch[/variant]`; none: this host's platform */
  platforms: string[]
  concurrency: number
  timeoutMs: number
}

/** The job handle of a run in this process; `finished` settles with the last view. */
export interface LocalJobHandle extends PrefetchJobHandle {
  readonly finished: Promise<JobView>
}

/**
 * `--agent` mode: this process resolves the images through the agent's mirror and reads every blob
 * through it (so the agent stores them, from peers or the origin), `concurrency` at once, until the
 * deadline. Starts at once; the handle shows the run as a JobView.
 */
export function startLocalPrefetch (components: LocalPrefetchComponents, init: LocalPrefetchInit): LocalJobHandle {
  const now = components.now ?? (() => new Date())
  const job = new LocalJob({ id: `local-${randomBytes(4).toString('hex')}`, agent: init.agent, createdAt: now() })
  const cancel = new AbortController()
  const deadline = AbortSignal.timeout(init.timeoutMs)
  const finished = run(components.prefetch, job, init, { cancel: cancel.signal, deadline, now }).then(() => job.view())
  const id = job.view().id
  return {
    id,
    pollIntervalMs: LOCAL_POLL_INTERVAL_MS,
    finished,
    view: async () => job.view(),
    cancel: async () => {
      cancel.abort(new Error('cancelled'))
      return await finished
    }
  }
}

async function run (prefetch: AgentPrefetchModule, job: LocalJob, init: LocalPrefetchInit, ctx: { cancel: AbortSignal, deadline: AbortSignal, now: () => Date }): Promise<void> {
  const mirror = { url: init.agent }
  const signal = AbortSignal.any([ctx.cancel, ctx.deadline])
  const timeout: PrefetchFailure = { reason: 'timeout', message: `not done within the --timeout of ${init.timeoutMs / 1000}s` }
  const cancelled: PrefetchFailure = { reason: 'cancelled', message: 'cancelled' }
  try {
    const platforms = init.platforms.map(p => prefetch.parsePlatform(p))
    const resolved = await prefetch.resolveImages(mirror, init.images, { platforms, signal })
    const layers = job.resolved(resolved)
    if (layers.length > 0) {
      await prefetch.fetchLayers(mirror, layers, {
        concurrency: init.concurrency,
        signal,
        onStart: digest => { job.started(digest) },
        onBytes: (digest, bytes) => { job.bytes(digest, bytes) },
        onDone: outcome => { job.done(outcome) }
      })
    }
    if (ctx.cancel.aborted) job.finish({ state: 'cancelled', openLayers: cancelled, at: ctx.now() })
    else if (ctx.deadline.aborted) job.finish({ state: 'failed', error: timeout, openLayers: timeout, at: ctx.now() })
    else if (layers.length === 0) job.finish({ state: 'failed', error: nothingResolved(resolved), at: ctx.now() })
    else job.finish({ state: 'done', at: ctx.now() })
  } catch (err) {
    // resolveImages and fetchLayers report per image and per layer; a throw is a bad option or a bug
    job.finish({ state: 'failed', error: { reason: 'failed', message: (err as Error).message }, openLayers: { reason: 'failed', message: 'the run stopped' }, at: ctx.now() })
  }
}

/** Why a run had nothing to fetch: the images' own reason when they all agree. */
function nothingResolved (images: ResolvedImage[]): PrefetchFailure {
  const reasons = new Set(images.map(i => i.error?.reason ?? 'failed'))
  const [only] = reasons
  if (images.length === 0) return { reason: 'not-found', message: 'no image to fetch' }
  return {
    reason: reasons.size === 1 && only != null ? only : 'failed',
    message: images.every(i => i.error != null) ? 'no image could be resolved' : 'the images have no layers'
  }
}
