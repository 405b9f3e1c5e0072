import test from 'ava'
import type { ExecutionContext } from 'ava'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { Bitfield, digestOf, SchedulerMessage } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import type { P2pNode } from '@shoal/p2p'
import { SchedulerClient } from '../../src/scheduler-client/client.ts'
import type { HeldTask } from '../../src/scheduler-client/client.ts'
import { rendezvousOrder } from '../../src/rendezvous.ts'
import { startTestNode, testSwarmKey } from '../helpers/p2p.ts'
import { fakeScheduler, waitUntil } from './fake-scheduler.ts'
import type { FakeScheduler } from './fake-scheduler.ts'

const MiB = 1024 * 1024

function addrOf (node: P2pNode): string {
  const addr = node.getMultiaddrs()[0]!.toString()
  return addr.includes('/p2p/') ? addr : `${addr}/p2p/${node.peerId.toString()}`
}

function announced (scheduler: FakeScheduler, digest: Digest): boolean {
  return scheduler.received.some(m => m.kind === 'announceTask' && m.digest === digest)
}

/** A fake scheduler's answer: Registered to a registration, nothing else. */
async function registered (message: { kind: string }, lp: { write: (b: Uint8Array) => Promise<void> }): Promise<void> {
  if (message.kind === 'register') await lp.write(SchedulerMessage.encode({ registered: { reportIntervalMs: 100 } }))
}

/** A started client of `agent` holding `tasks`, quick to reconnect, stopped at teardown. */
function startClient (t: ExecutionContext, agent: P2pNode, tasks: HeldTask[], schedulers: Multiaddr[]): SchedulerClient {
  const client = new SchedulerClient({ node: agent }, {
    schedulers,
    registration: () => ({ addresses: agent.getMultiaddrs(), hostName: 'agent', uploadSlots: 4 }),
    heldTasks: () => tasks,
    reconnectMinMs: 50,
    reconnectMaxMs: 200
  })
  client.start()
  t.teardown(async () => { await client.stop() })
  return client
}

test('each held blob is announced to its rendezvous scheduler; when that one goes, to the next; when none is left, sessionFor is undefined', async t => {
  const key = testSwarmKey()
  const schedulers = [await fakeScheduler(t, key, registered), await fakeScheduler(t, key, registered)]
  const agent = await startTestNode(t, { swarmKey: key })
  const tasks: HeldTask[] = Array.from({ length: 8 }, (_, i) => ({ digest: digestOf(new TextEncoder().encode(`blob ${i}`)), size: MiB, bitfield: new Bitfield(1), wantsPieces: false }))
  const client = startClient(t, agent, tasks, schedulers.map(s => multiaddr(addrOf(s.node))))
  await waitUntil(() => client.connected === 2, 'two sessions')

  const keyed = schedulers.map(s => ({ key: s.node.peerId.toString(), s }))
  const ownerOf = (digest: Digest): FakeScheduler => rendezvousOrder(keyed, digest)[0]!.s
  await waitUntil(() => tasks.every(task => announced(ownerOf(task.digest), task.digest)), 'announcements to the owners')
  for (const task of tasks) t.true(client.sessionFor(task.digest)?.scheduler.equals(ownerOf(task.digest).node.peerId), 'the rendezvous owner serves the blob')

  // The first scheduler goes away: its blobs are announced to the second.
  const [gone, left] = schedulers as [FakeScheduler, FakeScheduler]
  await gone.node.stop()
  await waitUntil(() => client.connected === 1, 'one session')
  await waitUntil(() => tasks.every(task => announced(left, task.digest)), 'announcements to the one left')
  for (const task of tasks) t.true(client.sessionFor(task.digest)?.scheduler.equals(left.node.peerId))

  await left.node.stop()
  await waitUntil(() => client.connected === 0, 'no session')
  t.is(client.sessionFor(tasks[0]!.digest), undefined, 'no scheduler: the agent goes on with the DHT and the origin')
  t.false(client.announce(tasks[0]!))
})

test('setFound: schedulers found at run time get sessions keyed by peer id; one no longer found is dropped and its blobs move', async t => {
  const key = testSwarmKey()
  const schedulers = [await fakeScheduler(t, key, registered), await fakeScheduler(t, key, registered)] as [FakeScheduler, FakeScheduler]
  const agent = await startTestNode(t, { swarmKey: key })
  const tasks: HeldTask[] = Array.from({ length: 8 }, (_, i) => ({ digest: digestOf(new TextEncoder().encode(`found ${i}`)), size: MiB, bitfield: new Bitfield(1), wantsPieces: false }))
  const client = startClient(t, agent, tasks, [])
  // As DnsPeers finds them: bare addresses, the id learned at the handshake.
  const found = (s: FakeScheduler): { id: P2pNode['peerId'], addresses: Multiaddr[] } => ({ id: s.node.peerId, addresses: [multiaddr(addrOf(s.node).replace(/\/p2p\/.*/, ''))] })
  const [a, b] = schedulers
  client.setFound([found(a)])
  await waitUntil(() => client.connected === 1, 'a session with the first')
  await waitUntil(() => tasks.every(task => announced(a, task.digest)), 'every blob announced to the only one')

  client.setFound([found(a), found(b)])
  client.setFound([found(a), found(b)])
  await waitUntil(() => client.connected === 2, 'a session with each, once')
  const keyed = schedulers.map(s => ({ key: s.node.peerId.toString(), s }))
  const ownerOf = (digest: Digest): FakeScheduler => rendezvousOrder(keyed, digest)[0]!.s
  t.true(tasks.some(task => ownerOf(task.digest) === b), 'the second owns some blobs')
  await waitUntil(() => tasks.every(task => announced(ownerOf(task.digest), task.digest)), 'the blobs the second owns announced to it')
  for (const task of tasks) t.true(client.sessionFor(task.digest)?.scheduler.equals(ownerOf(task.digest).node.peerId), 'rendezvous over the found set')

  // The first leaves the record set: dropped though it still answers; everything goes to the second.
  const before = b.received.length
  client.setFound([found(b)])
  t.is(client.connected, 1)
  for (const task of tasks) t.true(client.sessionFor(task.digest)?.scheduler.equals(b.node.peerId))
  await waitUntil(() => tasks.every(task => announced(b, task.digest)), 'every blob announced to the one left')
  t.true(b.received.length > before)
  await new Promise(resolve => setTimeout(resolve, 300))
  t.is(client.connected, 1, 'the dropped one is not redialled')
})
