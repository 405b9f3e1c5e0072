import test from 'ava'
import type { ExecutionContext } from 'ava'
import { ORIGIN_RUN_BYTES } from '@shoal/proto'
import { layerFixture } from '../../../../test/fixtures/index.ts'
import { ORIGIN_HAND_OFF_MIN_SHARE } from '../../src/constants.ts'
import { handOffDue, OriginReads } from '../../src/layer-fetcher/origin-reads.ts'
import type { OriginPieceRead, OriginPieceReader } from '../../src/layer-fetcher/sources/origin-range.ts'
import { registryOrigin } from '../helpers/origin.ts'

const MiB = 1024 * 1024
const KiB = 1024

/** The Range reads the origin answered, in the order they arrived. */
function rangeReads (origin: { proxy?: { counts: { requests: Array<{ range?: string, arrivedAt: number, closedAt?: number }> } } }): Array<{ range?: string, arrivedAt: number, closedAt?: number }> {
  return origin.proxy!.counts.requests.filter(r => r.range != null).sort((x, y) => x.arrivedAt - y.arrivedAt)
}

/** A real registry holding `layer` behind a counting proxy (`proxy`), origin reads one at a time, and one download's reader. */
async function oneReader (t: ExecutionContext, layer: Buffer, proxy: Parameters<typeof registryOrigin>[2]): Promise<{ origin: Awaited<ReturnType<typeof registryOrigin>>, reads: OriginReads, read: OriginPieceReader, signal: AbortSignal }> {
  const origin = await registryOrigin(t, layer, proxy)
  const reads = new OriginReads({ upstream: origin.upstream }, { inFlight: 1 })
  return { origin, reads, read: reads.readerFor(origin.req), signal: AbortSignal.timeout(30_000) }
}

function bytesOf (read: OriginPieceRead | undefined): Buffer {
  return Buffer.concat(read!.chunks)
}

test('a read hands its slot on once its remaining bytes take no longer than its first byte took', t => {
  const read = { length: 1000, firstByteMs: 100, since: { at: 0, filled: 100 } }
  // 10 bytes/ms since the first chunk: 400 left take 40 ms, 700 left take 70 ms, 950 left 95 ms.
  t.true(handOffDue({ ...read, filled: 600, now: 50 }))
  t.true(handOffDue({ ...read, filled: 300, now: 20 }), '700 bytes left, 70 ms, under the 100 ms first byte')
  t.false(handOffDue({ ...read, firstByteMs: 30, filled: 600, now: 50 }), '40 ms left against a 30 ms first byte')
  t.false(handOffDue({ ...read, filled: 1000 * ORIGIN_HAND_OFF_MIN_SHARE - 1, now: 50 }), 'too little has arrived to tell the rate')
  t.false(handOffDue({ ...read, filled: 100, now: 50 }), 'nothing since the first chunk')
  t.false(handOffDue({ ...read, filled: 600, now: 0 }), 'no time since the first chunk')
})

test('with the origin far away, the next read is asked for while the one before it still arrives', async t => {
  const layer = layerFixture({ size: 3 * MiB, seed: 31 })
  // A round trip of 300 ms and 2 MiB/s: a 1 MiB read hands off ~300 ms before its end.
  const { origin, reads, read, signal } = await oneReader(t, layer, { delayMs: 300, bytesPerSecond: 2 * MiB })
  // Two downloads, so that the reads do not join.
  const [a, b] = await Promise.all([read(0, MiB, signal), reads.readerFor(origin.req)(MiB, MiB, signal)])
  t.deepEqual(Buffer.concat(a!.chunks), layer.subarray(0, MiB))
  t.deepEqual(Buffer.concat(b!.chunks), layer.subarray(MiB, 2 * MiB))
  const [first, second] = origin.proxy!.counts.requests.filter(r => r.range != null).sort((x, y) => x.arrivedAt - y.arrivedAt)
  t.is(first?.range, 'bytes=0-1048575')
  t.is(second?.range, 'bytes=1048576-2097151')
  t.true(second!.arrivedAt < first!.closedAt!, `the second read was asked ${(second!.arrivedAt - first!.closedAt!).toFixed(0)} ms after the first ended`)
})

