import test from 'ava'
import { cidOfDigest, digestOf } from '@shoal/proto'
import type { Digest, ParsedAgentMessage, SchedulerMessage } from '@shoal/proto'
import { SchedulerMetrics } from '../src/metrics.ts'
import { SchedulerService } from '../src/service.ts'
import type { OriginAssignedEvent, PeerKey, SchedulerEvents } from '../src/index.ts'
import { base58btc, bits, fullBits, PIECE, peer, taskDigest } from './helpers.ts'

const PIECES = 8
const SIZE = PIECES * PIECE

/** A service on a fake clock, with agents whose messages are kept. */
function setup (init: { assigneeStallMs?: number, originReaders?: number, childrenPerTick?: number, events?: SchedulerEvents } = {}): { service: SchedulerService, clock: { now: number }, inbox: Map<PeerKey, SchedulerMessage[]>, join: (n: number, site?: string) => PeerKey } {
  const clock = { now: 1_000 }
  const service = new SchedulerService({ now: () => clock.now, ...init })
  const inbox = new Map<PeerKey, SchedulerMessage[]>()
  const join = (n: number, site?: string): PeerKey => {
    const info = peer(n, { site })
    inbox.set(info.id, [])
    service.connect(info.id, { info, peerIdBytes: peerIdBytesOf(info.id), addresses: [], hostName: `host-${n}` }, { send: m => inbox.get(info.id)?.push(m) })
    return info.id
  }
  return { service, clock, inbox, join }
}

function peerIdBytesOf (key: PeerKey): Uint8Array<ArrayBuffer> {
  const ALPHABET = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let value = 0n
  for (const c of key) value = value * 58n + BigInt(ALPHABET.indexOf(c))
  const bytes: number[] = []
  while (value > 0n) { bytes.unshift(Number(value & 0xffn)); value >>= 8n }
  const out = Uint8Array.from([...Array.from(key.match(/^1*/)?.[0] ?? '', () => 0), ...bytes])
  if (base58btc(out) !== key) throw new Error('bad round trip')
  return out
}

const want = (digest: Digest, held: number[] = []): ParsedAgentMessage => ({ kind: 'announceTask', digest, size: SIZE, bitfield: bits(PIECES, held), wantsPieces: true })
/** A cold blob of 64 pieces of 256 KiB: its origin pieces are dealt in runs of 8 (originRunFor), 8 runs to share. */
const COLD_PIECES = 64
const wantCold = (digest: Digest): ParsedAgentMessage => ({ kind: 'announceTask', digest, size: COLD_PIECES * PIECE, bitfield: bits(COLD_PIECES, []), wantsPieces: true })
/** An origin reader's report while bytes of its piece arrive and none is finished. */
const originBytesFlow = (digest: Digest): ParsedAgentMessage => ({ kind: 'piecesFinished', digest, indexes: [], source: 'origin', bytes: 0, originBytes: PIECE / 4 })
const allCold = Array.from({ length: COLD_PIECES }, (_, i) => i)
const last = <K extends keyof SchedulerMessage>(inbox: SchedulerMessage[] | undefined, kind: K): NonNullable<SchedulerMessage[K]> | undefined =>
  inbox?.filter(m => m[kind] != null).at(-1)?.[kind] ?? undefined

test('a cold blob wanted by five agents with three readers at most: only the first three read it from the origin; the others take it from them', t => {
  const { service, clock, inbox, join } = setup({ originReaders: 3 })
  const digest = taskDigest(7)
  const agents = [join(1), join(2), join(3), join(4), join(5)]
  for (const a of agents.slice(0, 2)) service.handle(a, wantCold(digest))
  service.tick()
  for (const a of agents.slice(2)) service.handle(a, wantCold(digest))
  clock.now += 200
  for (const a of agents.slice(0, 2)) service.handle(a, originBytesFlow(digest))
  service.tick()
  const assigned = agents.map(a => last(inbox.get(a), 'origin')?.pieces ?? [])
  t.deepEqual(assigned.flat().sort((x, y) => x - y), allCold, 'every piece once')
  t.true(assigned.slice(0, 3).every(pieces => pieces.length > 0), 'the first three read')
  t.deepEqual(assigned.slice(3), [[], []], 'the rest read nothing from the origin')
})

test('agents register and are told the report interval', t => {
  const { inbox, join } = setup()
  const a = join(1)
  t.deepEqual(inbox.get(a), [{ registered: { reportIntervalMs: 100 } }])
})

