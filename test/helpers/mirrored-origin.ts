import { pushImage, startCountingProxy, startRegistry } from '../fixtures/index.ts'
import type { CountingProxy, OriginRegistry, PushedImage, PushImageOptions } from '../fixtures/index.ts'
import { startTestAgent } from './agent.ts'
import type { TestAgent, TestAgentOptions } from './agent.ts'

export interface MirroredOrigin {
  registry: OriginRegistry
  /** The counting proxy in front of the registry: the agent's upstream. */
  origin: CountingProxy
  image: PushedImage
  agent: TestAgent
}

/**
 * The set-up most mirror tests start with: the real registry with `image` pushed to it, a counting
 * proxy in front of it as the origin, and an agent mirroring that proxy; all stopped at the test's end.
 */
export async function startMirroredOrigin (
  t: { teardown: (fn: () => Promise<void>) => void },
  init: { image: PushImageOptions, agent?: Omit<TestAgentOptions, 'upstreams'> }
): Promise<MirroredOrigin> {
  const registry = await startRegistry()
  t.teardown(registry.stop)
  const origin = await startCountingProxy(registry)
  t.teardown(origin.stop)
  const image = await pushImage(registry, init.image)
  const agent = await startTestAgent({ ...init.agent, upstreams: [origin.url] })
  t.teardown(agent.stop)
  return { registry, origin, image, agent }
}
