import test from 'ava'
import { Bitfield, digestOf, SchedulerMessage } from '@shoal/proto'
import type { P2pNode } from '@shoal/p2p'
import { SchedulerSession } from '../../src/scheduler-client/session.ts'
import type { Registration } from '../../src/scheduler-client/session.ts'
import { startTestNode, testSwarmKey } from '../helpers/p2p.ts'
import { fakeScheduler, waitUntil } from './fake-scheduler.ts'

const digest = digestOf(new TextEncoder().encode('a layer'))
/** The piece size of blobs up to 16 PIECE (pieceSizeFor): N * PIECE is a blob of N pieces. */
const PIECE = 256 * 1024

function registration (node: P2pNode): Registration {
  return { addresses: node.getMultiaddrs(), hostName: 'agent-1', site: 'edge-1', zone: 'eu', uploadSlots: 8 }
}

test('an agent registers, announces a task, and gets the scheduler\'s parents and origin assignment on the same stream', async t => {
  const key = testSwarmKey()
  const scheduler = await fakeScheduler(t, key, async (message, lp) => {
    if (message.kind === 'register') await lp.write(SchedulerMessage.encode({ registered: { reportIntervalMs: 200 } }))
    if (message.kind === 'announceTask') {
      await lp.write(SchedulerMessage.encode({ origin: { digest: message.digest, pieces: [0, 2] } }))
      await lp.write(SchedulerMessage.encode({ parents: { digest: message.digest, parents: [] } }))
    }
  })
  const agent = await startTestNode(t, { swarmKey: key })
  const session = await SchedulerSession.open(agent, scheduler.node.getMultiaddrs()[0]!, registration(agent))
  t.teardown(() => { session.close() })
  t.is(session.reportIntervalMs, 200)
  t.true(session.scheduler.equals(scheduler.node.peerId))
  const origin = new Promise(resolve => session.once('origin', resolve))
  const parents = new Promise(resolve => session.once('parents', resolve))
  session.announce({ digest, size: 3 * PIECE, bitfield: new Bitfield(3), wantsPieces: true })
  t.deepEqual(await origin, { kind: 'origin', digest, pieces: [0, 2] })
  t.deepEqual(await parents, { kind: 'parents', digest, parents: [] })
  session.piecesFinished({ digest, indexes: [0], source: 'origin', bytes: PIECE })
  session.pieceFailed({ digest, index: 1, parent: scheduler.node.peerId, reason: 'timeout' })
  await waitUntil(() => scheduler.received.length >= 4)
  t.like(scheduler.received[0], { kind: 'register', hostName: 'agent-1', site: 'edge-1', zone: 'eu', uploadSlots: 8 })
  t.like(scheduler.received[1], { kind: 'announceTask', digest, size: 3 * PIECE, wantsPieces: true })
  t.like(scheduler.received[2], { kind: 'piecesFinished', digest, indexes: [0], source: 'origin', bytes: PIECE })
  t.like(scheduler.received[3], { kind: 'pieceFailed', digest, index: 1, reason: 'timeout' })
})

test('a scheduler that never answers the registration is SchedulerUnavailableError; one that sends garbage closes the session with the error', async t => {
  const key = testSwarmKey()
  const silent = await fakeScheduler(t, key, async () => {})
  const agent = await startTestNode(t, { swarmKey: key })
  await t.throwsAsync(SchedulerSession.open(agent, silent.node.getMultiaddrs()[0]!, registration(agent), { signal: AbortSignal.timeout(500) }), { name: 'SchedulerUnavailableError' })

  const broken = await fakeScheduler(t, key, async (message, lp) => {
    if (message.kind === 'register') await lp.write(SchedulerMessage.encode({ registered: { reportIntervalMs: 100 } }))
    if (message.kind === 'leaveTask') await lp.write(new Uint8Array([0xff, 0xff, 0xff]))
  })
  const session = await SchedulerSession.open(agent, broken.node.getMultiaddrs()[0]!, registration(agent))
  const closed = new Promise<Error | undefined>(resolve => session.once('close', resolve))
  session.leaveTask(digest)
  t.is((await closed)?.name, 'InvalidMessageError')
  t.true(session.closed)
})

test('a scheduler that closes its end closes the session without an error', async t => {
  const key = testSwarmKey()
  const scheduler = await fakeScheduler(t, key, async (message, lp, stream) => {
    if (message.kind === 'register') await lp.write(SchedulerMessage.encode({ registered: { reportIntervalMs: 100 } }))
    if (message.kind === 'leaveTask') await stream.close()
  })
  const agent = await startTestNode(t, { swarmKey: key })
  const session = await SchedulerSession.open(agent, scheduler.node.getMultiaddrs()[0]!, registration(agent))
  const closed = new Promise<Error | undefined>(resolve => session.once('close', resolve))
  session.leaveTask(digest)
  t.is(await closed, undefined)
})