test('a cold blob wanted by three agents at once: its pieces are split among them, each read by one', t => {
  const { service, inbox, join } = setup()
  const digest = taskDigest(1)
  const agents = [join(1), join(2), join(3)]
  for (const a of agents) service.handle(a, wantCold(digest))
  t.is(service.tick(), 1)
  const assigned = agents.map(a => last(inbox.get(a), 'origin')?.pieces ?? [])
  t.deepEqual(assigned.flat().sort((x, y) => x - y), allCold, 'every piece once')
  t.deepEqual(assigned[0]?.slice(0, 16), [0, 1, 2, 3, 4, 5, 6, 7, 24, 25, 26, 27, 28, 29, 30, 31], 'runs of 8 consecutive pieces, dealt round-robin')
  for (const pieces of assigned) t.true(pieces.length >= 16 && pieces.length <= 24)
  t.is(service.tick(), 0, 'nothing changed, nothing decided')
})

test('the cold layers of one image start their deals at different readers: no agent reads the first run of two', t => {
  const { service, inbox, join } = setup()
  const agents = [join(1), join(2), join(3)]
  const layers = [taskDigest(11), taskDigest(12), taskDigest(13)]
  for (const a of agents) for (const digest of layers) service.handle(a, wantCold(digest))
  service.tick()
  const headReaders = layers.map(digest => agents.findIndex(a => inbox.get(a)?.some(m => m.origin?.digest === digest && m.origin.pieces.includes(0))))
  t.deepEqual([...headReaders].sort(), [0, 1, 2], `the readers of each layer's first run: ${JSON.stringify(headReaders)}`)
  for (const a of agents) {
    const loads = layers.map(digest => inbox.get(a)?.filter(m => m.origin?.digest === digest).at(-1)?.origin?.pieces.length ?? 0)
    t.true(loads.every(n => n >= 16 && n <= 24), `each reader still reads a third of every layer: ${JSON.stringify(loads)}`)
  }
})

test('agents that ask for a cold blob after its split share the origin reads: the first keeps its next pieces, the rest are dealt again', t => {
  const { service, clock, inbox, join } = setup()
  const digest = taskDigest(9)
  const [a, b, c] = [join(1), join(2), join(3)]
  service.handle(a, wantCold(digest))
  service.tick()
  t.deepEqual(last(inbox.get(a), 'origin')?.pieces, allCold, 'alone, the first reads every piece')
  // Its first piece took 2 s: in the next second it finishes no other.
  clock.now += 2_000
  service.handle(a, { kind: 'piecesFinished', digest, indexes: [0], source: 'origin', bytes: PIECE })
  service.handle(b, wantCold(digest))
  service.handle(c, wantCold(digest))
  service.tick()
  const first = last(inbox.get(a), 'origin')?.pieces ?? []
  const others = [b, c].map(x => last(inbox.get(x), 'origin')?.pieces ?? [])
  t.deepEqual(first.slice(0, 3), [1, 2, 3], 'the first keeps its next two unfinished pieces, and the rest of their run')
  t.deepEqual(others.map(pieces => pieces.slice(0, 8)), [[8, 9, 10, 11, 12, 13, 14, 15], [16, 17, 18, 19, 20, 21, 22, 23]], `the rest is dealt over everyone, newcomers first, in runs: ${JSON.stringify(others)}`)
  t.true(Math.max(first.length, ...others.map(p => p.length)) - Math.min(first.length, ...others.map(p => p.length)) <= 8, 'loads end even, to a run')
  t.deepEqual([...first, ...others.flat()].sort((x, y) => x - y), allCold.slice(1), 'each unfinished piece once; the finished one nobody')
})

test('agents that ask after the split wait until every reader has reported since its deal, 3 s at most', t => {
  const { service, clock, inbox, join } = setup()
  const digest = taskDigest(21)
  const [a, b, c, d] = [join(1), join(2), join(3), join(4)]
  service.handle(a, wantCold(digest))
  service.handle(b, wantCold(digest))
  service.tick()
  service.handle(c, wantCold(digest))
  clock.now += 100
  service.handle(a, originBytesFlow(digest))
  service.tick()
  t.is(last(inbox.get(c), 'origin'), undefined, 'b has not said how its reads go: c waits')
  clock.now += 100
  service.handle(b, originBytesFlow(digest))
  service.tick()
  t.true((last(inbox.get(c), 'origin')?.pieces.length ?? 0) > 0, 'both readers heard from: c reads a share')
  // d comes; c, dealt just now, says nothing: d waits, then after 3 s is dealt a share all the same.
  service.handle(d, wantCold(digest))
  clock.now += 2_900
  service.tick()
  t.is(last(inbox.get(d), 'origin'), undefined)
  clock.now += 200
  service.tick()
  t.true((last(inbox.get(d), 'origin')?.pieces.length ?? 0) > 0)
})

