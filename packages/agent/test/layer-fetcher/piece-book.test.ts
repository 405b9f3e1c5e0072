import test from 'ava'
import { PeerLatency } from '../../src/layer-fetcher/peer-latency.ts'
import { PieceBook } from '../../src/layer-fetcher/piece-book.ts'
import { bitfieldOf, manualClock, peerIds, planned, table } from './piece-book-helpers.ts'

test('a peer that answered BUSY is passed over for a moment while another holder is free, not forgotten or dropped', async t => {
  const [idA, idB] = await peerIds(2)
  const [a, b] = [planned(idA!, 2, [0, 1]), planned(idB!, 2, [0])]
  const clock = manualClock()
  const book = new PieceBook({ table: table(2), peers: [a, b] }, { stallMs: 3_000, now: clock.now, busyBackoffMs: 250 })
  t.deepEqual(book.holders(0).map(p => p.id), [a.id, b.id])
  book.busy(a.id)
  t.deepEqual(book.holders(0).map(p => p.id), [b.id], 'a is passed over while b is free')
  t.deepEqual(book.holders(1).map(p => p.id), [a.id], 'a busy peer that alone holds a piece is still named')
  t.is(book.busyFor(a.id), 250)
  t.is(book.busyFor(b.id), 0)
  t.false(book.isDropped(a.id))
  t.true(a.bitfield.has(0), 'its bitfield is kept')
  clock.advance(250)
  t.deepEqual(book.holders(0).map(p => p.id), [a.id, b.id], 'after the pause it is asked again')
})

test('a peer whose requests fail without an answer is passed over for a pause that doubles; one incident counts once; the third drops it; an answer forgives', async t => {
  const [idA, idB] = await peerIds(2)
  const [a, b] = [planned(idA!, 2, [0, 1]), planned(idB!, 2, [0])]
  const clock = manualClock()
  const book = new PieceBook({ table: table(2), peers: [a, b] }, { stallMs: 3_000, now: clock.now, failureBackoffMs: 1_000, maxFailures: 3 })
  t.false(book.failed(a.id))
  t.is(book.busyFor(a.id), 1_000)
  t.deepEqual(book.holders(0).map(p => p.id), [b.id], 'passed over while another holder is free')
  t.deepEqual(book.holders(1).map(p => p.id), [a.id], 'still named where it alone holds a piece')
  t.false(book.failed(a.id), 'the other requests that were on the same connection')
  t.is(book.busyFor(a.id), 1_000, 'do not lengthen the pause or count again')
  clock.advance(1_000)
  t.false(book.failed(a.id))
  t.is(book.busyFor(a.id), 2_000, 'the second pause is twice the first')
  clock.advance(2_000)
  book.answered(a.id)
  t.false(book.failed(a.id))
  t.is(book.busyFor(a.id), 1_000, 'an answer in between starts the count again')
  clock.advance(1_000)
  t.false(book.failed(a.id))
  clock.advance(2_000)
  t.true(book.failed(a.id), 'the third failure in a row drops it')
  t.true(book.isDropped(a.id))
  t.deepEqual(book.holders(1), [])
  t.false(book.failed(a.id), 'a dropped peer is not dropped again')
})

test('NOT_FOUND clears the piece until the next bitfield; a peer that keeps refusing is dropped', async t => {
  const [id] = await peerIds(1)
  const peer = planned(id!, 3, [0, 1, 2])
  const book = new PieceBook({ table: table(3), peers: [peer] }, { stallMs: 3_000, maxRefusals: 2 })
  book.forget(peer.id, 1)
  t.deepEqual(book.holders(1), [])
  t.false(peer.complete, 'a peer that holds less than it said is asked again')
  t.deepEqual(book.growingPeers().map(p => p.id), [peer.id])
  t.is(book.updatePeer(peer, { bitfield: bitfieldOf(3, [0, 1, 2]), complete: true }), 0, 'nothing beyond what it reported before')
  t.deepEqual(book.holders(1).map(p => p.id), [peer.id])
  book.forget(peer.id, 0)
  t.false(book.isDropped(peer.id))
  book.forget(peer.id, 2)
  t.true(book.isDropped(peer.id), 'the third refusal drops it')
  t.deepEqual(book.holders(1), [])
})

test('a piece the table does not name has no holder; a table learned from a peer fills it and counts that peer as a table source', async t => {
  const [id] = await peerIds(1)
  const peer = planned(id!, 2, [0, 1])
  const book = new PieceBook({ table: table(2, [1]), peers: [peer] }, { stallMs: 3_000 })
  t.deepEqual(book.holders(1), [])
  t.is(book.learnTable(table(2), peer.id), 1)
  t.deepEqual(book.holders(1).map(p => p.id), [peer.id])
  t.deepEqual([...book.tableSources], [peer.id.toString()])
  t.true(book.tableSource?.equals(peer.id))
})

