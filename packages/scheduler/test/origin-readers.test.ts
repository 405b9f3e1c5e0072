import test from 'ava'
import fc from 'fast-check'
import { chooseOriginReaders } from '../src/origin-readers.ts'
import type { PeerKey } from '../src/types.ts'

const k = (s: string): PeerKey => s as PeerKey

test('the downloaders reading the fewest other tasks first, then the first arrivals', t => {
  const load = new Map([[k('a'), 2], [k('b'), 0], [k('c'), 1], [k('d'), 0]])
  t.deepEqual(chooseOriginReaders([k('a'), k('b'), k('c'), k('d')], 3, p => load.get(p) ?? 0), [k('b'), k('d'), k('c')])
  t.deepEqual(chooseOriginReaders([k('a'), k('b')], 5, () => 0), [k('a'), k('b')], 'fewer downloaders than readers: all of them, in arrival order')
  t.deepEqual(chooseOriginReaders([k('a')], 0, () => 0), [])
})

test('three cold tasks wanted by the same eight agents in the same order get readers spread over the agents', t => {
  const agents = Array.from({ length: 8 }, (_, i) => k(`p${i}`))
  const load = new Map<PeerKey, number>()
  const readers = [0, 1, 2].map(() => {
    const chosen = chooseOriginReaders(agents, 3, p => load.get(p) ?? 0)
    for (const p of chosen) load.set(p, (load.get(p) ?? 0) + 1)
    return chosen
  })
  t.is(new Set(readers.flat()).size, 8, 'every agent reads for some task')
  t.true(Math.max(...load.values()) <= 2)
})

test('property: the chosen are distinct downloaders, as many as asked for (or all), none with more load than one left out', t => {
  fc.assert(fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 4 }), { maxLength: 20 }), fc.array(fc.nat(5), { minLength: 20, maxLength: 20 }), fc.nat(10), (names, loads, count) => {
    const peers = names.map(k)
    const load = new Map(peers.map((p, i) => [p, loads[i] ?? 0]))
    const chosen = chooseOriginReaders(peers, count, p => load.get(p) ?? 0)
    if (chosen.length !== Math.min(count, peers.length)) return false
    if (new Set(chosen).size !== chosen.length || chosen.some(p => !peers.includes(p))) return false
    const left = peers.filter(p => !chosen.includes(p))
    const maxChosen = Math.max(-1, ...chosen.map(p => load.get(p) ?? 0))
    return left.every(p => (load.get(p) ?? 0) >= maxChosen)
  }))
  t.pass()
})
