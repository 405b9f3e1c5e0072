/**
 * @packageDocumentation
 *
 * Discovery through Kad-DHT provider records, the way agents find each other when no scheduler is
 * around. The agent calls `provide(digest)` as soon as it holds the first verified piece of a blob
 * (not only once the blob is complete: in a rollout of many hosts at once, the first pieces are
 * what the others can use), `withdraw(digest)` when it evicts the blob, and
 * `findProviders(digest)` before it goes to the origin. A blob whose download a scheduler directed
 * goes to `provideLater(digest)` once whole instead: the scheduler told the others of its pieces,
 * and the announcement waits for a quiet moment (or for `announcePending`, when a scheduler goes
 * away). Everything provided is announced again every
 * `reprovideIntervalMs`.
 *
 * Withdrawing: Kademlia has no message that takes a provider record back from the peers that
 * store it. `withdraw` stops the re-announcements and drops our own record (kad-dht's
 * `cancelReprovide`), so this node no longer lists itself or lets kad-dht re-announce it; the
 * copies on other peers stay findable until they expire (DHT_PROVIDER_RECORD_VALIDITY_MS, set on
 * every agent's node in p2p/node.ts) and the next cleanup drops them. A peer that dials us for a
 * withdrawn blob in that window gets NOT_FOUND from the piece exchange and moves on.
 *
 * No metrics library here: the agent passes `events` and turns them into metrics.
 */
export { Discovery, provideOutcome } from './discovery.ts'
export type { DiscoveryComponents, DiscoveryEvents, DiscoveryInit, LookupEvent, ProvideEvent, Provider, ReprovideRoundEvent } from './discovery.ts'
