import test from 'ava'
import fc from 'fast-check'
import { decodeSchedulerMessage, SchedulerMessage } from '@shoal/proto'
import type { Parent } from '@shoal/proto'
import { encodeSchedulerMessage, parentEntry, parentIdentityFields, parentsMessage } from '../src/frames.ts'

const bytesArb = (maxLength: number): fc.Arbitrary<Uint8Array<ArrayBuffer>> => fc.uint8Array({ maxLength }).map(b => new Uint8Array(b))
const parentArb: fc.Arbitrary<Parent> = fc.record({
  peerId: bytesArb(40),
  addresses: fc.array(bytesArb(20), { maxLength: 3 }),
  // Up to 200 bytes: lengths past 127 take two varint bytes.
  bitfield: bytesArb(200)
})

test('parentsMessage makes the frame SchedulerMessage.encode makes, entries shared between messages or not', t => {
  fc.assert(fc.property(fc.string({ maxLength: 80 }), fc.array(parentArb, { maxLength: 8 }), fc.array(fc.array(fc.nat({ max: 7 }), { maxLength: 6 }), { maxLength: 4 }), (digest, pool, picks) => {
    // Several messages naming entries of one pool, as a round does; some name the same entry twice.
    // Half the entries from identity fields made beforehand, as the service makes them at registration.
    const entries = pool.map((p, i) => i % 2 === 0 ? parentEntry(p) : parentEntry(p, parentIdentityFields({ peerId: p.peerId, addresses: p.addresses })))
    for (const pick of [pool.map((_, i) => i), ...picks]) {
      const parents = pick.filter(i => i < pool.length).map(i => pool[i]!)
      const message = parentsMessage(digest, pick.filter(i => i < pool.length).map(i => entries[i]!))
      const plain = SchedulerMessage.encode({ parents: { digest, parents } } as unknown as SchedulerMessage)
      t.deepEqual(encodeSchedulerMessage(message), plain)
      t.deepEqual(message.parents, { digest, parents })
    }
  }), { numRuns: 300 })
})

test('a Parents frame of many parents decodes to them (a body longer than one varint byte)', t => {
  const parents = Array.from({ length: 20 }, (_, n) => ({ peerId: Uint8Array.of(0, 36, n), addresses: [Uint8Array.of(4, 10, 0, 0, n)], bitfield: new Uint8Array(8).fill(n) }))
  const decoded = decodeSchedulerMessage(encodeSchedulerMessage(parentsMessage('sha256:' + 'ab'.repeat(32), parents.map(p => parentEntry(p)))))
  t.is(decoded.kind, 'parents')
})