test('a reader that reports only the origin reads of another blob for a second is busy with those: newcomers wait no longer for it', t => {
  const { service, clock, inbox, join } = setup()
  const [x, y] = [taskDigest(23), taskDigest(24)]
  const [a, b, c] = [join(1), join(2), join(3)]
  for (const digest of [y, x]) for (const peer of [a, b]) service.handle(peer, wantCold(digest))
  service.tick()
  service.handle(c, wantCold(x))
  clock.now += 200
  // Both read y's pieces first (one origin read at a time): nothing of x yet.
  for (const peer of [a, b]) service.handle(peer, originBytesFlow(y))
  service.tick()
  t.is(last(inbox.get(c), 'origin'), undefined, 'a read of x may have begun as the one of y ended: c waits')
  clock.now += 800
  for (const peer of [a, b]) service.handle(peer, originBytesFlow(y))
  service.tick()
  t.true((last(inbox.get(c), 'origin')?.pieces.length ?? 0) > 0, 'a second of reports of y alone: c reads a share of x, not waiting the 3 s out')
})

test('a reader busy with another blob has begun no read of this one: it keeps its next run, not a 2 MiB read', t => {
  const { service, clock, inbox, join } = setup()
  const [y, x] = [taskDigest(26), taskDigest(27)]
  const [a, c] = [join(1), join(2)]
  // x: 4 MiB, 16 pieces dealt in runs of 2; one origin read would join 8 of them.
  const small = 16
  service.handle(a, wantCold(y))
  service.handle(a, { kind: 'announceTask', digest: x, size: small * PIECE, bitfield: bits(small, []), wantsPieces: true })
  service.tick()
  service.handle(c, { kind: 'announceTask', digest: x, size: small * PIECE, bitfield: bits(small, []), wantsPieces: true })
  for (let ms = 0; ms < 1_000; ms += 250) {
    clock.now += 250
    service.handle(a, originBytesFlow(y))
    service.tick()
  }
  const taken = last(inbox.get(c), 'origin')?.pieces ?? []
  t.deepEqual(taken.slice(0, 2), [2, 3], `c reads the run after a's first: ${JSON.stringify(taken)}`)
})

test('a reader that said nothing by the end of the wait may have begun its read (an origin slow to answer): it keeps the whole read', t => {
  const { service, clock, inbox, join } = setup()
  const x = taskDigest(28)
  const [a, c] = [join(1), join(2)]
  // x: 4 MiB, 16 pieces dealt in runs of 2; a's first origin read joins 8 of them.
  const small = 16
  service.handle(a, { kind: 'announceTask', digest: x, size: small * PIECE, bitfield: bits(small, []), wantsPieces: true })
  service.tick()
  service.handle(c, { kind: 'announceTask', digest: x, size: small * PIECE, bitfield: bits(small, []), wantsPieces: true })
  clock.now += 3_100
  service.tick()
  const taken = last(inbox.get(c), 'origin')?.pieces ?? []
  t.true(taken.length > 0, 'c is dealt a share once the wait is over')
  t.true(taken.every(i => i >= 8), `c takes nothing of a's first read: ${JSON.stringify(taken)}`)
})

test('a reader keeps the pieces it says it reads, beyond what its rate keeps: its next read, begun before its first piece came', t => {
  const { service, clock, inbox, join } = setup()
  const digest = taskDigest(25)
  const [a, b, c] = [join(1), join(2), join(3)]
  for (const peer of [a, b]) service.handle(peer, wantCold(digest))
  service.tick()
  t.deepEqual(last(inbox.get(a), 'origin')?.pieces.slice(0, 9), [0, 1, 2, 3, 4, 5, 6, 7, 16])
  service.handle(c, wantCold(digest))
  clock.now += 1_000
  // Slow bytes (a quarter piece a second: its rate keeps two pieces), but both of its reads under way.
  service.handle(a, { kind: 'piecesFinished', digest, indexes: [], source: 'origin', bytes: 0, originBytes: PIECE / 4, reading: [...allCold.slice(0, 8), 16] })
  service.handle(b, originBytesFlow(digest))
  service.tick()
  const kept = last(inbox.get(a), 'origin')?.pieces ?? []
  t.deepEqual(kept.slice(0, 16), [...allCold.slice(0, 8), ...allCold.slice(16, 24)], 'its first read and the one it began after it')
  t.false((last(inbox.get(c), 'origin')?.pieces ?? []).some(i => i < 8 || (i >= 16 && i < 24)), 'c is dealt neither')
})

