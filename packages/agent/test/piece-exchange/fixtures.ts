import { createCipheriv, createHash } from 'node:crypto'
import type { ExecutionContext } from 'ava'
import { cidOfDigest, digestOf, pieceCountFor, pieceSpan } from '@shoal/proto'
import type { CID, Digest } from '@shoal/proto'
import type { P2pNode } from '@shoal/p2p'
import { PieceExchangeServer } from '../../src/piece-exchange/server.ts'
import type { PieceExchangeServerComponents, PieceExchangeServerInit, PieceServedEvent } from '../../src/piece-exchange/server.ts'
import type { PieceStore } from '../../src/piece-store/store.ts'
import { startTestNode, testSwarmKey } from '../helpers/p2p.ts'
import { openStore } from '../helpers/store.ts'
export { openStore }
export { testSwarmKey as swarmKey }

export const MiB = 1024 * 1024
/** The piece size of blobs up to 16 MiB (pieceSizeFor): N * PIECE is a blob of N pieces. */
export const PIECE = 256 * 1024
/** A node on 127.0.0.1, stopped in teardown; bootstrapped to `peers` so that they can be dialled by id. */
export async function startNode (t: ExecutionContext, key: Uint8Array, peers: P2pNode[] = []): Promise<P2pNode> {
  return startTestNode(t, { swarmKey: key, bootstrap: peers.map(peer => peer.getMultiaddrs()[0]!.toString()) })
}


export interface ServerFixture {
  server: PieceExchangeServer
  served: PieceServedEvent[]
}

export async function startServer (t: ExecutionContext, node: P2pNode, store: PieceStore, init?: PieceExchangeServerInit, components: Pick<PieceExchangeServerComponents, 'bans' | 'uploads'> = {}): Promise<ServerFixture> {
  const served: PieceServedEvent[] = []
  const server = new PieceExchangeServer({ node, store, onPieceServed: event => served.push(event), ...components }, init)
  await server.start()
  t.teardown(async () => { await server.stop() })
  return { server, served }
}

/** A (the real server over a complete 3-piece blob made from `seed`) and B, dialling it. */
export async function serverPair (t: ExecutionContext, seed: string, init?: PieceExchangeServerInit, components: Pick<PieceExchangeServerComponents, 'bans' | 'uploads'> = {}): Promise<ServerFixture & { a: P2pNode, b: P2pNode, blob: Blob }> {
  const key = testSwarmKey()
  const a = await startNode(t, key)
  const b = await startNode(t, key, [a])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(3 * PIECE, seed))
  await putBlob(store, blob)
  return { a, b, blob, ...await startServer(t, a, store, init, components) }
}

/** Deterministic blob bytes: AES-CTR keystream of the seed. */
export function blobFixture (size: number, seed: string): Buffer {
  const key = createHash('sha256').update(seed).digest().subarray(0, 16)
  return createCipheriv('aes-128-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size))
}

export interface Blob {
  bytes: Buffer
  digest: Digest
  size: number
  cids: CID[]
  piece: (index: number) => Buffer
}

export function describeBlob (bytes: Buffer): Blob {
  const piece = (index: number): Buffer => {
    const span = pieceSpan(bytes.byteLength, index)
    return bytes.subarray(span.offset, span.offset + span.length)
  }
  const cids = [...Array(pieceCountFor(bytes.byteLength)).keys()].map(i => cidOfDigest(digestOf(piece(i))))
  return { bytes, digest: digestOf(bytes), size: bytes.byteLength, cids, piece }
}

/** Puts `pieces` of the blob in the store (all by default), and completes it when all are there. */
export async function putBlob (store: PieceStore, blob: Blob, pieces?: number[]): Promise<void> {
  const partial = await store.openPartial(blob.digest, blob.size)
  const indexes = pieces ?? blob.cids.map((_, i) => i)
  for (const i of indexes) await partial.writePiece(i, [blob.piece(i)], digestOf(blob.piece(i)))
  await partial.commit()
  if (indexes.length === blob.cids.length) await store.complete(partial, blob.digest)
}

/** Resolves once `check` holds, polling; rejects after `timeoutMs`. */
export async function eventually (check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const started = Date.now()
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error('condition not met in time')
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}
