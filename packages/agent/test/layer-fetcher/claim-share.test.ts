import test from 'ava'
import { digestOf } from '@shoal/proto'
import { claimShare } from '../../src/layer-fetcher/claim-share.ts'
import { peerIds } from './piece-book-helpers.ts'

test('the claimers\' shares split the pieces exactly, whatever order each sees the others in', async t => {
  const claimers = await peerIds(4)
  const digest = digestOf(new Uint8Array([7]))
  const pieces = 64
  const owners = new Map<number, number>()
  for (const [i, self] of claimers.entries()) {
    const others = claimers.filter(p => !p.equals(self))
    const share = claimShare(digest, pieces, self, others)
    t.deepEqual(claimShare(digest, pieces, self, [...others].reverse()), share)
    t.true(share.length > 0, `claimer ${i} reads some pieces`)
    for (const index of share) {
      t.false(owners.has(index), `piece ${index} has one reader`)
      owners.set(index, i)
    }
  }
  t.is(owners.size, pieces, 'every piece has a reader')
})

test('when views differ, every piece still has a reader; alone, a claimer reads them all', async t => {
  const [a, b, c, d] = await peerIds(4) as [never, never, never, never]
  const digest = digestOf(new Uint8Array([9]))
  const pieces = 64
  // d opened its partial late: a and b missed it; c and d saw everyone.
  const views = [claimShare(digest, pieces, a, [b, c]), claimShare(digest, pieces, b, [a, c]), claimShare(digest, pieces, c, [a, b, d]), claimShare(digest, pieces, d, [a, b, c])]
  const read = new Set(views.flat())
  t.is(read.size, pieces)
  t.true(views.flat().length < 1.5 * pieces, `${views.flat().length} reads for ${pieces} pieces`)
  t.deepEqual(claimShare(digest, 5, a, []), [0, 1, 2, 3, 4])
})
