import test from 'ava'
import { digestOf } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { rendezvousOrder } from '../../src/rendezvous.ts'

const schedulers = ['s1', 's2', 's3', 's4'].map(key => ({ key }))
const digests: Digest[] = Array.from({ length: 2000 }, (_, i) => digestOf(new TextEncoder().encode(`blob ${i}`)))

test('every agent orders the schedulers the same way for a blob, whatever order it lists them in', t => {
  for (const digest of digests.slice(0, 50)) {
    t.deepEqual(rendezvousOrder(schedulers, digest), rendezvousOrder([...schedulers].reverse(), digest))
  }
})

test('blobs spread about evenly over the schedulers', t => {
  const counts = new Map<string, number>()
  for (const digest of digests) {
    const first = rendezvousOrder(schedulers, digest)[0]!.key
    counts.set(first, (counts.get(first) ?? 0) + 1)
  }
  for (const [key, n] of counts) t.true(n > 400 && n < 600, `${key} leads ${n} of 2000 blobs`)
})

test('when a scheduler goes away only its blobs move, each to its second choice', t => {
  const without = schedulers.filter(s => s.key !== 's2')
  for (const digest of digests) {
    const before = rendezvousOrder(schedulers, digest)
    const after = rendezvousOrder(without, digest)
    if (before[0]!.key !== 's2') t.is(after[0]!.key, before[0]!.key)
    else t.is(after[0]!.key, before[1]!.key)
  }
})