test('a reader whose rate says it reads pieces before the scheduler would hear of them keeps those pieces', t => {
  const { service, clock, inbox, join } = setup()
  const digest = taskDigest(22)
  const [a, b] = [join(1), join(2)]
  service.handle(a, wantCold(digest))
  service.tick()
  // 8 pieces' bytes in 400 ms: 50 ms a piece, so 20 more in the next second (8-27), and the rest
  // of the 2 MiB read the last of them is in (24-31).
  clock.now += 400
  service.handle(a, { kind: 'piecesFinished', digest, indexes: allCold.slice(0, 8), source: 'origin', bytes: 8 * PIECE, originBytes: 8 * PIECE })
  service.handle(b, wantCold(digest))
  service.tick()
  const kept = last(inbox.get(a), 'origin')?.pieces ?? []
  const taken = last(inbox.get(b), 'origin')?.pieces ?? []
  t.deepEqual(kept.slice(0, 24), allCold.slice(8, 32), 'a keeps what it reads in the next second, in whole reads')
  t.true(taken.length > 0 && taken.every(i => i >= 32), `b takes only later pieces: ${JSON.stringify(taken)}`)
})

test('pieces an agent reports become parents for the others; held pieces leave the origin lists', t => {
  const { service, inbox, join } = setup()
  const digest = taskDigest(2)
  const [a, b] = [join(1), join(2)]
  service.handle(a, want(digest))
  service.handle(b, want(digest))
  service.tick()
  const aPieces = last(inbox.get(a), 'origin')?.pieces ?? []
  service.handle(a, { kind: 'piecesFinished', digest, indexes: aPieces, source: 'origin', bytes: aPieces.length * PIECE })
  service.tick()
  const parents = last(inbox.get(b), 'parents')
  t.is(parents?.parents.length, 1)
  t.deepEqual(parents?.parents[0]?.peerId, peerIdBytesOf(a))
  t.deepEqual(last(inbox.get(a), 'origin')?.pieces, [], 'a read all its pieces')
})

