import test from 'ava'
import type { Connection } from '@libp2p/interface'
import { PIECES_PROTOCOL } from '@shoal/proto'
import { PieceExchangeClient } from '../../src/piece-exchange/client.ts'
import { startTestNode } from '../helpers/p2p.ts'
import { blobFixture, describeBlob, eventually, MiB, openStore, putBlob, startNode, startServer, swarmKey } from './fixtures.ts'

const OP_TIMEOUT_MS = 20_000

function openPieceStreams (connection: Connection): number {
  return connection.streams.filter(stream => stream.protocol === PIECES_PROTOCOL && stream.status === 'open').length
}

test('requests to a peer that dialled us move to a connection we dial ourselves, not behind what we send it', async t => {
  const key = swarmKey()
  const b = await startNode(t, key)
  // A dials B: the one connection there is carries B's uploads to A, and would carry B's requests.
  const a = await startNode(t, key, [b])
  const store = await openStore(t)
  const blob = describeBlob(blobFixture(3 * MiB, 'own-connection'))
  await putBlob(store, blob)
  await startServer(t, a, store)
  await eventually(() => b.getConnections(a.peerId).length > 0, OP_TIMEOUT_MS)
  t.deepEqual(b.getConnections(a.peerId).map(c => c.direction), ['inbound'])

  const client = new PieceExchangeClient({ node: b })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  const fetch = async (index: number): Promise<void> => {
    const piece = await client.piece(a.peerId, { digest: blob.digest, size: blob.size, index, cid: blob.cids[index]! }, { signal })
    t.true(Buffer.concat(piece).equals(blob.piece(index)))
  }
  // The first request does not wait for a dial: it goes on A's connection, and B dials its own meanwhile.
  await fetch(0)
  await eventually(() => b.getConnections(a.peerId).some(c => c.direction === 'outbound'), OP_TIMEOUT_MS)
  await fetch(1)
  await fetch(2)

  const connections = b.getConnections(a.peerId)
  const own = connections.filter(c => c.direction === 'outbound')
  t.is(own.length, 1, 'one connection of B\'s own, shared by its requests')
  t.is(openPieceStreams(own[0]!), 1, 'the later requests share one kept stream on it')
  t.is(connections.filter(c => c.direction === 'inbound').reduce((n, c) => n + openPieceStreams(c), 0), 0, 'the stream on A\'s connection was not kept')
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
  await eventually(() => a.getConnections(b.peerId).length > 0, OP_TIMEOUT_MS)

  const client = new PieceExchangeClient({ node: a })
  t.teardown(() => { client.close() })
  const signal = AbortSignal.timeout(OP_TIMEOUT_MS)
  const table = await client.pieceTable(b.peerId, blob.digest, { size: blob.size, signal })
  t.deepEqual(table.pieces.map(String), blob.cids.map(String))
  const piece = await client.piece(b.peerId, { digest: blob.digest, size: blob.size, index: 0, cid: blob.cids[0]! }, { signal })
  t.true(Buffer.concat(piece).equals(blob.piece(0)))
  const connections = a.getConnections(b.peerId)
  t.deepEqual(connections.map(c => c.direction), ['inbound'])
  t.is(openPieceStreams(connections[0]!), 1, 'its stream is kept for the next request')
})