test('pieces of one download asked for together are read in one request, each answered when its bytes are in', async t => {
  const layer = layerFixture({ size: 2 * MiB, seed: 32 })
  // 1 MiB/s: the four pieces' bytes take ~1 s, so the first is answered well before the last.
  const { origin, read, signal } = await oneReader(t, layer, { bytesPerSecond: MiB })
  const answeredAt: number[] = []
  const pieces = await Promise.all([0, 1, 2, 3].map(async i => {
    const piece = await read(i * 256 * KiB, 256 * KiB, signal)
    answeredAt[i] = performance.now()
    return piece
  }))
  pieces.forEach((piece, i) => { t.deepEqual(bytesOf(piece), layer.subarray(i * 256 * KiB, (i + 1) * 256 * KiB), `piece ${i}`) })
  const [only, ...more] = rangeReads(origin)
  t.is(only?.range, `bytes=0-${MiB - 1}`)
  t.is(more.length, 0)
  t.true(answeredAt[0]! < answeredAt[3]! - 300, `the first piece was answered ${(answeredAt[3]! - answeredAt[0]!).toFixed(0)} ms before the last`)
  t.true(pieces[3]!.firstByteSeconds > pieces[0]!.firstByteSeconds + 0.3, 'a later piece\'s first byte comes after the pieces before it')
})

test('a piece\'s bytes are told as they arrive, before the piece is whole: a slow origin read shows it goes on', async t => {
  const layer = layerFixture({ size: MiB, seed: 35 })
  // 512 KiB/s: a 256 KiB piece takes ~0.5 s, in many chunks.
  const { read, signal } = await oneReader(t, layer, { bytesPerSecond: 512 * KiB })
  const told: Array<{ at: number, bytes: number }> = []
  const started = performance.now()
  const piece = await read(256 * KiB, 256 * KiB, signal, { onBytes: bytes => { told.push({ at: performance.now(), bytes }) } })
  const done = performance.now()
  t.deepEqual(bytesOf(piece), layer.subarray(256 * KiB, 512 * KiB))
  t.is(told.reduce((sum, e) => sum + e.bytes, 0), 256 * KiB, 'every byte told once')
  t.true(told.length > 2, `in ${told.length} parts`)
  t.true(told[0]!.at < started + (done - started) / 2, 'the first long before the piece is whole')
})

test('each piece of a joined read is told begun when the request goes out and ended when its bytes are in; a piece waiting for a slot is not begun', async t => {
  const layer = layerFixture({ size: MiB, seed: 36 })
  // 1 MiB/s: a 256 KiB piece takes ~0.25 s.
  const { origin, read, signal } = await oneReader(t, layer, { bytesPerSecond: MiB })
  const events: string[] = []
  const reading = (i: number) => (begun: boolean): void => { events.push(`${i}:${begun ? 'begun' : 'ended'}`) }
  // Pieces 0 and 1 join one read; piece 3 (not in line) waits for the slot.
  await Promise.all([0, 1, 3].map(async i => read(i * 256 * KiB, 256 * KiB, signal, { onReading: reading(i) })))
  t.is(rangeReads(origin).length, 2)
  t.deepEqual(events.slice(0, 2), ['0:begun', '1:begun'], 'the joined pieces begin together')
  t.is(events.length, 6, 'each begun and ended once')
  for (const i of [0, 1, 3]) t.true(events.indexOf(`${i}:begun`) < events.indexOf(`${i}:ended`))
  // It may begin before piece 1 ends: the read hands its slot on near its end.
  t.true(events.indexOf('3:begun') > events.indexOf('0:ended'), 'piece 3 waited for the slot')
})