test('a holder that disconnects is named to no one after, and comes back with the site it registers with', t => {
  const { service, inbox, join } = setup()
  const digest = taskDigest(12)
  const [a, b] = [join(1, 'rack-1'), join(2, 'rack-2')]
  const child = join(3, 'rack-1')
  for (const p of [a, b]) service.handle(p, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  service.handle(child, want(digest))
  service.tick()
  t.deepEqual(last(inbox.get(child), 'parents')?.parents.map(p => p.peerId), [peerIdBytesOf(a), peerIdBytesOf(b)], 'the one of its site first')
  service.disconnect(a)
  service.tick()
  t.deepEqual(last(inbox.get(child), 'parents')?.parents.map(p => p.peerId), [peerIdBytesOf(b)])
  // The pool takes a parent's info from the task's locality groups, not the registration: they must agree.
  // a registers again, now in b's site: it is a parent again, with the site it registered with last.
  const again = peer(1, { site: 'rack-2' })
  service.connect(again.id, { info: again, peerIdBytes: peerIdBytesOf(again.id), addresses: [], hostName: 'host-1' }, { send: () => {} })
  service.handle(again.id, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  service.tick()
  const [task] = service.tasks()
  t.deepEqual(new Set(task!.parentsOf.get(child)), new Set([a, b]))
  t.is(task!.locality.info(a)?.site, 'rack-2', 'the groups hold the info it registered with last')
})

test('an assignee that leaves or stalls has its unread pieces handed to the others', t => {
  const { service, clock, inbox, join } = setup({ assigneeStallMs: 5_000 })
  const digest = taskDigest(3)
  const [a, b, c] = [join(1), join(2), join(3)]
  for (const p of [a, b, c]) service.handle(p, want(digest))
  service.tick()
  const aPieces = last(inbox.get(a), 'origin')?.pieces ?? []
  service.disconnect(a)
  service.tick()
  const after = [b, c].flatMap(p => last(inbox.get(p), 'origin')?.pieces ?? []).sort((x, y) => x - y)
  t.deepEqual(after, [0, 1, 2, 3, 4, 5, 6, 7], 'a\'s pieces went to b and c')
  t.true(aPieces.length > 0)

  // b reports its pieces; c goes quiet past the stall time: c's pieces go to b.
  const bPieces = last(inbox.get(b), 'origin')?.pieces ?? []
  service.handle(b, { kind: 'piecesFinished', digest, indexes: bPieces, source: 'origin', bytes: 0 })
  clock.now += 5_001
  service.handle(b, { kind: 'piecesFinished', digest, indexes: [], source: 'origin', bytes: 0 })
  service.tick()
  const cLeft = new Set(last(inbox.get(c), 'origin')?.pieces ?? [])
  const bNow = last(inbox.get(b), 'origin')?.pieces ?? []
  t.is(cLeft.size, 0, 'the stalled assignee reads nothing more')
  t.deepEqual([...bNow].sort((x, y) => x - y), [0, 1, 2, 3, 4, 5, 6, 7].filter(i => !bPieces.includes(i)))
})

/** Two readers, slow and quick, of a cold 64-piece blob, after its split; deals are kept (10 s stall floor). */
function slowAndQuick (n: number): ReturnType<typeof setup> & { dealt: OriginAssignedEvent[], digest: Digest, slow: PeerKey, quick: PeerKey, slowPieces: number[], quickPieces: number[] } {
  const dealt: OriginAssignedEvent[] = []
  const world = setup({ assigneeStallMs: 10_000, events: { onOriginAssigned: e => { dealt.push(e) } } })
  const digest = taskDigest(n)
  const [slow, quick] = [world.join(1), world.join(2)]
  for (const p of [slow, quick]) world.service.handle(p, wantCold(digest))
  world.service.tick()
  const slowPieces = last(world.inbox.get(slow), 'origin')?.pieces ?? []
  const quickPieces = last(world.inbox.get(quick), 'origin')?.pieces ?? []
  return { ...world, dealt, digest, slow, quick, slowPieces, quickPieces }
}

test('an assignee is judged by its own pace: one that takes 8 s a piece keeps its pieces for 3 pieces\' time', t => {
  const { service, clock, inbox, dealt, digest, slow, quick, slowPieces, quickPieces } = slowAndQuick(5)
  // slow finishes a piece every 8 s, quick one every second.
  let q = 0
  const second = (): void => {
    clock.now += 1_000
    service.handle(quick, { kind: 'piecesFinished', digest, indexes: q < quickPieces.length ? [quickPieces[q++]!] : [], source: 'origin', bytes: PIECE })
    service.tick()
  }
  for (let i = 0; i < 3; i++) {
    for (let s = 0; s < 8; s++) second()
    service.handle(slow, { kind: 'piecesFinished', digest, indexes: [slowPieces[i]!], source: 'origin', bytes: PIECE })
  }
  const slowLeft = slowPieces.slice(3)
  // slow goes quiet; quick goes on. Past the 10 s floor, slow still has its pieces.
  for (let s = 0; s < 20; s++) second()
  t.deepEqual(last(inbox.get(slow), 'origin')?.pieces, slowLeft, 'silent for 20 s, under three of its 8 s pieces, slow keeps its pieces')
  for (let s = 0; s < 5; s++) second()
  t.deepEqual(last(inbox.get(slow), 'origin')?.pieces, [], 'silent for 25 s, slow is stalled')
  t.like(dealt.at(-1), { digest, reassigned: true, from: slow, why: 'stalled' }, 'the deal says whose pieces went, and why')
  t.true(slowLeft.every(i => last(inbox.get(quick), 'origin')?.pieces.includes(i)), 'its pieces went to quick')
})

test('readers slow alike keep their pieces as each crosses its stall time: with nobody further along, a deal moved on would only start over', t => {
  const dealt: OriginAssignedEvent[] = []
  const { service, clock, inbox, join } = setup({ assigneeStallMs: 10_000, events: { onOriginAssigned: e => { dealt.push(e) } } })
  const digest = taskDigest(9)
  const [a, b, c] = [join(1), join(2), join(3)]
  for (const p of [a, b, c]) service.handle(p, wantCold(digest))
  service.tick()
  const pieces = [a, b, c].map(p => last(inbox.get(p), 'origin')?.pieces ?? [])
  t.true(pieces.every(list => list.length > 1), 'each of the three reads a share')
  // Each finishes its first piece a second after the one before, then all go quiet.
  const finish = (reader: PeerKey, index: number): void => { service.handle(reader, { kind: 'piecesFinished', digest, indexes: [index], source: 'origin', bytes: PIECE }) }
  ;[a, b, c].forEach((reader, i) => {
    clock.now += 1_000
    finish(reader, pieces[i]![0]!)
    service.tick()
  })
  const unread = pieces.map(list => list.slice(1))
  for (let s = 0; s < 30; s++) {
    clock.now += 100
    service.tick()
  }
  for (let s = 0; s < 27; s++) {
    clock.now += 1_000
    service.tick()
  }
  t.deepEqual([a, b, c].map(p => last(inbox.get(p), 'origin')?.pieces), unread, 'silent alike for 30 s, each crossing its stall time in turn, each keeps its pieces')
  t.false(dealt.some(e => e.why === 'stalled'), 'and nobody is called stalled')

  // c finishes another piece: it is further along now, and the pieces of a and b go to it.
  finish(c, unread[2]![0]!)
  service.tick()
  t.deepEqual([a, b].map(p => last(inbox.get(p), 'origin')?.pieces), [[], []])
  t.true([...unread[0]!, ...unread[1]!].every(i => last(inbox.get(c), 'origin')?.pieces.includes(i)), 'c reads them')
  t.deepEqual(dealt.filter(e => e.why === 'stalled').map(e => e.from).sort(), [a, b].sort(), 'one deal event for each')
})

test('a reader whose origin bytes still arrive is not stalled, however long its pieces take; its pace comes from its pieces', t => {
  const { service, clock, inbox, dealt, digest, slow, quick, slowPieces, quickPieces } = slowAndQuick(11)
  // For 64 s slow reports bytes under way every second and finishes a piece every 8 s; quick one a second.
  let finished = 0
  for (let s = 0; s < 64; s++) {
    clock.now += 1_000
    const piece = s % 8 === 7 ? [slowPieces[finished++]!] : []
    service.handle(slow, { kind: 'piecesFinished', digest, indexes: piece, source: 'origin', bytes: piece.length * PIECE })
    service.handle(quick, { kind: 'piecesFinished', digest, indexes: s < quickPieces.length ? [quickPieces[s]!] : [], source: 'origin', bytes: PIECE })
    service.tick()
  }
  const left = slowPieces.slice(finished)
  t.deepEqual(last(inbox.get(slow), 'origin')?.pieces, left, 'slow keeps its pieces')
  t.false(dealt.some(e => e.why === 'stalled'))
  // Its bytes stop. Its pace is 8 s a piece (not the second between its reports): under three
  // pieces' time of silence it keeps its pieces, second by second; past it, quick (nothing left to
  // read) takes them.
  for (let s = 1; s <= 25; s++) {
    clock.now += 1_000
    service.tick()
    if (s <= 20) t.deepEqual(last(inbox.get(slow), 'origin')?.pieces, left, `silent for ${s} s, slow keeps its pieces`)
  }
  t.deepEqual(last(inbox.get(slow), 'origin')?.pieces, [])
  t.is(dealt.filter(e => e.why === 'stalled').length, 1, 'one deal: slow\'s pieces went once')
  t.like(dealt.at(-1), { from: slow, why: 'stalled' })
})

test('a parent reported for a bad piece is ejected: no child gets it any more', t => {
  const { service, inbox, join } = setup()
  const digest = taskDigest(4)
  const [seed, other, child] = [join(1), join(2), join(3)]
  service.handle(seed, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  service.handle(other, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  service.handle(child, want(digest))
  service.tick()
  t.is(last(inbox.get(child), 'parents')?.parents.length, 2)
  t.is(last(inbox.get(child), 'origin'), undefined, 'held everywhere: nobody goes to the origin')
  service.handle(child, { kind: 'pieceFailed', digest, index: 3, parent: peerIdBytesOf(seed), reason: 'bad-piece' })
  service.tick()
  const parents = last(inbox.get(child), 'parents')?.parents ?? []
  t.deepEqual(parents.map(p => p.peerId), [peerIdBytesOf(other)])
})

test('the first piece table an agent publishes goes to the downloaders; a bad-table report drops it and ejects its publisher', t => {
  const { service, inbox, join } = setup()
  const digest = taskDigest(5)
  const [a, b] = [join(1), join(2)]
  service.handle(a, want(digest))
  service.handle(b, want(digest))
  service.tick()
  const table = { digest, size: SIZE, pieceSize: PIECE, pieces: new Array(PIECES).fill(undefined) }
  service.handle(a, { kind: 'pieceTable', table })
  service.tick()
  t.is(last(inbox.get(b), 'pieceTable'), undefined, 'a table that names no piece is not worth sending')
  const piece0 = cidOfDigest(digestOf(new TextEncoder().encode('piece 0')))
  service.handle(a, { kind: 'pieceTable', table: { ...table, pieces: [piece0, ...table.pieces.slice(1)] } })
  service.tick()
  t.deepEqual(last(inbox.get(b), 'pieceTable')?.pieces[0], piece0.bytes)
  t.true(service.tasks().next().value?.tableFrom === a)
  service.handle(b, { kind: 'pieceFailed', digest, index: 0, reason: 'bad-table' })
  t.true(service.health.isEjected(a, 1_000))
})

test('parents are sent again only when the list changes, or what a parent holds after the refresh interval', t => {
  const { service, clock, inbox, join } = setup()
  const digest = taskDigest(6)
  const [seed, partial, child] = [join(1), join(2), join(3)]
  service.handle(seed, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  service.handle(partial, want(digest, [0]))
  service.handle(child, want(digest))
  service.tick()
  const sent = (): number => inbox.get(child)?.filter(m => m.parents != null).length ?? 0
  t.is(sent(), 1)
  t.deepEqual(last(inbox.get(child), 'parents')?.parents.map(p => p.peerId), [peerIdBytesOf(seed), peerIdBytesOf(partial)])
  service.handle(child, { kind: 'pieceFailed', digest, index: 5, parent: peerIdBytesOf(seed), reason: 'timeout' })
  service.tick()
  t.is(sent(), 1, 'the task was decided again, but the same parents holding the same pieces are not sent twice')
  service.handle(partial, { kind: 'piecesFinished', digest, indexes: [1], source: 'peer', parent: peerIdBytesOf(seed), bytes: PIECE })
  service.tick()
  t.is(sent(), 1, 'within the refresh interval the child asks its parents itself')
  clock.now += 1_001
  service.handle(partial, { kind: 'piecesFinished', digest, indexes: [], source: 'peer', parent: peerIdBytesOf(seed), bytes: 0 })
  service.tick()
  t.is(sent(), 2, 'a parent that holds more is described again after the refresh interval')
  t.deepEqual(last(inbox.get(child), 'parents')?.parents[1]?.bitfield, bits(PIECES, [0, 1]).toBytes())
})

test('once the piece table is complete, later tables change nothing, contradicting ones included', t => {
  const { service, inbox, join } = setup()
  const digest = taskDigest(7)
  const [a, b, c] = [join(1), join(2), join(3)]
  for (const p of [a, b]) service.handle(p, want(digest))
  const cid = (n: number, tag = 'piece'): ReturnType<typeof cidOfDigest> => cidOfDigest(digestOf(new TextEncoder().encode(`${tag} ${n}`)))
  const complete = { digest, size: SIZE, pieceSize: PIECE, pieces: Array.from({ length: PIECES }, (_, i) => cid(i)) }
  service.handle(a, { kind: 'pieceTable', table: complete })
  service.tick()
  t.deepEqual(last(inbox.get(b), 'pieceTable')?.pieces, complete.pieces.map(p => p.bytes))
  service.handle(c, want(digest))
  service.handle(b, { kind: 'pieceTable', table: { ...complete, pieces: complete.pieces.map((p, i) => i === 3 ? cid(3, 'other') : p) } })
  service.tick()
  t.deepEqual(last(inbox.get(c), 'pieceTable')?.pieces, complete.pieces.map(p => p.bytes), 'the newcomer gets the first table')
  t.is(service.tasks().next().value?.tableFrom, a)
  t.is(inbox.get(b)?.filter(m => m.pieceTable != null).length, 1, 'nothing new for those that have it')
})

test('a task with more downloaders than one round decides: the ones never told first, the rest in turn', t => {
  const clock = { now: 1_000 }
  const service = new SchedulerService({ now: () => clock.now, childrenPerRound: 2 })
  const told = new Map<PeerKey, number>()
  const join = (n: number): PeerKey => {
    const info = peer(n)
    service.connect(info.id, { info, peerIdBytes: peerIdBytesOf(info.id), addresses: [], hostName: `host-${n}` }, { send: m => { if (m.parents != null) told.set(info.id, (told.get(info.id) ?? 0) + 1) } })
    return info.id
  }
  const digest = taskDigest(8)
  const seed = join(0)
  service.handle(seed, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  const children = [1, 2, 3, 4, 5].map(join)
  for (const c of children) service.handle(c, want(digest))
  service.tick()
  t.is(told.size, 2, 'two decided in the first round')
  service.tick()
  service.tick()
  t.is(told.size, 5, 'every downloader had its turn within three rounds')
})

test('a round decides again at most childrenPerTick downloaders told before, dealt over the tasks by size; new ones are never held back', t => {
  const { service, join } = setup({ childrenPerTick: 2 })
  const [big, small] = [taskDigest(9), taskDigest(10)]
  const seed = join(0)
  for (const digest of [big, small]) service.handle(seed, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  const children = new Map([[big, [1, 2, 3, 4].map(n => join(n))], [small, [5, 6].map(n => join(n))]])
  for (const [digest, peers] of children) for (const c of peers) service.handle(c, want(digest))
  const lists = (): Map<PeerKey, readonly PeerKey[]> => new Map([...service.tasks()].flatMap(task => [...task.parentsOf]))
  service.tick()
  t.is(lists().size, 6, 'all six were new: all decided in the first round, over the budget of two')
  const decidedAgain = new Map<PeerKey, number>()
  for (let round = 0; round < 4; round++) {
    const before = lists()
    for (const [digest, peers] of children) service.handle(peers[0]!, { kind: 'piecesFinished', digest, indexes: [], source: 'peer', parent: peerIdBytesOf(seed), bytes: 0 })
    service.tick()
    const again = [...lists()].filter(([child, parents]) => before.get(child) !== parents).map(([child]) => child)
    t.is(again.length, 2, `round ${round + 2}: two decided again`)
    t.is(again.filter(c => children.get(big)!.includes(c)).length, 1, 'one of the four downloaders of the big task, one of the two of the small one')
    for (const child of again) decidedAgain.set(child, (decidedAgain.get(child) ?? 0) + 1)
  }
  t.deepEqual([...children.get(big)!].map(c => decidedAgain.get(c)), [1, 1, 1, 1], 'each downloader of the big task had its turn')
  t.deepEqual([...children.get(small)!].map(c => decidedAgain.get(c)), [2, 2])
})

test('new downloaders come out of the round\'s budget: the told ones share what is left of it', t => {
  const { service, join } = setup({ childrenPerTick: 3 })
  const digest = taskDigest(11)
  const seed = join(0)
  service.handle(seed, { kind: 'announceTask', digest, size: SIZE, bitfield: fullBits(PIECES), wantsPieces: false })
  const told = [1, 2, 3, 4].map(n => join(n))
  for (const c of told) service.handle(c, want(digest))
  service.tick()
  const task = [...service.tasks()][0]!
  const decidedIn = (round: () => void): PeerKey[] => {
    const before = new Map(task.parentsOf)
    round()
    return [...task.parentsOf].filter(([child, parents]) => before.get(child) !== parents).map(([child]) => child)
  }
  const newcomers = [5, 6].map(n => join(n))
  const round = decidedIn(() => {
    for (const c of newcomers) service.handle(c, want(digest))
    service.tick()
  })
  t.deepEqual(round.filter(c => newcomers.includes(c)).sort(), [...newcomers].sort(), 'both new ones decided')
  t.is(round.filter(c => told.includes(c)).length, 1, 'one of the four told before: three in all')
  const crowd = [7, 8, 9, 10].map(n => join(n))
  const surge = decidedIn(() => {
    for (const c of crowd) service.handle(c, want(digest))
    service.tick()
  })
  t.deepEqual(surge.sort(), [...crowd].sort(), 'four new ones, past the budget; none told before')
  const quiet = decidedIn(() => {
    service.handle(told[0]!, { kind: 'piecesFinished', digest, indexes: [], source: 'peer', parent: peerIdBytesOf(seed), bytes: 0 })
    service.tick()
  })
  t.is(quiet.length, 3, 'no new ones: the whole budget for those told before')
})

test('every tick is one round event, with the tasks it decided; the metrics time it and carry the period; ejections start at 0', async t => {
  const rounds: Array<{ tasks: number, seconds: number }> = []
  const service = new SchedulerService({ events: { onRound: e => { rounds.push(e) } } })
  const info = peer(1)
  service.connect(info.id, { info, peerIdBytes: peerIdBytesOf(info.id), addresses: [], hostName: 'host-1' }, { send: () => {} })
  service.tick()
  service.handle(info.id, want(taskDigest(3)))
  service.tick()
  t.deepEqual(rounds.map(r => r.tasks), [0, 1])
  t.true(rounds.every(r => r.seconds >= 0 && r.seconds < 1))

  const metrics = new SchedulerMetrics(() => service, () => [], 250)
  metrics.events.onRound?.({ tasks: 1, seconds: 0.3 })
  const text = await metrics.registry.metrics()
  t.regex(text, /^shoal_scheduler_round_period_seconds 0\.25$/m)
  t.regex(text, /^shoal_scheduler_round_seconds_count 1$/m)
  t.regex(text, /^shoal_scheduler_round_seconds_bucket\{le="0\.25"\} 0$/m, 'a 0.3 s round is past a 0.25 s period')
  t.regex(text, /^shoal_scheduler_ejected_parents_total\{reason="failures"\} 0$/m, 'a first ejection is visible to rate()')
})
