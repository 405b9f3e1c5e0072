import test from 'ava'
import { digestOf } from '@shoal/proto'
import type { Digest } from '@shoal/proto'
import { ReadAhead } from '../../src/layer-fetcher/read-ahead.ts'
import type { Piece } from '../../src/layer-fetcher/sources/piece-source.ts'

function memoryStore (): { stored: Map<number, Uint8Array>, store: ConstructorParameters<typeof ReadAhead>[0]['store'] } {
  const stored = new Map<number, Uint8Array>()
  return {
    stored,
    store: {
      has: index => stored.has(index),
      write: async (index, chunks) => { stored.set(index, joined(chunks)) },
      read: async index => stored.get(index) ?? new Uint8Array()
    }
  }
}

const pieceBytes = (index: number): Uint8Array => new TextEncoder().encode(`piece ${index}`)
const joined = (chunks: readonly Uint8Array[] = []): Uint8Array => new Uint8Array(Buffer.concat(chunks))


/** A fetch that tells `asked` of each piece, then holds it until its gate (kept in `gates`) opens. */
function gatedFetch (gates: Map<number, PromiseWithResolvers<void>>, asked: (index: number) => void, from: 'peer' | 'origin'): (index: number) => Promise<Piece> {
  return async index => {
    asked(index)
    const gate = Promise.withResolvers<void>()
    gates.set(index, gate)
    await gate.promise
    const bytes = pieceBytes(index)
    return { chunks: [bytes], digest: digestOf(bytes), from }
  }
}
test('assigned pieces first, lowest first; then the rarest held ones (equals at random); nothing behind the stream\'s head', async t => {
  const { stored, store } = memoryStore()
  const order: number[] = []
  const holders = [0, 3, 1, 2, 0, 1, 5, 0]
  let head = 1
  const ahead = new ReadAhead({
    pieceCount: 8,
    assigned: () => new Set([7, 4]),
    holders: index => holders[index] ?? 0,
    head: () => head,
    fetch: async index => {
      order.push(index)
      const bytes = pieceBytes(index)
      return { chunks: [bytes], digest: digestOf(bytes), from: 'peer' as const }
    },
    store,
    workers: 1,
    idleMs: 5
  })
  ahead.start()
  await new Promise(resolve => setTimeout(resolve, 100))
  head = 0
  await new Promise(resolve => setTimeout(resolve, 50))
  await ahead.stop()
  // Assigned 4 and 7; then held pieces by rarity: 2 and 5 (one holder, either first), 3 (two), 1 (three), 6 (five); 0 was behind the head, then has no holder.
  t.deepEqual(order.slice(0, 2), [4, 7])
  t.deepEqual(order.slice(2, 4).sort(), [2, 5])
  t.deepEqual(order.slice(4), [3, 1, 6])
  t.deepEqual([...stored.keys()].sort(), [1, 2, 3, 4, 5, 6, 7])
  const taken = await ahead.take(5)
  t.deepEqual(joined(taken?.chunks), pieceBytes(5))
  t.is(taken?.digest, digestOf(pieceBytes(5)))
  t.is(ahead.take(0), undefined)
})

test('the stream takes a piece still under way from memory; a failed piece is left to the stream and tried again later', async t => {
  const { store } = memoryStore()
  const gate = Promise.withResolvers<void>()
  let attempts = 0
  const ahead = new ReadAhead({
    pieceCount: 2,
    assigned: () => new Set([0, 1]),
    holders: () => 0,
    head: () => 0,
    fetch: async index => {
      if (index === 1 && attempts++ === 0) throw new Error('no slot')
      if (index === 0) await gate.promise
      const bytes = pieceBytes(index)
      return { chunks: [bytes], digest: digestOf(bytes) as Digest, from: 'peer' as const }
    },
    store,
    workers: 2,
    idleMs: 5
  })
  ahead.start()
  await new Promise(resolve => setTimeout(resolve, 20))
  const underWay = ahead.take(0)
  t.not(underWay, undefined)
  gate.resolve()
  t.deepEqual(joined((await underWay)?.chunks), pieceBytes(0))
  await new Promise(resolve => setTimeout(resolve, 50))
  await ahead.stop()
  t.true(attempts >= 2, 'piece 1 was tried again after its failure')
  t.deepEqual(joined((await ahead.take(1))?.chunks), pieceBytes(1))
})

