import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ExecutionContext } from 'ava'
import { SchedulerServer, SchedulerService } from '@shoal/scheduler'
import { createP2pNode, loadSwarmKey } from '@shoal/p2p'
import type { P2pNode } from '@shoal/p2p'
import { LOOPBACK } from './p2p-cluster.ts'

export interface TestScheduler {
  node: P2pNode
  service: SchedulerService
  /** Its multiaddr with /p2p/<id>, as `--scheduler` takes it. */
  addr: string
  stop: () => Promise<void>
}

/**
 * A scheduler on loopback for tests: the service and its protocol server on a libp2p node of the
 * swarm (the node the agent uses; `shoal scheduler` composes the same parts).
 */
export async function startTestScheduler (t: ExecutionContext, swarmKeyFile: string): Promise<TestScheduler> {
  const node = await createP2pNode({ privateKey: await generateKeyPair('Ed25519'), listen: [LOOPBACK], swarmKey: await loadSwarmKey(swarmKeyFile) })
  const service = new SchedulerService()
  const server = new SchedulerServer({ node, service })
  await server.start()
  let stopped = false
  const stop = async (): Promise<void> => {
    if (stopped) return
    stopped = true
    await server.stop()
    await node.stop()
  }
  t.teardown(stop)
  const first = node.getMultiaddrs()[0]?.toString() ?? ''
  return { node, service, addr: first.includes('/p2p/') ? first : `${first}/p2p/${node.peerId.toString()}`, stop }
}