test('a read joins no more than ORIGIN_RUN_BYTES, nor pieces of another download or out of line', async t => {
  const layer = layerFixture({ size: 3 * MiB, seed: 33 })
  const { origin, reads, read: one, signal } = await oneReader(t, layer, 'pass')
  const other = reads.readerFor(origin.req)
  const piece = 256 * KiB
  const most = ORIGIN_RUN_BYTES / piece
  // One more consecutive piece than a read may join, another download's next piece, then a gap.
  const at = [...Array.from({ length: most + 1 }, (_, i) => i), most + 1, most + 3]
  const asked = at.map(index => (index === most + 1 ? other : one)(index * piece, piece, signal))
  const got = await Promise.all(asked)
  got.forEach((read, i) => { t.deepEqual(bytesOf(read), layer.subarray(at[i]! * piece, (at[i]! + 1) * piece)) })
  t.deepEqual(rangeReads(origin).map(r => r.range), [
    `bytes=0-${ORIGIN_RUN_BYTES - 1}`,
    `bytes=${most * piece}-${(most + 1) * piece - 1}`,
    `bytes=${(most + 1) * piece}-${(most + 2) * piece - 1}`,
    `bytes=${(most + 3) * piece}-${(most + 4) * piece - 1}`
  ], 'first come, first served; a run stops at ORIGIN_RUN_BYTES, at another download, and at a gap')
})

test('a free slot takes the waiting piece nearest the start of its blob, whoever asked first', async t => {
  const layer = layerFixture({ size: 3 * MiB, seed: 35 })
  // 1 MiB/s: the first read keeps the slot while the others queue.
  const { origin, reads, read, signal } = await oneReader(t, layer, { bytesPerSecond: MiB })
  const piece = 256 * KiB
  const busy = read(MiB, piece, signal)
  await new Promise(resolve => setImmediate(resolve))
  // A later piece of one download asked first, then the first piece of another.
  const later = read(2 * MiB, piece, signal)
  const head = reads.readerFor(origin.req)(0, piece, signal)
  const got = await Promise.all([busy, later, head])
  t.deepEqual(bytesOf(got[2]), layer.subarray(0, piece))
  t.deepEqual(rangeReads(origin).map(r => r.range), [
    `bytes=${MiB}-${MiB + piece - 1}`,
    `bytes=0-${piece - 1}`,
    `bytes=${2 * MiB}-${2 * MiB + piece - 1}`
  ])
})

test('a piece given up leaves its read: queued, it is not asked for; joined, the others still come', async t => {
  const layer = layerFixture({ size: 2 * MiB, seed: 34 })
  const { origin, reads, read, signal } = await oneReader(t, layer, { bytesPerSecond: MiB })
  const piece = 256 * KiB
  const joined = new AbortController()
  const queued = new AbortController()
  const first = read(0, piece, signal)
  const second = read(piece, piece, AbortSignal.any([signal, joined.signal]))
  const third = read(2 * piece, piece, signal)
  // Another download's piece waits behind the first read.
  const waiting = reads.readerFor(origin.req)(MiB, piece, AbortSignal.any([signal, queued.signal]))
  const notWanted = reads.readerFor(origin.req)(MiB + piece, piece, signal, { stillWanted: () => false })
  await new Promise(resolve => setImmediate(resolve))
  joined.abort(new Error('the download stopped'))
  queued.abort(new Error('gone'))
  await t.throwsAsync(second, { message: 'the download stopped' })
  await t.throwsAsync(waiting, { message: 'gone' })
  t.deepEqual(bytesOf(await first), layer.subarray(0, piece))
  t.deepEqual(bytesOf(await third), layer.subarray(2 * piece, 3 * piece))
  t.is(await notWanted, undefined)
  t.deepEqual(rangeReads(origin).map(r => r.range), [`bytes=0-${3 * piece - 1}`], 'neither the queued piece given up nor the unwanted one was asked for')
})
