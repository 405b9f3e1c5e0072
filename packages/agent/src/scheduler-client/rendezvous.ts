import { createHash } from 'node:crypto'
import type { Digest } from '@shoal/proto'

/**
 * The schedulers in the order a blob should use them: highest random weight (rendezvous hashing)
 * of the scheduler's key and the digest. Every agent computes the same order without talking to
 * anyone; when a scheduler goes away only its blobs move (each to its next), and when it comes
 * back they move back.
 */
export function rendezvousOrder<T extends { key: string }> (schedulers: readonly T[], digest: Digest): T[] {
  return schedulers
    .map(scheduler => ({ scheduler, weight: createHash('sha256').update(scheduler.key).update('\n').update(digest).digest('hex') }))
    .sort((a, b) => a.weight < b.weight ? 1 : a.weight > b.weight ? -1 : 0)
    .map(entry => entry.scheduler)
}
