import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ExecutionContext } from 'ava'
import { digestOf, pieceSpan } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { createP2pNode, loadOrCreatePeerKey, loadSwarmKey } from '@shoal/p2p'
import type { P2pNode } from '@shoal/p2p'
import { Discovery } from '../../packages/agent/src/discovery/index.ts'
import { PieceExchangeServer } from '../../packages/agent/src/piece-exchange/index.ts'
import { PieceStore } from '../../packages/agent/src/piece-store/store.ts'
import { layerFixture } from '../fixtures/index.ts'
import type { Cluster } from './p2p-cluster.ts'
import { LOOPBACK } from './p2p-cluster.ts'

export interface LyingPeer {
  node: P2pNode
  discovery: Discovery
  blobs: Array<{ digest: Digest, size: number }>
}

/**
 * A real peer whose store holds other bytes under each blob's digest, with a piece table that
 * matches them: every piece it sends verifies against its own table; against the true table (or
 * the blob's digest) it is caught. It serves pieces; announcing them is the caller's (DHT or scheduler).
 */
export async function startLyingPeer (t: ExecutionContext, cluster: Cluster, opts: { bootstrap?: string[], blobs: Array<{ digest: Digest, size: number }> }): Promise<LyingPeer> {
  const dir = await mkdtemp(join(tmpdir(), 'shoal-liar-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const store = new PieceStore({ dataDir: dir })
  await store.start()
  t.teardown(async () => { await store.stop() })
  for (const { digest, size } of opts.blobs) {
    const forged = layerFixture({ size, seed: 99 })
    const partial = await store.openPartial(digest, size)
    for (let i = 0; i < partial.pieceCount; i++) {
      const span = pieceSpan(size, i)
      const bytes = forged.subarray(span.offset, span.offset + span.length)
      await partial.writePiece(i, [bytes], digestOf(bytes))
    }
    await partial.commit()
    await store.complete(partial, digest) // the lie: the store trusts the digest its caller computed
  }
  const node = await createP2pNode({
    privateKey: await loadOrCreatePeerKey(dir),
    listen: [LOOPBACK],
    bootstrap: opts.bootstrap ?? [],
    swarmKey: await loadSwarmKey(cluster.swarmKey)
  })
  t.teardown(async () => { await node.stop() })
  const server = new PieceExchangeServer({ node, store })
  await server.start()
  t.teardown(async () => { await server.stop() })
  const discovery = new Discovery({ node })
  discovery.start()
  t.teardown(async () => { await discovery.stop() })
  return { node, discovery, blobs: opts.blobs }
}
