import test from 'ava'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { Bitfield, cidOfDigest, digestOf, pieceSizeFor } from '@shoal/proto'
import type { PieceTable } from '@shoal/proto'
import { SwarmView } from '../../src/layer-fetcher/peer-swarm.ts'
import type { PlannedPeer } from '../../src/layer-fetcher/peer-swarm.ts'

const MiB = 1024 * 1024

async function peerWith (pieces: number[], count: number): Promise<PlannedPeer> {
  const bitfield = new Bitfield(count)
  for (const i of pieces) bitfield.set(i)
  return { id: peerIdFromPrivateKey(await generateKeyPair('Ed25519')), bitfield, complete: pieces.length === count }
}

function table (count: number): PieceTable {
  const size = count * MiB
  const pieces = Array.from({ length: count }, (_, i) => cidOfDigest(digestOf(new Uint8Array([i]))))
  return { digest: digestOf(new Uint8Array([9])), size, pieceSize: pieceSizeFor(size), pieces }
}

const noClient = {
  pieceTable: async () => { throw new Error('not asked') },
  bitfield: async () => { throw new Error('not asked') }
}

test('a peer that answered BUSY is passed over for a moment while another holder is free, not forgotten or dropped', async t => {
  const [a, b] = [await peerWith([0, 1], 2), await peerWith([0], 2)]
  const swarm = new SwarmView({ table: table(2), peers: [a, b] }, { client: noClient })
  t.deepEqual(swarm.holders(0).map(p => p.id), [a.id, b.id])
  swarm.busy(a.id)
  t.deepEqual(swarm.holders(0).map(p => p.id), [b.id], 'a is passed over while b is free')
  t.deepEqual(swarm.holders(1).map(p => p.id), [a.id], 'a busy peer that alone holds a piece is still named')
  t.true(swarm.busyFor(a.id) > 0 && swarm.busyFor(a.id) <= 250)
  t.is(swarm.busyFor(b.id), 0)
  t.false(swarm.isDropped(a.id))
  t.true(a.bitfield.has(0), 'its bitfield is kept')
  await new Promise(resolve => setTimeout(resolve, 260))
  t.deepEqual(swarm.holders(0).map(p => p.id), [a.id, b.id], 'after the pause it is asked again')
})
