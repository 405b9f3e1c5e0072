import { generateKeyPair } from '@libp2p/crypto/keys'
import type { ExecutionContext } from 'ava'
import { createP2pNode, generateSwarmKey, parseSwarmKey } from '../src/index.ts'
import type { P2pNode, P2pNodeInit } from '../src/index.ts'

export const LOOPBACK = '/ip4/127.0.0.1/tcp/0'
/** Generous: the suite runs two test files at once on a loaded 2-core machine. */
export const START_TIMEOUT_MS = 15_000

/** A fresh swarm key, as a node takes it. */
export function testSwarmKey (): Uint8Array {
  return parseSwarmKey(generateSwarmKey(), 'test')
}

/** A started libp2p node with a new identity on loopback, stopped at the test's end. */
export async function startTestNode (t: ExecutionContext, init: Partial<P2pNodeInit> = {}): Promise<P2pNode> {
  const node = await createP2pNode({
    privateKey: await generateKeyPair('Ed25519'),
    listen: [LOOPBACK],
    signal: AbortSignal.timeout(START_TIMEOUT_MS),
    ...init
  })
  t.teardown(async () => { await node.stop() })
  return node
}
