import { setTimeout as sleep } from 'node:timers/promises'
import test from 'ava'
import type { PeerId, Stream } from '@libp2p/interface'
import { IdleStreams } from '../../src/piece-exchange/idle-streams.ts'
import { peerIds } from '../layer-fetcher/piece-book-helpers.ts'

/** The parts of a Stream IdleStreams looks at, with what was done to it. */
class FakeStream extends EventTarget {
  status = 'open'
  readStatus = 'readable'
  writeStatus = 'writable'
  remoteReadStatus = 'readable'
  remoteWriteStatus = 'writable'
  closed = false
  aborted = false
  listeners = 0
  override addEventListener (...args: Parameters<EventTarget['addEventListener']>): void {
    this.listeners++
    super.addEventListener(...args)
  }

  override removeEventListener (...args: Parameters<EventTarget['removeEventListener']>): void {
    this.listeners--
    super.removeEventListener(...args)
  }
  async close (): Promise<void> {
    this.closed = true
    this.status = 'closed'
    this.dispatchEvent(new Event('close'))
  }

  abort (): void {
    this.aborted = true
    this.status = 'aborted'
    this.dispatchEvent(new Event('close'))
  }
}

const fake = (): FakeStream & Stream => new FakeStream() as unknown as FakeStream & Stream
const pool = (init: Partial<ConstructorParameters<typeof IdleStreams>[0]> = {}): IdleStreams =>
  new IdleStreams({ maxPerPeer: 2, idleMs: 60_000, closeGraceMs: 1_000, ...init })

test('a stream given back is taken again for its peer only, once', async t => {
  const [a, b] = await peerIds(2) as [PeerId, PeerId]
  const idle = pool()
  const s = fake()
  idle.give(a, s)
  t.is(idle.take(b), undefined)
  t.is(idle.take(a), s)
  t.is(idle.take(a), undefined)
  t.false(s.closed)
  for (let i = 0; i < 100; i++) {
    idle.give(a, s)
    idle.take(a)
  }
  t.is(s.listeners, 0, 'a stream given and taken many times keeps no listener of the pool')
})

test('past maxPerPeer a stream given back is closed, not kept', async t => {
  const [a] = await peerIds(1) as [PeerId]
  const idle = pool({ maxPerPeer: 2 })
  const streams = [fake(), fake(), fake()]
  for (const s of streams) idle.give(a, s)
  t.deepEqual(streams.map(s => s.closed), [false, false, true])
})

test('an idle stream is closed after idleMs; one the peer half-closed is closed instead of taken', async t => {
  const [a] = await peerIds(1) as [PeerId]
  const idle = pool({ idleMs: 50 })
  const old = fake()
  idle.give(a, old)
  await sleep(120)
  t.true(old.closed)
  t.is(idle.take(a), undefined)

  const ended = fake()
  idle.give(a, ended)
  ended.remoteWriteStatus = 'closed'
  t.is(idle.take(a), undefined)
  t.true(ended.closed)
})

test('a stream that closes while idle leaves the pool; closeAll closes the rest', async t => {
  const [a, b] = await peerIds(2) as [PeerId, PeerId]
  const idle = pool()
  const gone = fake()
  const kept = [fake(), fake()]
  idle.give(a, gone)
  idle.give(b, kept[0]!)
  idle.give(b, kept[1]!)
  gone.abort()
  t.is(idle.take(a), undefined)
  idle.closeAll()
  t.true(kept.every(s => s.closed))
  t.is(idle.take(b), undefined)
})
