import { channelPair, SchedulerSession } from '@shoal/agent'
import type { EmbeddedScheduler, EmbeddedSchedulerFactory } from '@shoal/agent'
import { parsePeerKey, SchedulerServer, SchedulerService } from '@shoal/scheduler'

/**
 * `shoal agent --embedded-scheduler`: a scheduler on the agent's own libp2p node. Other agents
 * reach it at the agent's address; the agent itself, which cannot dial its own node, talks to it
 * over an in-process pair of channels carrying the same frames.
 */
export const embeddedScheduler: EmbeddedSchedulerFactory = {
  start: async (node): Promise<EmbeddedScheduler> => {
    const service = new SchedulerService()
    const server = new SchedulerServer({ node, service })
    await server.start()
    const self = parsePeerKey(node.peerId.toString())
    return {
      key: node.peerId.toString(),
      open: async registration => {
        const [agentEnd, schedulerEnd] = channelPair()
        server.serveChannel(self, node.peerId.toMultihash().bytes.slice(), schedulerEnd)
        return SchedulerSession.register(agentEnd, node.peerId, registration)
      },
      stop: async () => { await server.stop() }
    }
  }
}
