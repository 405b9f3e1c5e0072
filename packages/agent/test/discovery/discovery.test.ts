import { randomBytes } from 'node:crypto'
import test from 'ava'
import type { ExecutionContext } from 'ava'
import type { PeerId } from '@libp2p/interface'
import { cidOfDigest, digestOf } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { Discovery, provideOutcome } from '../../src/discovery/index.ts'
import { ProvideFailedError } from '../../src/errors.ts'
import type { DiscoveryInit, ProvideEvent, ReprovideRoundEvent } from '../../src/discovery/index.ts'
import type { P2pNode, P2pNodeInit } from '@shoal/p2p'
import { startTestNode, testSwarmKey } from '../helpers/p2p.ts'

const OP_TIMEOUT_MS = 20_000


function randomDigest (): Digest {
  return digestOf(randomBytes(1024))
}


/** Started; stopped in teardown before its node (teardowns run last-registered first). */
function startDiscovery (t: ExecutionContext, node: P2pNode, init: DiscoveryInit = {}): Discovery {
  const discovery = new Discovery({ node }, { findTimeoutMs: OP_TIMEOUT_MS, provideTimeoutMs: OP_TIMEOUT_MS, ...init })
  discovery.start()
  t.teardown(async () => { await discovery.stop() })
  return discovery
}

function address (node: P2pNode): string {
  const addr = node.getMultiaddrs()[0]
  if (addr == null) throw new Error('node listens nowhere')
  return addr.toString()
}

/** A -- B -- C: B bootstrapped to A, C to B only. */
async function cluster (t: ExecutionContext, init: Partial<P2pNodeInit> = {}): Promise<{ a: P2pNode, b: P2pNode, c: P2pNode, key: Uint8Array }> {
  const key = testSwarmKey()
  const a = await startTestNode(t, { swarmKey: key, ...init })
  const b = await startTestNode(t, { swarmKey: key, bootstrap: [address(a)], ...init })
  const c = await startTestNode(t, { swarmKey: key, bootstrap: [address(b)], ...init })
  return { a, b, c, key }
}

/** Asks `discovery` until `done` holds for the providers of `digest`, or the deadline passes. */
async function lookUntil (discovery: Discovery, digest: Digest, done: (providers: PeerId[]) => boolean, deadlineMs = OP_TIMEOUT_MS): Promise<PeerId[]> {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const providers = (await discovery.findProviders(digest)).map(provider => provider.id)
    if (done(providers) || Date.now() > deadline) return providers
    await new Promise(resolve => setTimeout(resolve, 250))
  }
}

function includes (peers: PeerId[], peer: PeerId): boolean {
  return peers.some(p => p.equals(peer))
}

/** The peers whose answers for `digest` listed providers, as seen by `node`'s own DHT (itself included). */
async function answeredBy (node: P2pNode, digest: Digest): Promise<PeerId[]> {
  const from: PeerId[] = []
  for await (const event of node.services.dht.findProviders(cidOfDigest(digest), { signal: AbortSignal.timeout(OP_TIMEOUT_MS) })) {
    if (event.name === 'PROVIDER') from.push(event.from)
  }
  return from
}

/** Resolves with the next event `subscribe` reports. */
function nextEvent<T> (subscribe: (listener: (event: T) => void) => void): Promise<T> {
  return new Promise(resolve => { subscribe(resolve) })
}

test('a blob provided by A is found by C, which knows only B; self is never a provider', async t => {
  const { a, b, c } = await cluster(t)
  const onA = startDiscovery(t, a)
  const onC = startDiscovery(t, c)
  const lookups: number[] = []
  const onB = startDiscovery(t, b, { events: { onLookup: event => lookups.push(event.found) } })
  const digest = randomDigest()

  await onA.provide(digest)
  t.deepEqual(onA.provided(), [digest])
  const providers = await onC.findProviders(digest)
  t.is(providers.length, 1)
  t.true(providers[0]?.id.equals(a.peerId))
  const addrs = providers[0]?.multiaddrs.map(String) ?? []
  t.true(addrs.some(addr => addr.startsWith('/ip4/127.0.0.1/tcp/')), addrs.join(', '))
  t.is(new Set(addrs).size, addrs.length, 'addresses deduplicated')

  // A holds its own record, but a lookup never returns the asker itself.
  t.deepEqual(await onA.findProviders(digest), [])
  // maxProviders bounds the list; the events report each lookup.
  await onC.provide(digest)
  t.is((await onB.findProviders(digest)).length, 2)
  const one = new Discovery({ node: b }, { maxProviders: 1, findTimeoutMs: OP_TIMEOUT_MS })
  one.start()
  t.teardown(async () => { await one.stop() })
  t.is((await one.findProviders(digest)).length, 1)
  t.deepEqual(lookups, [2])
})

