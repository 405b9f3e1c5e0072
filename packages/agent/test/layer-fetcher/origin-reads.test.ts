import test from 'ava'
import { layerFixture } from '../../../../test/fixtures/index.ts'
import { ORIGIN_HAND_OFF_MIN_SHARE } from '../../src/constants.ts'
import { handOffDue, OriginReads } from '../../src/layer-fetcher/origin-reads.ts'
import { registryOrigin } from '../helpers/origin.ts'

const MiB = 1024 * 1024

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
  const origin = await registryOrigin(t, layer, { delayMs: 300, bytesPerSecond: 2 * MiB })
  const reads = new OriginReads({ upstream: origin.upstream }, { inFlight: 1 })
  const read = reads.readerFor(origin.req)
  const signal = AbortSignal.timeout(30_000)
  const [a, b] = await Promise.all([read(0, MiB, signal), read(MiB, MiB, signal)])
  t.deepEqual(Buffer.concat(a!.chunks), layer.subarray(0, MiB))
  t.deepEqual(Buffer.concat(b!.chunks), layer.subarray(MiB, 2 * MiB))
  const [first, second] = origin.proxy!.counts.requests.filter(r => r.range != null).sort((x, y) => x.arrivedAt - y.arrivedAt)
  t.is(first?.range, 'bytes=0-1048575')
  t.is(second?.range, 'bytes=1048576-2097151')
  t.true(second!.arrivedAt < first!.closedAt!, `the second read was asked ${(second!.arrivedAt - first!.closedAt!).toFixed(0)} ms after the first ended`)
})
