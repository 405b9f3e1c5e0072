import type {
  FailureView, ImageView, JobState, JobView, LayerOutcome, LayerView, PrefetchFailure, PrefetchLayer, ResolvedImage, TargetView
} from './shared-types.ts'

export interface LocalJobInit {
  id: string
  /** the one agent, named by its mirror URL */
  agent: string
  createdAt: Date
}

/**
 * A `--agent` run, kept in the scheduler's JobView shape so that the display, `--json` and the exit
 * status are the same code for both back ends. One agent; each layer has one target. Pure bookkeeping:
 * the runner (agent-backend.ts) calls it from resolveImages' result and fetchLayers' callbacks.
 */
export class LocalJob {
  private readonly id: string
  private readonly agent: string
  private readonly createdAt: string
  private state: JobState = 'resolving'
  private finishedAt?: string
  private error?: FailureView
  private images: ImageView[] = []
  private readonly layers = new Map<string, { layer: LayerView, target: TargetView }>()

  constructor (init: LocalJobInit) {
    this.id = init.id
    this.agent = init.agent
    this.createdAt = init.createdAt.toISOString()
  }

  /** Records the resolved images and returns the blobs to fetch, each digest once (the first repository it was found in). */
  resolved (images: ResolvedImage[]): PrefetchLayer[] {
    this.images = images.map(image => ({
      reference: image.reference,
      ...(image.manifestDigest == null ? {} : { manifestDigest: image.manifestDigest }),
      layers: image.layers.length,
      ...(image.error == null ? {} : { error: failureView(image.error) })
    }))
    const unique: PrefetchLayer[] = []
    for (const layer of images.flatMap(image => image.error == null ? image.layers : [])) {
      if (this.layers.has(layer.digest)) continue
      unique.push(layer)
      const target: TargetView = { agent: this.agent, state: 'pending', bytes: 0, size: layer.size }
      this.layers.set(layer.digest, {
        target,
        layer: {
          digest: layer.digest,
          size: layer.size,
          registry: layer.registry,
          repository: layer.repository,
          ...(layer.mediaType == null ? {} : { mediaType: layer.mediaType }),
          targets: [target]
        }
      })
    }
    this.state = 'running'
    return unique
  }

  started (digest: string): void {
    const entry = this.layers.get(digest)
    if (entry != null && entry.target.state === 'pending') entry.target.state = 'fetching'
  }

  /** `bytes`: the layer's running total, as fetchLayers reports it. */
  bytes (digest: string, bytes: number): void {
    const entry = this.layers.get(digest)
    if (entry != null && entry.target.state !== 'done' && entry.target.state !== 'failed') entry.target.bytes = Math.min(entry.layer.size, Math.max(entry.target.bytes, bytes))
  }

  done (outcome: LayerOutcome): void {
    const entry = this.layers.get(outcome.digest)
    if (entry == null) return
    entry.target.bytes = Math.min(entry.layer.size, outcome.bytes)
    if (outcome.error == null) {
      entry.target.state = 'done'
      delete entry.target.error
    } else {
      entry.target.state = 'failed'
      entry.target.error = failureView(outcome.error)
    }
  }

  /**
   * The end: `done` when the run got through resolving and fetching, even if some images or layers
   * failed (they say why); `failed` with `error` when nothing could be fetched or the deadline passed;
   * `cancelled`. Layers still open then fail with `openLayers` (timeout, cancelled) when given.
   */
  finish (end: { state: 'done' | 'failed' | 'cancelled', error?: PrefetchFailure, openLayers?: PrefetchFailure, at: Date }): void {
    for (const { target } of this.layers.values()) {
      if (end.openLayers != null && (target.state === 'pending' || target.state === 'fetching')) {
        target.state = 'failed'
        target.error = failureView(end.openLayers)
      }
    }
    this.state = end.state
    if (end.error != null) this.error = failureView(end.error)
    this.finishedAt = end.at.toISOString()
  }

  /** A snapshot: later changes do not show in it. */
  view (): JobView {
    const layers = [...this.layers.values()].map(({ layer, target }) => ({ ...layer, targets: [{ ...target, ...(target.error == null ? {} : { error: { ...target.error } }) }] }))
    const targets = layers.map(l => ({ size: l.size, target: l.targets[0] as TargetView }))
    const done = targets.filter(t => t.target.state === 'done').length
    const failed = targets.filter(t => t.target.state === 'failed').length
    const bytesDone = targets.reduce((sum, t) => sum + t.target.bytes, 0)
    return {
      id: this.id,
      state: this.state,
      scope: `agent:${this.agent}`,
      replicas: 1,
      spread: 'blobs',
      createdAt: this.createdAt,
      ...(this.finishedAt == null ? {} : { finishedAt: this.finishedAt }),
      images: this.images.map(i => ({ ...i })),
      layers,
      agents: [{ agent: this.agent, layers: layers.length, done, failed, bytes: bytesDone }],
      totals: { layers: layers.length, layersDone: done, layersFailed: failed, bytes: targets.reduce((sum, t) => sum + t.size, 0), bytesDone },
      ...(this.error == null ? {} : { error: { ...this.error } })
    }
  }
}

function failureView (failure: PrefetchFailure): FailureView {
  return { reason: failure.reason, message: failure.message }
}