test('a withdrawn blob is no longer re-provided and disappears from the DHT when its records expire', async t => {
  const validity = { providerRecordValidityMs: 3_000, providerCleanupIntervalMs: 500 }
  const { a, b, key } = await cluster(t, validity)
  const provides: ProvideEvent[] = []
  const rounds: Array<(event: ReprovideRoundEvent) => void> = []
  const onA = startDiscovery(t, a, {
    reprovideIntervalMs: 1_000,
    events: {
      onProvide: event => provides.push(event),
      onReprovideRound: event => { rounds.splice(0).forEach(listener => { listener(event) }) }
    }
  })
  const kept = randomDigest()
  const withdrawn = randomDigest()
  await Promise.all([onA.provide(kept), onA.provide(withdrawn)])
  // Re-provided: kept alive past the records' validity by the rounds.
  const round = await nextEvent<ReprovideRoundEvent>(listener => rounds.push(listener))
  t.is(round.digests, 2)
  t.is(round.failed, 0)

  await onA.withdraw(withdrawn)
  t.deepEqual(onA.provided(), [kept])
  const announcedAfter = provides.length
  const next = await nextEvent<ReprovideRoundEvent>(listener => rounds.push(listener))
  t.is(next.digests, 1)
  const later = provides.slice(announcedAfter)
  t.true(later.length >= 1 && later.every(event => event.digest === kept && event.reprovide && event.ok), JSON.stringify(later))
  // A's own DHT no longer lists A for the withdrawn blob (its record was dropped), still does for the other.
  t.false(includes(await answeredBy(a, withdrawn), a.peerId))
  t.true(includes(await answeredBy(a, kept), a.peerId))

  // A fresh node finds A for the kept blob, and, once the copies on B and C have expired, not for the withdrawn one.
  const d = await startTestNode(t, { swarmKey: key, bootstrap: [address(b)], ...validity })
  const onD = startDiscovery(t, d, { findTimeoutMs: 5_000 })
  t.true(includes(await lookUntil(onD, kept, providers => includes(providers, a.peerId)), a.peerId))
  t.false(includes(await lookUntil(onD, withdrawn, providers => !includes(providers, a.peerId)), a.peerId))
  t.true(includes(await lookUntil(onD, kept, providers => includes(providers, a.peerId)), a.peerId), 'the kept blob outlived its validity')
})

test('concurrent provides of one blob make one announcement, and a provided blob is not announced again before its round', async t => {
  const { a } = await cluster(t)
  const provides: ProvideEvent[] = []
  let dhtProvides = 0
  const provide = a.contentRouting.provide.bind(a.contentRouting)
  a.contentRouting.provide = async (...args) => { dhtProvides++; await provide(...args) }
  const onA = startDiscovery(t, a, { events: { onProvide: event => provides.push(event) } })
  const digest = randomDigest()

  await Promise.all([onA.provide(digest), onA.provide(digest), onA.provide(digest)])
  t.is(dhtProvides, 1)
  t.is(provides.length, 1)
  t.like(provides[0], { digest, ok: true, reprovide: false })
  t.true((provides[0]?.seconds ?? -1) >= 0)
  await onA.provide(digest)
  t.is(dhtProvides, 1)

  // Withdrawn, then provided again: a new announcement.
  await onA.withdraw(digest)
  await onA.provide(digest)
  t.is(dhtProvides, 2)
})

test('provideLater announces once no blob came to it for the quiet time, each blob once; a provide meanwhile announces at once; stop ends the wait', async t => {
  const { a } = await cluster(t)
  const announced: string[] = []
  const provide = a.contentRouting.provide.bind(a.contentRouting)
  a.contentRouting.provide = async (cid, options) => { announced.push(cid.toString()); await provide(cid, options) }
  const provides: ProvideEvent[] = []
  const onA = startDiscovery(t, a, { laterQuietMs: 600, events: { onProvide: event => provides.push(event) } })
  const [first, second, third] = [randomDigest(), randomDigest(), randomDigest()]

  onA.provideLater(first)
  await new Promise(resolve => setTimeout(resolve, 400))
  onA.provideLater(second) // within the quiet time: the wait starts again
  await new Promise(resolve => setTimeout(resolve, 400))
  t.deepEqual(announced, [], 'nothing before a quiet time with no new blob')
  t.deepEqual(onA.provided().sort(), [first, second].sort(), 'both are in the re-provide set already')
  onA.provideLater(third)
  await onA.provide(third) // a caller that needs it now does not wait
  t.is(announced[0], cidOfDigest(third).toString())
  const deadline = Date.now() + OP_TIMEOUT_MS
  while (announced.length < 3 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 50))
  t.deepEqual(announced.slice(1).sort(), [cidOfDigest(first).toString(), cidOfDigest(second).toString()].sort())
  t.true(provides.every(e => e.ok && !e.reprovide))
  onA.provideLater(first) // announced already: nothing new to announce
  await new Promise(resolve => setTimeout(resolve, 900))
  t.is(announced.length, 3)

  // Stopped while waiting: the quiet time ends with it, nothing is announced after.
  onA.provideLater(randomDigest())
  await onA.stop()
  await new Promise(resolve => setTimeout(resolve, 900))
  t.is(announced.length, 3)
  onA.provideLater(randomDigest()) // on a stopped discovery: a no-op, not a throw
})

