import test from 'ava'
import { PieceBuffers } from '../../src/piece-exchange/piece-buffers.ts'

test('a buffer given back is taken again for the same capacity; idle memory stays under its bound', t => {
  const buffers = new PieceBuffers(3 * 1024)
  const first = buffers.take(1024)
  t.is(first.byteLength, 1024)
  buffers.give(first)
  t.is(buffers.idleBytes, 1024)
  t.is(buffers.take(2048).byteLength, 2048, 'another capacity: new memory')
  t.is(buffers.take(1024), first, 'the idle one is reused')
  t.is(buffers.idleBytes, 0)
  const taken = [buffers.take(1024), buffers.take(1024), buffers.take(1024), buffers.take(1024)]
  for (const buffer of taken) buffers.give(buffer)
  t.is(buffers.idleBytes, 3 * 1024, 'past the bound, buffers are left to the collector')
})
