import test from 'ava'
import { READ_BUFFERS_PER_CLIENT, READ_CHUNK_BYTES, SMALL_READ_CHUNK_BYTES } from '../../src/constants.ts'
import { ReadBufferBudget } from '../../src/layer-fetcher/read-buffers.ts'

test('big read buffers come out of the budget; past it clients get small ones; a release gives the bytes back once', t => {
  const perClient = READ_BUFFERS_PER_CLIENT * READ_CHUNK_BYTES
  const budget = new ReadBufferBudget(2 * perClient)
  const a = budget.lease(64 * 1024 * 1024)
  const b = budget.lease(64 * 1024 * 1024)
  t.true(a.buffers.every(buf => buf.byteLength === READ_CHUNK_BYTES))
  t.is(budget.freeBytes, 0)
  const c = budget.lease(64 * 1024 * 1024)
  t.is(c.buffers.length, READ_BUFFERS_PER_CLIENT)
  t.true(c.buffers.every(buf => buf.byteLength === SMALL_READ_CHUNK_BYTES), 'the third client reads with small buffers')
  a.release()
  a.release()
  t.is(budget.freeBytes, perClient, 'released once, whatever the calls')
  c.release()
  t.is(budget.freeBytes, perClient, 'small buffers cost the budget nothing')
  t.true(budget.lease(64 * 1024 * 1024).buffers.every(buf => buf.byteLength === READ_CHUNK_BYTES))
  b.release()
})

test('a small read takes buffers of its own size and nothing of the budget', t => {
  const budget = new ReadBufferBudget(READ_BUFFERS_PER_CLIENT * READ_CHUNK_BYTES)
  const lease = budget.lease(1000)
  t.true(lease.buffers.every(buf => buf.byteLength === 1000))
  t.is(budget.freeBytes, budget.budgetBytes)
})

test('released buffers are handed out again, but only once the writes that may hold them have settled', async t => {
  const budget = new ReadBufferBudget(0)
  const first = budget.lease(10 * 1024 * 1024)
  let finish: () => void = () => {}
  const write = new Promise<void>(resolve => { finish = resolve })
  first.release([write])
  await new Promise(resolve => setImmediate(resolve))
  const during = budget.lease(10 * 1024 * 1024)
  t.false(during.buffers.some(b => first.buffers.includes(b)), 'not while a write may still read them')
  finish()
  await new Promise(resolve => setImmediate(resolve))
  const after = budget.lease(10 * 1024 * 1024)
  t.true(after.buffers.every(b => first.buffers.includes(b)), 'the same buffers once it has settled')
})
