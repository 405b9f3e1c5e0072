import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import { PieceBook } from '../../src/layer-fetcher/piece-book.ts'
import { SwarmView } from '../../src/layer-fetcher/peer-swarm.ts'
import type { SwarmViewInit } from '../../src/layer-fetcher/peer-swarm.ts'
import { bitfieldOf, peerIds, planned, table } from './piece-book-helpers.ts'

/** A peer that reports pieces 0 and 1 after `delayMs`, unless the request's signal ends first. */
function slowClient (delayMs: number): SwarmViewInit['client'] & { asks: number } {
  const client = {
    asks: 0,
    bitfield: async (_peer: unknown, _digest: unknown, count: number, options?: { signal?: AbortSignal }) => {
      client.asks++
      await sleep(delayMs, undefined, { signal: options?.signal })
      return { bitfield: bitfieldOf(count, [0, 1]), complete: false }
    },
    pieceTable: async () => { throw new Error('not asked: the table is whole') }
  }
  return client
}

test('a refresh shared by two waiters goes on for the second when the first gives up', async t => {
  const [id] = await peerIds(1)
  const peer = planned(id!, 2, [0])
  const book = new PieceBook({ table: table(2), peers: [peer] }, { stallMs: 60_000 })
  const client = slowClient(100)
  const view = new SwarmView(book, { client, answerTimeoutMs: 5_000 })
  const first = new AbortController()
  const firstWait = view.refresh(first.signal)
  const secondWait = view.refresh(AbortSignal.timeout(5_000))
  await sleep(20)
  first.abort()
  const error = await t.throwsAsync(firstWait)
  t.is(error?.name, 'AbortError')
  await secondWait
  t.is(client.asks, 1, 'one request for both')
  t.deepEqual(book.holders(1).map(p => p.id), [peer.id], 'the answer reached the book')
  t.false(book.isDropped(peer.id))
})

test('stop ends the refresh under way; the peer is not dropped for it', async t => {
  const [id] = await peerIds(1)
  const peer = planned(id!, 2, [0])
  const book = new PieceBook({ table: table(2), peers: [peer] }, { stallMs: 60_000 })
  const view = new SwarmView(book, { client: slowClient(10_000), answerTimeoutMs: 20_000 })
  const waiting = view.refresh(AbortSignal.timeout(20_000))
  await sleep(20)
  view.stop()
  const error = await t.throwsAsync(waiting)
  t.is(error?.name, 'AbortError')
  t.false(book.isDropped(peer.id))
  await t.throwsAsync(view.refresh(AbortSignal.timeout(1_000)), { name: 'AbortError' }, 'a stopped view is not refreshed again')
})