test('provideLater of a blob announced already does not postpone the blobs still waiting', async t => {
  const { a } = await cluster(t)
  const announcedAt = new Map<string, number>()
  const provide = a.contentRouting.provide.bind(a.contentRouting)
  a.contentRouting.provide = async (cid, options) => { announcedAt.set(cid.toString(), performance.now()); await provide(cid, options) }
  const onA = startDiscovery(t, a, { laterQuietMs: 1_000 })
  const [done, waiting] = [randomDigest(), randomDigest()]
  await onA.provide(done)

  const since = performance.now()
  onA.provideLater(waiting)
  await new Promise(resolve => setTimeout(resolve, 900))
  // A whole blob whose first piece announced it (the agent hands every verified blob on): nothing
  // new came, so the quiet time runs on. It used to start again here, to end ~1,900 ms after `since`.
  onA.provideLater(done)
  const deadline = Date.now() + OP_TIMEOUT_MS
  while (!announcedAt.has(cidOfDigest(waiting).toString()) && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  const after = (announcedAt.get(cidOfDigest(waiting).toString()) ?? Infinity) - since
  t.true(after >= 950 && after < 1_750, `announced ${after.toFixed(0)} ms after provideLater`)
})

test('announcePending announces what provideLater holds back at once, without the quiet time', async t => {
  const { a } = await cluster(t)
  const announced: string[] = []
  const provide = a.contentRouting.provide.bind(a.contentRouting)
  a.contentRouting.provide = async (cid, options) => { announced.push(cid.toString()); await provide(cid, options) }
  const onA = startDiscovery(t, a, { laterQuietMs: 60_000 })
  const digest = randomDigest()
  onA.provideLater(digest)
  onA.announcePending()
  const deadline = Date.now() + OP_TIMEOUT_MS
  while (announced.length === 0 && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 20))
  t.deepEqual(announced, [cidOfDigest(digest).toString()])
  onA.announcePending() // nothing held back any more
  await new Promise(resolve => setTimeout(resolve, 200))
  t.is(announced.length, 1)
})

test('a lookup on an empty DHT returns no providers within its timeout; stop aborts lookups under way', async t => {
  const node = await startTestNode(t, { swarmKey: testSwarmKey() })
  const lookups: number[] = []
  const findTimeoutMs = 1_500
  const discovery = startDiscovery(t, node, { findTimeoutMs, events: { onLookup: event => lookups.push(event.found) } })

  const started = Date.now()
  t.deepEqual(await discovery.findProviders(randomDigest()), [])
  t.true(Date.now() - started < findTimeoutMs + 2_000, `took ${Date.now() - started} ms`)
  t.deepEqual(lookups, [0])

  // The caller's signal: AbortError.
  await t.throwsAsync(discovery.findProviders(randomDigest(), { signal: AbortSignal.timeout(100) }), { name: 'AbortError' })

  const slow = new Discovery({ node }, { findTimeoutMs: 60_000 })
  slow.start()
  const stoppedAt = Date.now()
  const pending = slow.findProviders(randomDigest())
  await slow.stop()
  t.deepEqual(await pending, [])
  t.true(Date.now() - stoppedAt < 5_000)
  await t.throwsAsync(slow.provide(randomDigest()), { name: 'AbortError' })
})

test('a provide whose wait runs out is under way, not failed; one on a stopped discovery has ended; only the DHT refusing it is a failure', async t => {
  // A lone node: its DHT has nobody to store the record, so the announcement outlasts a short wait.
  const node = await startTestNode(t, { swarmKey: testSwarmKey() })
  const discovery = startDiscovery(t, node)
  const wait = AbortSignal.timeout(200)
  const err = await t.throwsAsync(discovery.provide(randomDigest(), { signal: wait }), { name: 'AbortError' })
  t.is(provideOutcome(err, wait), 'under-way')

  const stopped = new Discovery({ node }, {})
  stopped.start()
  await stopped.stop()
  const notRunning = AbortSignal.timeout(20_000)
  const ended = await t.throwsAsync(stopped.provide(randomDigest(), { signal: notRunning }), { name: 'AbortError' })
  t.is(provideOutcome(ended, notRunning), 'ended')

  t.is(provideOutcome(new ProvideFailedError('no peer took the record'), AbortSignal.timeout(20_000)), 'failed')
  t.is(provideOutcome(new ProvideFailedError('no peer took the record'), AbortSignal.abort()), 'failed', 'a failure, even once the wait is over')
})