test('a piece picked again after a failed try stays the stream\'s to take while its second try is stored', async t => {
  const stored = new Map<number, Uint8Array>()
  const writing = Promise.withResolvers<void>()
  let fetches = 0
  const ahead = new ReadAhead({
    pieceCount: 1,
    assigned: () => new Set(),
    holders: () => 1,
    head: () => 0,
    fetch: async index => {
      // The first try finds no holder free; the second gets the piece.
      if (fetches++ === 0) throw new Error('busy')
      const bytes = pieceBytes(index)
      return { chunks: [bytes], digest: digestOf(bytes), from: 'peer' as const }
    },
    store: {
      has: index => stored.has(index),
      write: async (index, chunks) => { await writing.promise; stored.set(index, joined(chunks)) },
      read: async index => stored.get(index) ?? new Uint8Array()
    },
    workers: 2,
    idleMs: 50
  })
  ahead.start()
  // The failed worker pauses 50 ms; the idle one picks the piece again meanwhile and is still
  // storing it (held at the gate) when that pause ends. The first try's end must not hide the second.
  for (let waited = 0; fetches < 2 && waited < 5_000; waited += 10) await new Promise(resolve => setTimeout(resolve, 10))
  t.is(fetches, 2)
  await new Promise(resolve => setTimeout(resolve, 100))
  const second = ahead.take(0)
  t.not(second, undefined, 'the second try is under way: the stream takes it rather than fetching the piece again')
  writing.resolve()
  t.deepEqual(joined((await second)?.chunks), pieceBytes(0))
  await ahead.stop()
  t.is(fetches, 2)
})

test('one assigned piece at a time: while it is read the other workers take held pieces; idle workers ask for fresh bitfields', async t => {
  const { store } = memoryStore()
  const gates = new Map<number, PromiseWithResolvers<void>>()
  const started: number[] = []
  let refreshes = 0
  const ahead = new ReadAhead({
    pieceCount: 6,
    assigned: () => new Set([0, 1, 2]),
    holders: index => index >= 3 ? 1 : 0,
    head: () => 0,
    fetch: gatedFetch(gates, index => { started.push(index) }, 'peer'),
    store,
    // One more worker than there is to read: it idles.
    workers: 5,
    idleMs: 5,
    refresh: async () => { refreshes++ }
  })
  ahead.start()
  await new Promise(resolve => setTimeout(resolve, 50))
  t.deepEqual([...started].sort(), [0, 3, 4, 5], 'one assigned piece (the lowest), the held ones beside it')
  gates.get(0)?.resolve()
  await new Promise(resolve => setTimeout(resolve, 50))
  t.true(started.includes(1) && !started.includes(2), 'the next assigned piece once the first is read')
  t.true(refreshes > 0, 'a worker with nothing to read asked for fresh bitfields')
  for (const gate of gates.values()) gate.resolve()
  await new Promise(resolve => setTimeout(resolve, 20))
  for (const gate of gates.values()) gate.resolve()
  await ahead.stop()
})

test('a run of consecutive assigned pieces is asked for in one turn, up to originRun; the next run once it is read', async t => {
  const { store } = memoryStore()
  const gates = new Map<number, PromiseWithResolvers<void>>()
  const turns: number[][] = []
  let turn: number[] | undefined
  const ahead = new ReadAhead({
    pieceCount: 10,
    assigned: () => new Set([0, 1, 2, 4, 5, 6, 7, 8]),
    holders: () => 0,
    head: () => 0,
    fetch: gatedFetch(gates, index => {
      // Pieces asked for in the same turn (before any callback runs) land in one list.
      if (turn == null) {
        turn = []
        turns.push(turn)
        queueMicrotask(() => { turn = undefined })
      }
      turn.push(index)
    }, 'origin'),
    store,
    workers: 2,
    idleMs: 5,
    originRun: 3
  })
  ahead.start()
  await new Promise(resolve => setTimeout(resolve, 30))
  t.deepEqual(turns, [[0, 1, 2]], 'the run stops at a piece not assigned (3); the other worker has no held piece to take')
  for (const index of [0, 1, 2]) gates.get(index)?.resolve()
  await new Promise(resolve => setTimeout(resolve, 30))
  t.deepEqual(turns, [[0, 1, 2], [4, 5, 6]], 'at most originRun pieces')
  for (const index of [4, 5, 6]) gates.get(index)?.resolve()
  await new Promise(resolve => setTimeout(resolve, 30))
  t.deepEqual(turns.at(-1), [7, 8])
  for (const gate of gates.values()) gate.resolve()
  await ahead.stop()
})

test('an assigned (origin) read that keeps failing is tried again after pauses that double; a piece no holder gave now, after the idle pause', async t => {
  const { store } = memoryStore()
  const tries = { origin: [] as number[], peer: 0 }
  const ahead = new ReadAhead({
    pieceCount: 2,
    assigned: () => new Set([0]),
    holders: index => index === 1 ? 1 : 0,
    head: () => 0,
    fetch: async index => {
      if (index === 0) tries.origin.push(performance.now())
      else tries.peer++
      throw new Error('not now')
    },
    store,
    workers: 2,
    idleMs: 20
  })
  ahead.start()
  await new Promise(resolve => setTimeout(resolve, 700))
  await ahead.stop()
  // 20, 40, 80, 160, 320 ms apart: 5 or 6 tries in 700 ms (about 35 at a fixed 20 ms).
  t.true(tries.origin.length >= 2 && tries.origin.length <= 7, `${tries.origin.length} origin tries`)
  const gaps = tries.origin.slice(1).map((at, i) => at - (tries.origin[i] ?? 0))
  t.true(Math.max(...gaps) >= 150, `gaps ${gaps.map(g => g.toFixed(0)).join(', ')} ms`)
  t.true(tries.peer >= 15, `${tries.peer} tries of the held piece at the idle pause`)
})