test('a stall: no progress for the stall time while peers grow; none growing and nothing expected is a stall at once', async t => {
  const [id] = await peerIds(1)
  const clock = manualClock()
  let expectMore = true
  const book = new PieceBook({ table: table(2), peers: [planned(id!, 2, [0])] }, { stallMs: 3_000, now: clock.now, expectMore: () => expectMore })
  clock.advance(3_000)
  t.false(book.stalled())
  clock.advance(1)
  t.true(book.stalled())
  book.progressed()
  t.false(book.stalled())
  book.drop(id!)
  t.false(book.stalled(), 'the scheduler may still send parents')
  expectMore = false
  t.true(book.stalled(), 'nobody is downloading the blob and nothing more will come')
})

test('no stall while pieces of other blobs still come to this agent; once nothing comes anywhere for the stall time, a stall', async t => {
  const [id] = await peerIds(1)
  const clock = manualClock()
  let elsewhere: number | undefined
  const book = new PieceBook({ table: table(2), peers: [planned(id!, 2, [0])] }, { stallMs: 3_000, now: clock.now, expectMore: () => true, progressElsewhereAt: () => elsewhere })
  for (let i = 0; i < 5; i++) {
    clock.advance(2_000)
    elsewhere = clock.now()
  }
  t.false(book.stalled(), '10 s without a piece of this blob, but another blob\'s piece came just now')
  clock.advance(3_001)
  t.true(book.stalled(), 'nothing anywhere for the stall time')
})

test('no stall while this agent reads assigned pieces from the origin: the clock starts when the last read ends', async t => {
  const [id] = await peerIds(1)
  const clock = manualClock()
  const book = new PieceBook({ table: table(3), peers: [planned(id!, 3, [])] }, { stallMs: 3_000, now: clock.now })
  book.originReadStarted()
  book.originReadStarted()
  clock.advance(10_000)
  t.false(book.stalled(), 'the other claimers read from the same slow origin')
  book.originReadEnded(true)
  clock.advance(10_000)
  t.false(book.stalled(), 'one read is still under way')
  book.originReadEnded(true)
  clock.advance(3_000)
  t.false(book.stalled())
  clock.advance(1)
  t.true(book.stalled(), 'the stall time after the last read ended')
  book.originReadStarted()
  book.drop(id!)
  t.true(book.stalled(), 'nobody left to wait for: a read of its own does not hold the stall back')
})

test('an assigned origin read that failed or was given up does not start the stall clock again: read-ahead retrying it cannot hold the stall back', async t => {
  const [id] = await peerIds(1)
  const clock = manualClock()
  const book = new PieceBook({ table: table(3), peers: [planned(id!, 3, [])] }, { stallMs: 3_000, now: clock.now })
  for (let i = 0; i < 40; i++) {
    book.originReadStarted()
    clock.advance(100)
    book.originReadEnded(false)
  }
  t.true(book.stalled(), '4 s of failing reads and no progress: the stall time has passed')
  book.originReadStarted()
  clock.advance(100)
  book.originReadEnded(true)
  t.false(book.stalled(), 'a read that brought its piece is progress')
})

test('whom to ask: the holder with fewest requests from this download, equals at random', async t => {
  const [idA, idB, idC] = await peerIds(3)
  const peers = [planned(idA!, 1, [0]), planned(idB!, 1, [0]), planned(idC!, 1, [])]
  let coin = 0
  const book = new PieceBook({ table: table(1), peers }, { stallMs: 3_000, random: () => coin })
  t.true(book.whomToAsk(0)?.id.equals(idA!))
  coin = 0.99
  t.true(book.whomToAsk(0)?.id.equals(idB!))
  book.asking(idB!, 1)
  t.true(book.whomToAsk(0)?.id.equals(idA!), 'b has a request open')
  book.asking(idA!, 1)
  book.asking(idA!, 1)
  t.true(book.whomToAsk(0)?.id.equals(idB!))
  book.asking(idA!, -1)
  book.asking(idA!, -1)
  book.asking(idB!, -1)
  t.is(book.load(idA!), 0)
  book.drop(idA!)
  book.drop(idB!)
  t.is(book.whomToAsk(0), undefined, 'c holds nothing')
})

test('whom to ask: a holder that has lately been slow to answer is passed over while a quick one holds the piece', async t => {
  const [reader, idle] = await peerIds(2)
  const latency = new PeerLatency()
  const book = new PieceBook({ table: table(1), peers: [planned(reader!, 1, [0]), planned(idle!, 1, [0])] }, { stallMs: 3_000, random: () => 0, latency: id => latency.expected(id.toString()) })
  t.true(book.whomToAsk(0)?.id.equals(reader!), 'neither heard from: the first of equals')
  latency.observe(reader!.toString(), 3)
  t.true(book.whomToAsk(0)?.id.equals(idle!), 'not heard from yet: tried before a peer that queues for 3 s')
  latency.observe(idle!.toString(), 0.2)
  for (let i = 0; i < 10; i++) book.asking(idle!, 1)
  t.true(book.whomToAsk(0)?.id.equals(idle!), '11 x 0.2 s is still less than 1 x 3 s')
  for (let i = 0; i < 5; i++) book.asking(idle!, 1)
  t.true(book.whomToAsk(0)?.id.equals(reader!), '16 x 0.2 s is more')
  latency.observe(reader!.toString(), 0)
  t.true(Math.abs(latency.expected(reader!.toString())! - 2.1) < 1e-9, 'a weighted mean: 3 + 0.3 x (0 - 3)')
})
