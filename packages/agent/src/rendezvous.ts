import { createHash } from 'node:crypto'
import type { Digest } from '@shoal/proto'

/**
 * A rendezvous (highest random weight) hash: sha256 of the parts, one per line, as hex. Every
 * agent computes the same weight for the same parts without talking to anyone, so orders and
 * shares made from it agree everywhere.
 */
export function rendezvousWeight (...parts: string[]): string {
  return createHash('sha256').update(parts.join('\n')).digest('hex')
}

/**
 * The schedulers in the order a blob should use them: highest random weight (rendezvous hashing)
 * of the scheduler's key and the digest. Every agent computes the same order without talking to
 * anyone; when a scheduler goes away only its blobs move (each to its next), and when it comes
 * back they move back.
 */
export function rendezvousOrder<T extends { key: string }> (schedulers: readonly T[], digest: Digest): T[] {
  return schedulers
    .map(scheduler => ({ scheduler, weight: rendezvousWeight(scheduler.key, digest) }))
    .sort((a, b) => a.weight < b.weight ? 1 : a.weight > b.weight ? -1 : 0)
    .map(entry => entry.scheduler)
}
