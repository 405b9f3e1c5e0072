import { AgentPrefetchUnavailableError } from './errors.ts'
import type { ImageRequest, LayerOutcome, Platform, PrefetchLayer, ResolvedImage } from './shared-types.ts'

/**
 * The part of the agent's prefetch module (`@shoal/agent/prefetch`) that `--agent` mode uses: resolve
 * images through a mirror, fetch their blobs through it.
 *
 * TODO(agent-prefetch): the module is loaded by a specifier the type checker does not follow, and
 * typed by this interface, until `@shoal/agent` exports `./prefetch`; then this file becomes
 * `import('@shoal/agent/prefetch')` and the interface goes.
 */
export interface AgentPrefetchModule {
  resolveImages: (mirror: { url: string }, requests: ImageRequest[], opts: { platforms: Platform[], signal?: AbortSignal }) => Promise<ResolvedImage[]>
  fetchLayers: (mirror: { url: string }, layers: PrefetchLayer[], opts: {
    concurrency: number
    signal?: AbortSignal
    onStart?: (digest: PrefetchLayer['digest']) => void
    /** the layer's bytes so far (a running total) */
    onBytes?: (digest: PrefetchLayer['digest'], bytes: number) => void
    onDone?: (outcome: LayerOutcome) => void
  }) => Promise<LayerOutcome[]>
  parsePlatform: (text: string) => Platform
  hostPlatform: () => Platform
}

const SPECIFIER: string = '@shoal/agent/prefetch'

export async function loadAgentPrefetch (): Promise<AgentPrefetchModule> {
  let mod: Partial<AgentPrefetchModule>
  try {
    mod = await import(SPECIFIER) as Partial<AgentPrefetchModule>
  } catch (err) {
    throw new AgentPrefetchUnavailableError(`--agent mode needs the agent's prefetch module (${SPECIFIER}): ${(err as Error).message}`, { cause: err })
  }
  for (const name of ['resolveImages', 'fetchLayers', 'parsePlatform', 'hostPlatform'] as const) {
    if (typeof mod[name] !== 'function') throw new AgentPrefetchUnavailableError(`${SPECIFIER} has no ${name}()`)
  }
  return mod as AgentPrefetchModule
}
