import test from 'ava'
import { Slots } from '../../src/layer-fetcher/slots.ts'

test('slots run at most `count` at once, in the order asked', async t => {
  const slots = new Slots(2)
  let running = 0
  let most = 0
  const started: number[] = []
  const gates = Array.from({ length: 5 }, () => Promise.withResolvers<void>())
  const all = gates.map(async (gate, i) => slots.run(async () => {
    started.push(i)
    running++
    most = Math.max(most, running)
    await gate.promise
    running--
    return i
  }, new AbortController().signal))
  await new Promise(resolve => setImmediate(resolve))
  t.deepEqual(started, [0, 1])
  for (const gate of gates) gate.resolve()
  t.deepEqual(await Promise.all(all), [0, 1, 2, 3, 4])
  t.is(most, 2)
  t.deepEqual(started, [0, 1, 2, 3, 4])
})

test('a waiter whose signal aborts leaves the queue with its reason; the others still run', async t => {
  const slots = new Slots(1)
  const gate = Promise.withResolvers<void>()
  const first = slots.run(async () => { await gate.promise }, new AbortController().signal)
  const controller = new AbortController()
  const waiting = slots.run(async () => 'never', controller.signal)
  const third = slots.run(async () => 'third', new AbortController().signal)
  controller.abort(new Error('gone'))
  await t.throwsAsync(waiting, { message: 'gone' })
  gate.resolve()
  await first
  t.is(await third, 'third')
})

test('a slot handed off early goes to the next waiter at once, and only once', async t => {
  const slots = new Slots(1)
  const started: string[] = []
  const firstGate = Promise.withResolvers<void>()
  const secondGate = Promise.withResolvers<void>()
  const signal = new AbortController().signal
  const first = slots.run(async handOff => {
    started.push('first')
    handOff()
    handOff()
    await firstGate.promise
  }, signal)
  const second = slots.run(async () => {
    started.push('second')
    await secondGate.promise
  }, signal)
  const third = slots.run(async () => { started.push('third') }, signal)
  const settle = async (): Promise<void> => { await new Promise(resolve => setImmediate(resolve)) }
  await settle()
  // The second runs beside the first, which handed its slot on; the hand-off freed one slot, not two.
  t.deepEqual(started, ['first', 'second'])
  firstGate.resolve()
  await first
  await settle()
  t.deepEqual(started, ['first', 'second'], 'the first ending after its hand-off frees nothing more')
  secondGate.resolve()
  await Promise.all([second, third])
  t.deepEqual(started, ['first', 'second', 'third'])
})
