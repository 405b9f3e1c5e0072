import test from 'ava'
import { digestOf } from '@shoal/proto'
import { claimLeader } from '../../src/layer-fetcher/claim-leader.ts'
import { peerIds } from './piece-book-helpers.ts'

test('every claimer names the same leader whatever the order it sees the others in, and the layers of an image have different leaders', async t => {
  const claimers = await peerIds(4)
  const leaders = new Set<string>()
  for (let n = 0; n < 40; n++) {
    const digest = digestOf(new Uint8Array([n]))
    const leader = claimLeader(digest, claimers)
    t.true(leader?.equals(claimLeader(digest, [...claimers].reverse())!))
    leaders.add(leader!.toString())
  }
  t.is(leaders.size, 4, 'over 40 blobs, each of the 4 claimers leads some')
  t.is(claimLeader(digestOf(new Uint8Array([1])), []), undefined)
})
