import test from 'ava'
import type { Connection } from '@libp2p/interface'
import { PIECES_PROTOCOL } from '@shoal/proto'
import { PieceExchangeClient } from '../../src/piece-exchange/client.ts'
import { startTestNode } from '../helpers/p2p.ts'
import { blobFixture, describeBlob, MiB, openStore, putBlob, startNode, startServer, swarmKey } from './fixtures.ts'

const OP_TIMEOUT_MS = 20_000

function carriesPieceStreams (connection: Connection): boolean {
  return connection.streams.some(stream => stream.protocol === PIECES_PROTOCOL)
}

test('requests to a peer that dialled us go on a connection we dial ourselves, not behind what we send it', async t => {
  const key = swarmKey()
  const b = await startNode(t, key)
  // A dials B: the one connection there is carries B's uploads to A, and would carry B's requests.
  const a = await startNode(t, key, [b])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(2 * MiB, 'own-connection'))
  await putBlob(store, blob)
  await startServer(t, a, store)
  t.deepEqual(b.getConnections(a.peerId).map(c => c.direction), ['inbound'])

  const client = new PieceExchangeClient({ node: b })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  const piece = await client.piece(a.peerId, { digest: blob.digest, size: blob.size, index: 1, cid: blob.cids[1]! }, { signal })
  t.true(Buffer.from(piece).equals(blob.piece(1)))
  const { complete } = await client.bitfield(a.peerId, blob.digest, 2, { signal })
  t.true(complete)

  const connections = b.getConnections(a.peerId)
  const own = connections.filter(c => c.direction === 'outbound')
  t.is(own.length, 1, 'one connection of B\'s own, shared by its requests')
  t.true(carriesPieceStreams(own[0]!))
  t.false(connections.filter(c => c.direction === 'inbound').some(carriesPieceStreams))
})

test('a peer that cannot be dialled is asked over the connection it made', async t => {
  const key = swarmKey()
  const a = await startNode(t, key)
  // B listens nowhere (a host behind a NAT): it dials A, and A cannot dial it.
  const b = await startTestNode(t, { swarmKey: key, listen: [], bootstrap: [a.getMultiaddrs()[0]!.toString()] })
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(MiB, 'undialable'))
  await putBlob(store, blob)
  await startServer(t, b, store)
  const deadline = Date.now() + OP_TIMEOUT_MS
  while (a.getConnections(b.peerId).length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))

  const client = new PieceExchangeClient({ node: a })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  const first = await client.pieceTable(b.peerId, blob.digest, { size: blob.size, signal })
  t.deepEqual(first.pieces.map(String), blob.cids.map(String))
  // Again, within the retry interval: no new dial, the same inbound connection.
  const piece = await client.piece(b.peerId, { digest: blob.digest, size: blob.size, index: 0, cid: blob.cids[0]! }, { signal })
  t.true(Buffer.from(piece).equals(blob.piece(0)))
  const connections = a.getConnections(b.peerId)
  t.deepEqual(connections.map(c => c.direction), ['inbound'])
  t.true(carriesPieceStreams(connections[0]!))
})
